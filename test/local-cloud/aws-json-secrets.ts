// Secrets Manager over AWS JSON 1.1: GetSecretValue, with versions and staging labels
// (AWSCURRENT / AWSPREVIOUS) as the Secrets Manager API reference describes them.
import { createHash, randomUUID } from 'crypto';
import { AwsJsonError, JsonObject, optionalString, requireString } from './aws-json-protocol';

interface SecretVersion {
  readonly versionId: string;
  readonly secretString: string;
  readonly created: Date;
  stages: string[];
}

interface Secret {
  readonly name: string;
  readonly arn: string;
  readonly versions: SecretVersion[];
}

/** The secrets of one emulated account and region. */
export class SecretStore {
  private readonly secrets = new Map<string, Secret>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /**
   * Creates a secret, or adds a version that becomes AWSCURRENT (the old one becomes AWSPREVIOUS).
   * Accepts a name or a full ARN (whose last six characters after `-` are the random suffix).
   * Returns the secret's ARN.
   */
  put(nameOrArn: string, secretString: string): string {
    const fromArn = /^arn:aws:secretsmanager:[^:]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/.exec(nameOrArn);
    const name = fromArn ? fromArn[1] : nameOrArn;
    let secret = this.secrets.get(name);
    if (!secret) {
      secret = { name, arn: fromArn ? nameOrArn : this.arnFor(name), versions: [] };
      this.secrets.set(name, secret);
    }
    for (const v of secret.versions) {
      v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
      if (v.stages.includes('AWSCURRENT'))
        v.stages = v.stages.map((s) => (s === 'AWSCURRENT' ? 'AWSPREVIOUS' : s));
    }
    secret.versions.push({
      versionId: randomUUID(),
      secretString,
      created: new Date(),
      stages: ['AWSCURRENT'],
    });
    return secret.arn;
  }

  /** GetSecretValue: by name, full ARN or partial ARN; AWSCURRENT unless a version or stage is named. */
  getSecretValue(input: JsonObject): JsonObject {
    const secret = this.find(requireString(input, 'SecretId'));
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage');
    let version: SecretVersion | undefined;
    if (versionId !== undefined) {
      version = secret.versions.find((v) => v.versionId === versionId);
      if (!version || (stage !== undefined && !version.stages.includes(stage))) {
        throw notFound(`Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
      }
    } else {
      const wanted = stage ?? 'AWSCURRENT';
      version = secret.versions.find((v) => v.stages.includes(wanted));
      if (!version)
        throw notFound(`Secrets Manager can't find the specified secret value for staging label: ${wanted}`);
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.versionId,
      SecretString: version.secretString,
      VersionStages: [...version.stages],
      CreatedDate: version.created.getTime() / 1000,
    };
  }

  /** A deterministic six-character suffix, as Secrets Manager appends to every secret ARN. */
  private arnFor(name: string): string {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    const digest = createHash('sha256').update(name).digest();
    const suffix = [...digest.subarray(0, 6)].map((b) => alphabet[b % alphabet.length]).join('');
    return `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${suffix}`;
  }

  private find(secretId: string): Secret {
    const byName = this.secrets.get(secretId);
    if (byName) return byName;
    for (const secret of this.secrets.values()) {
      // A partial ARN (without the random suffix) is accepted too.
      if (secret.arn === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    throw notFound("Secrets Manager can't find the specified secret.");
  }
}

function notFound(message: string): AwsJsonError {
  return new AwsJsonError('ResourceNotFoundException', message);
}
