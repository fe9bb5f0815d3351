/**
 * How the construct reaches GitHub: the GitHub App's settings, where its secrets are, the allowlist,
 * and the extra CA certificates of a GitHub Enterprise Server behind a private CA.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Aws, CfnCondition, CfnOutput, Duration, Fn, Token, Tokenization } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge';

/** Where the runners are registered: with an organization (org-level runners) or with each repository. */
export type RunnerScope = 'org' | 'repo';

/** A secret's location, as the Lambdas receive it, and how to let them read it. */
export interface BoundGitHubSecret {
  /** `secretsmanager:<arn or name>` or `ssm:<parameter name>` (see `ENV` in lambda/core/settings). */
  readonly ref: string;
  /** Allows a principal to read the secret's value. */
  grantRead(grantee: iam.IGrantable): void;
}

/** Options of {@link GitHubSecret.fromSsmParameter}. */
export interface SsmSecretOptions {
  /**
   * The customer managed key the SecureString parameter is encrypted with.
   * @default - the AWS managed key `aws/ssm`, which needs no grant
   */
  readonly encryptionKey?: kms.IKey;
}

/** Options of {@link GitHubSecret.fromSecretsManager} and {@link GitHubSecret.fromSecretName}. */
export interface SecretsManagerSecretOptions {
  /**
   * The customer-managed key the secret is encrypted with, when the secret does not say (an imported
   * secret): the Lambdas get `kms:Decrypt` on it, through Secrets Manager only.
   * @default - the secret's own key when it has one (a `Secret` of this app, or imported with
   * `Secret.fromSecretAttributes({ encryptionKey })`), else the AWS-managed `aws/secretsmanager`, which needs no grant
   */
  readonly encryptionKey?: kms.IKey;
}

/**
 * A secret of the GitHub App (its private key, its webhook secret) kept in AWS Secrets Manager or in an
 * SSM SecureString parameter. The secret's value is the plain PEM key or webhook secret (not JSON).
 */
export abstract class GitHubSecret {
  /**
   * A Secrets Manager secret of this app (or imported with `Secret.fromSecretNameV2` and the like). A
   * secret that knows its customer-managed key (`secret.encryptionKey`) grants `kms:Decrypt` with it.
   */
  public static fromSecretsManager(
    secret: secretsmanager.ISecret,
    options: SecretsManagerSecretOptions = {},
  ): GitHubSecret {
    return new (class extends GitHubSecret {
      public bind(): BoundGitHubSecret {
        return {
          ref: `secretsmanager:${secret.secretFullArn ?? secret.secretName}`,
          grantRead: (grantee) => {
            secret.grantRead(grantee);
            if (options.encryptionKey !== undefined && options.encryptionKey !== secret.encryptionKey)
              grantDecryptViaSecretsManager(options.encryptionKey, grantee);
          },
        };
      }
    })();
  }

  /** A Secrets Manager secret by name (a CloudFormation parameter is fine). */
  public static fromSecretName(secretName: string, options: SecretsManagerSecretOptions = {}): GitHubSecret {
    return new (class extends GitHubSecret {
      public bind(scope: Construct, id: string): BoundGitHubSecret {
        const secret = secretsmanager.Secret.fromSecretNameV2(scope, id, secretName);
        return {
          ref: `secretsmanager:${secretName}`,
          grantRead: (grantee) => {
            secret.grantRead(grantee);
            if (options.encryptionKey !== undefined)
              grantDecryptViaSecretsManager(options.encryptionKey, grantee);
          },
        };
      }
    })();
  }

  /**
   * An SSM SecureString parameter by name. A name given as a token (a CloudFormation parameter) must be
   * fully qualified, that is begin with `/`.
   */
  public static fromSsmParameter(parameterName: string, options: SsmSecretOptions = {}): GitHubSecret {
    return new (class extends GitHubSecret {
      public bind(scope: Construct, id: string): BoundGitHubSecret {
        const parameter = ssm.StringParameter.fromSecureStringParameterAttributes(scope, id, {
          parameterName,
          simpleName: Token.isUnresolved(parameterName) ? false : !parameterName.startsWith('/'),
          encryptionKey: options.encryptionKey,
        });
        return { ref: `ssm:${parameterName}`, grantRead: (grantee) => void parameter.grantRead(grantee) };
      }
    })();
  }

  /** Resolves the secret in a scope; `id` names any construct this needs to import it. */
  public abstract bind(scope: Construct, id: string): BoundGitHubSecret;
}

/** `kms:Decrypt` on a secret's key, for Secrets Manager's use only (`kms:ViaService`). */
function grantDecryptViaSecretsManager(key: kms.IKey, grantee: iam.IGrantable): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['kms:Decrypt'],
      resources: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
    }),
  );
}

/** The GitHub side of {@link EphemeralRunnersProps}: which GitHub, which App, where runners register. */
export interface GitHubProps {
  /**
   * Base URL of GitHub: `https://github.com` or the base URL of a GitHub Enterprise Server such as
   * `https://ghes.example.com`. May be a token (a CloudFormation parameter).
   * @default 'https://github.com'
   */
  readonly url?: string;
  /** The GitHub App's id (for example `123456`). May be a token (a CloudFormation parameter). */
  readonly appId: string;
  /** The GitHub App's private key (PEM), kept in Secrets Manager or an SSM SecureString parameter. */
  readonly privateKey: GitHubSecret;
  /**
   * The GitHub App's webhook secret, with which GitHub signs every delivery.
   * @default - a secret generated in Secrets Manager; copy its value into the App's webhook settings
   */
  readonly webhookSecret?: GitHubSecret;
  /**
   * Where runners are registered: `org` for organization-level runners (App permission
   * "Self-hosted runners: write"), `repo` for repository-level runners ("Administration: write").
   * @default 'org'
   */
  readonly runnerScope?: RunnerScope;
  /**
   * Runner group of organization-level runners. May be a token (a CloudFormation parameter).
   * @default 1 (the default group)
   */
  readonly runnerGroupId?: number;
  /**
   * Extra CA certificates (PEM strings) of a GitHub Enterprise Server behind a private CA. The Lambdas
   * get them as a layer file and `NODE_EXTRA_CA_CERTS`; the runner image and boot script trust them too.
   * They must be literal strings: they are packaged at synth.
   * @default - none: only the public CAs are trusted
   */
  readonly extraCaCertificates?: string[];
}

/** Whether a GitHub URL (possibly a token) is github.com: `true`, `false`, or `undefined` for a token. */
export function isGitHubCom(url: string): boolean | undefined {
  if (Token.isUnresolved(url)) return undefined;
  try {
    const host = new URL(url).hostname;
    return host === 'github.com' || host === 'www.github.com';
  } catch {
    return false;
  }
}

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const REPOSITORY_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/** Problems of the {@link GitHubProps}; an empty list means they are usable. Tokens are not checked. */
export function gitHubProblems(github: GitHubProps): string[] {
  const problems: string[] = [];
  const literal = (v: unknown): boolean => v !== undefined && !Token.isUnresolved(v);
  if (literal(github.url)) {
    let url: URL | undefined;
    try {
      url = new URL(github.url!);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      problems.push(`github.url "${github.url}" is not a URL: give https://github.com or your GHES base URL`);
  }
  // From JavaScript nothing checks the types: a missing or mistyped value fails here, not at the first job.
  const appId: unknown = github.appId;
  if (appId === undefined || appId === null || appId === '')
    problems.push(
      "github.appId is missing: give the App's numeric id (its settings page shows it), as a string",
    );
  else if (typeof appId === 'number' && !Token.isUnresolved(appId))
    problems.push(`github.appId must be a string: give '${appId}', not the number ${appId}`);
  else if (typeof appId !== 'string' && typeof appId !== 'number')
    problems.push("github.appId must be a string: the App's numeric id, such as '123456'");
  else if (literal(appId) && !/^[1-9][0-9]*$/.test(String(appId)))
    problems.push(`github.appId "${String(appId)}" must be the App's numeric id, shown on its settings page`);
  problems.push(...secretPropProblems('github.privateKey', github.privateKey, true));
  problems.push(...secretPropProblems('github.webhookSecret', github.webhookSecret, false));
  if (literal(github.runnerScope) && github.runnerScope !== 'org' && github.runnerScope !== 'repo')
    problems.push(`github.runnerScope "${github.runnerScope}" must be "org" or "repo"`);
  if (
    literal(github.runnerGroupId) &&
    !(Number.isInteger(github.runnerGroupId) && github.runnerGroupId! >= 1)
  )
    problems.push(
      `github.runnerGroupId ${github.runnerGroupId} must be a positive integer (1 is the default group)`,
    );
  (github.extraCaCertificates ?? []).forEach((pem, i) => {
    if (Token.isUnresolved(pem))
      problems.push(
        `github.extraCaCertificates[${i}] is a token: give the PEM text, it is packaged at synth`,
      );
    else if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem))
      problems.push(
        `github.extraCaCertificates[${i}] is not a PEM certificate (-----BEGIN CERTIFICATE----- ...)`,
      );
  });
  return problems;
}

/** Problems of a secret prop that must be a {@link GitHubSecret} (JavaScript users may pass anything). */
function secretPropProblems(prop: string, value: unknown, required: boolean): string[] {
  const how = `GitHubSecret.fromSecretName('<secret name>'), GitHubSecret.fromSsmParameter('/<parameter>') or GitHubSecret.fromSecretsManager(secret)`;
  if (value === undefined || value === null)
    return required ? [`${prop} is missing: give where the App's private key (PEM) is kept, ${how}`] : [];
  if (typeof value === 'string') {
    const pem = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(value);
    return [
      pem
        ? `${prop} is the key itself: never put it in code; store it in Secrets Manager or SSM and give ${how}`
        : `${prop} is a string ("${value}"): give ${how}`,
    ];
  }
  if (typeof (value as { bind?: unknown }).bind !== 'function') return [`${prop} must be ${how}`];
  return [];
}

/** Problems of the allowlist entries; tokens are not checked. */
export function allowlistProblems(
  owners: string[] | undefined,
  repositories: string[] | undefined,
): string[] {
  const problems: string[] = [];
  if (owners !== undefined && !Token.isUnresolved(owners)) {
    owners.forEach((owner, i) => {
      if (!Token.isUnresolved(owner) && !LOGIN.test(owner))
        problems.push(
          `allowedOwners[${i}] "${owner}" is not a GitHub login: give an organization or user name`,
        );
    });
  }
  if (repositories !== undefined && !Token.isUnresolved(repositories)) {
    repositories.forEach((repository, i) => {
      if (Token.isUnresolved(repository)) return;
      const [owner, name, ...rest] = repository.split('/');
      if (rest.length > 0 || !LOGIN.test(owner) || name === undefined || !REPOSITORY_NAME.test(name))
        problems.push(
          `allowedRepositories[${i}] "${repository}" must be "owner/repo"; put whole owners in allowedOwners`,
        );
    });
  }
  return problems;
}

/** Path of the extra CA bundle in the Lambdas, where the layer puts it. */
export const LAMBDA_CA_BUNDLE_PATH = '/opt/extra-ca-certificates.pem';

/** A Lambda layer holding the extra CA certificates as one bundle at {@link LAMBDA_CA_BUNDLE_PATH}. */
export function caCertificatesLayer(scope: Construct, id: string, pems: string[]): lambda.LayerVersion {
  const bundle = pems.map((pem) => pem.trim()).join('\n') + '\n';
  const digest = crypto.createHash('sha256').update(bundle).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `cdk-ephemeral-runners-ca-${digest}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, path.basename(LAMBDA_CA_BUNDLE_PATH)), bundle);
  return new lambda.LayerVersion(scope, id, {
    code: lambda.Code.fromAsset(dir),
    compatibleArchitectures: [lambda.Architecture.ARM_64],
    compatibleRuntimes: [lambda.Runtime.NODEJS_22_X],
    description: 'Extra CA certificates of the GitHub Enterprise Server',
  });
}

/** The longest delivery budget, in seconds: GitHub waits 10 s (github.com) or 30 s (GHES, and the Lambda timeout). */
function deliveryBudgetLimit(dotCom: boolean | undefined): number {
  return dotCom === true ? 9 : 29;
}

/** Problems of a delivery budget for a GitHub URL; tokens are not checked. */
export function deliveryBudgetProblems(budget: Duration | undefined, url: string): string[] {
  if (budget === undefined || budget.isUnresolved()) return [];
  const dotCom = isGitHubCom(url);
  const limit = deliveryBudgetLimit(dotCom);
  const ms = budget.toMilliseconds();
  return ms > 0 && ms <= limit * 1000
    ? []
    : [
        `deliveryBudget ${budget.toHumanString()} must be more than 0 and at most ${limit} seconds: GitHub waits ${dotCom ? '10 s (github.com)' : '30 s (GHES)'} for an answer`,
      ];
}

/**
 * The delivery budget in milliseconds: the given one, else 8 s for github.com and 25 s for GHES. When the
 * URL is a token (a CloudFormation parameter), a condition picks the default at deploy time.
 */
export function deliveryBudgetMs(scope: Construct, budget: Duration | undefined, url: string): string {
  if (budget !== undefined) return Tokenization.stringifyNumber(budget.toMilliseconds());
  const dotCom = isGitHubCom(url);
  if (dotCom !== undefined) return dotCom ? '8000' : '25000';
  const isDotCom = new CfnCondition(scope, 'IsGitHubCom', {
    expression: Fn.conditionOr(
      ...['https://github.com', 'https://github.com/', 'https://www.github.com'].map((u) =>
        Fn.conditionEquals(url, u),
      ),
    ),
  });
  return Fn.conditionIf(isDotCom.logicalId, '8000', '25000').toString();
}

/** A generated webhook secret in Secrets Manager, and a stack output naming it. */
export function generatedWebhookSecret(
  scope: Construct,
  id: string,
  encryptionKey?: kms.IKey,
): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, id, {
    encryptionKey,
    description: 'Webhook secret of the GitHub App: copy it into the App settings (cdk-ephemeral-runners)',
    generateSecretString: { passwordLength: 40, excludePunctuation: true },
  });
  acknowledge(secret, {
    id: 'AwsSolutions-SMG4',
    reason:
      'The webhook secret is also set in the GitHub App settings, which Secrets Manager rotation cannot update.',
  });
  new CfnOutput(scope, `${id}Arn`, {
    value: secret.secretArn,
    description: 'Secret to copy into the GitHub App webhook settings',
  });
  return secret;
}
