// SSM Parameter Store over AWS JSON 1.1: GetParameter, GetParameters, GetParametersByPath,
// PutParameter, DeleteParameter, DeleteParameters. Shapes and limits follow the SSM API reference.
import { createHash } from 'crypto';
import {
  AwsJsonError,
  JsonObject,
  optionalBoolean,
  optionalNumber,
  requireString,
  requireStringList,
} from './aws-json-protocol';

/** An SSM parameter type. */
export type ParameterType = 'String' | 'StringList' | 'SecureString';

interface ParameterVersion {
  readonly value: string;
  readonly type: ParameterType;
  readonly version: number;
  readonly lastModified: Date;
  readonly tier: string;
  readonly dataType: string;
}

/** A parameter's current version, as tests inspect it. */
export interface StoredParameter {
  readonly name: string;
  readonly value: string;
  readonly type: ParameterType;
  readonly version: number;
}

/** Value size limits by tier, from the Parameter Store quotas (4 KB standard, 8 KB advanced). */
const TIER_LIMITS: Record<string, number> = { Standard: 4096, Advanced: 8192, 'Intelligent-Tiering': 8192 };
/** GetParametersByPath pages at most 10 parameters, and MaxResults must be 1..10. */
const PATH_PAGE_MAX = 10;
const NAME_PATTERN = /^[a-zA-Z0-9_.\-/]+$/;

/** The parameters of one emulated account and region. */
export class ParameterStore {
  private readonly params = new Map<string, ParameterVersion[]>();

  constructor(
    private readonly region: string,
    private readonly accountId: string,
  ) {}

  /** The ARN SSM gives a parameter: `parameter/a/b` for `/a/b`, `parameter/a` for `a`. */
  arnOf(name: string): string {
    return `arn:aws:ssm:${this.region}:${this.accountId}:parameter/${name.replace(/^\//, '')}`;
  }

  /** Writes a parameter as PutParameter does; `overwrite` is what a test usually wants. */
  put(
    name: string,
    value: string,
    options: { type?: ParameterType; overwrite?: boolean; tier?: string } = {},
  ): { version: number; tier: string } {
    validateName(name);
    const history = this.params.get(name);
    if (history && !options.overwrite) {
      throw new AwsJsonError(
        'ParameterAlreadyExists',
        'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.',
      );
    }
    const previous = history?.[history.length - 1];
    const type = options.type ?? previous?.type;
    if (!type)
      throw new AwsJsonError(
        'ValidationException',
        'A parameter type is required when you create a parameter.',
      );
    if (!['String', 'StringList', 'SecureString'].includes(type)) {
      throw new AwsJsonError(
        'ValidationException',
        `1 validation error detected: Value '${type}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]`,
      );
    }
    const tier = options.tier ?? previous?.tier ?? 'Standard';
    const limit = TIER_LIMITS[tier];
    if (limit === undefined) throw new AwsJsonError('ValidationException', `Invalid tier ${tier}`);
    if (value.length === 0) {
      throw new AwsJsonError(
        'ValidationException',
        "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    if (value.length > limit) {
      throw new AwsJsonError(
        'ValidationException',
        tier === 'Standard'
          ? 'Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.'
          : `Advanced tier parameters support a maximum parameter value of ${limit} characters.`,
      );
    }
    const version = (previous?.version ?? 0) + 1;
    const entry: ParameterVersion = {
      value,
      type,
      version,
      lastModified: new Date(),
      tier,
      dataType: 'text',
    };
    this.params.set(name, [...(history ?? []), entry]);
    return { version, tier };
  }

  /** The current version of a parameter, or `undefined`. */
  current(name: string): StoredParameter | undefined {
    const history = this.params.get(name);
    const last = history?.[history.length - 1];
    return last && { name, value: last.value, type: last.type, version: last.version };
  }

  /** GetParameter. */
  getParameter(input: JsonObject): JsonObject {
    const requested = requireString(input, 'Name');
    const found = this.resolve(requested);
    if (!found) throw new AwsJsonError('ParameterNotFound', '');
    return {
      Parameter: this.render(
        found.name,
        found.entry,
        optionalBoolean(input, 'WithDecryption'),
        found.selector,
      ),
    };
  }

  /** GetParameters: found ones in `Parameters`, the rest (as given) in `InvalidParameters`. */
  getParameters(input: JsonObject): JsonObject {
    const names = requireStringList(input, 'Names');
    if (names.length < 1 || names.length > 10) {
      throw new AwsJsonError(
        'ValidationException',
        `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10`,
      );
    }
    const withDecryption = optionalBoolean(input, 'WithDecryption');
    const Parameters: JsonObject[] = [];
    const InvalidParameters: string[] = [];
    for (const requested of [...new Set(names)]) {
      const found = this.resolve(requested);
      if (found) Parameters.push(this.render(found.name, found.entry, withDecryption, found.selector));
      else InvalidParameters.push(requested);
    }
    return { Parameters, InvalidParameters };
  }

  /** GetParametersByPath: one level below `Path`, or all levels with `Recursive`; pages of <= 10. */
  getParametersByPath(input: JsonObject): JsonObject {
    const path = requireString(input, 'Path');
    if (!path.startsWith('/'))
      throw new AwsJsonError(
        'ValidationException',
        'The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a forward slash "/".',
      );
    if (input.ParameterFilters !== undefined) {
      throw new AwsJsonError('ValidationException', 'The emulator does not support ParameterFilters');
    }
    const maxResults = optionalNumber(input, 'MaxResults') ?? PATH_PAGE_MAX;
    if (!Number.isInteger(maxResults) || maxResults < 1 || maxResults > PATH_PAGE_MAX) {
      throw new AwsJsonError(
        'ValidationException',
        `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${PATH_PAGE_MAX}`,
      );
    }
    const recursive = optionalBoolean(input, 'Recursive');
    const prefix = path.endsWith('/') ? path : `${path}/`;
    const names = [...this.params.keys()]
      .filter((name) => name.startsWith(prefix) && (recursive || !name.slice(prefix.length).includes('/')))
      .sort();
    const token = input.NextToken;
    const offset = token === undefined ? 0 : decodeToken(token, path);
    const page = names.slice(offset, offset + maxResults);
    const withDecryption = optionalBoolean(input, 'WithDecryption');
    const result: JsonObject = {
      Parameters: page.map((name) => {
        const history = this.params.get(name) as ParameterVersion[];
        return this.render(name, history[history.length - 1], withDecryption);
      }),
    };
    if (offset + page.length < names.length) {
      result.NextToken = Buffer.from(JSON.stringify({ o: offset + page.length, p: path })).toString(
        'base64url',
      );
    }
    return result;
  }

  /** PutParameter. */
  putParameter(input: JsonObject): JsonObject {
    const type = input.Type;
    if (type !== undefined && typeof type !== 'string')
      throw new AwsJsonError('SerializationException', 'Type must be a string');
    const tier = typeof input.Tier === 'string' ? input.Tier : undefined;
    const { version, tier: usedTier } = this.put(
      requireString(input, 'Name'),
      requireString(input, 'Value'),
      {
        type: type as ParameterType | undefined,
        overwrite: optionalBoolean(input, 'Overwrite'),
        tier,
      },
    );
    return { Version: version, Tier: usedTier };
  }

  /** DeleteParameter. */
  deleteParameter(input: JsonObject): JsonObject {
    const name = requireString(input, 'Name');
    if (!this.params.delete(name)) throw new AwsJsonError('ParameterNotFound', '');
    return {};
  }

  /** DeleteParameters: deletes what exists, lists the rest as invalid. */
  deleteParameters(input: JsonObject): JsonObject {
    const names = requireStringList(input, 'Names');
    const DeletedParameters = names.filter((name) => this.params.delete(name));
    return {
      DeletedParameters,
      InvalidParameters: names.filter((name) => !DeletedParameters.includes(name)),
    };
  }

  /** Finds `name`, `name:version` or the parameter's ARN. Labels are not emulated (never found). */
  private resolve(
    requested: string,
  ): { name: string; entry: ParameterVersion; selector?: string } | undefined {
    const arnPrefix = `arn:aws:ssm:${this.region}:${this.accountId}:parameter`;
    let name = requested;
    if (requested.startsWith(arnPrefix)) {
      const rest = requested.slice(arnPrefix.length);
      name = this.params.has(rest) ? rest : rest.replace(/^\//, '');
    }
    const colon = name.lastIndexOf(':');
    const selector = colon >= 0 ? name.slice(colon) : undefined;
    if (colon >= 0) name = name.slice(0, colon);
    const history = this.params.get(name);
    if (!history) return undefined;
    if (selector === undefined) return { name, entry: history[history.length - 1] };
    const entry = history.find((v) => `:${v.version}` === selector);
    if (!entry) {
      throw new AwsJsonError(
        'ParameterVersionNotFound',
        `Systems Manager could not find version ${selector.slice(1)} of ${name}. Verify the version and try again.`,
      );
    }
    return { name, entry, selector };
  }

  private render(
    name: string,
    entry: ParameterVersion,
    withDecryption: boolean,
    selector?: string,
  ): JsonObject {
    const rendered: JsonObject = {
      Name: name,
      Type: entry.type,
      // Without WithDecryption, SSM answers a SecureString's KMS ciphertext, never the plaintext.
      Value: entry.type === 'SecureString' && !withDecryption ? fakeCiphertext(entry.value) : entry.value,
      Version: entry.version,
      LastModifiedDate: entry.lastModified.getTime() / 1000,
      ARN: this.arnOf(name),
      DataType: entry.dataType,
    };
    if (selector !== undefined) rendered.Selector = selector;
    return rendered;
  }
}

function validateName(name: string): void {
  const bare = name.replace(/^\//, '');
  if (!NAME_PATTERN.test(name) || /^(aws|ssm)/i.test(bare) || (name.includes('/') && !name.startsWith('/'))) {
    throw new AwsJsonError(
      'ValidationException',
      'Parameter name: can\'t be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_',
    );
  }
}

/** An opaque stand-in for KMS ciphertext: base64, shaped like a KMS blob, not reversible. */
function fakeCiphertext(plaintext: string): string {
  const digest = createHash('sha256').update(plaintext).digest();
  return Buffer.concat([Buffer.from([0x01, 0x02, 0x02, 0x00]), digest, digest]).toString('base64');
}

function decodeToken(token: unknown, path: string): number {
  if (typeof token === 'string') {
    try {
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as {
        o?: unknown;
        p?: unknown;
      };
      if (typeof decoded.o === 'number' && decoded.p === path) return decoded.o;
    } catch {
      // fall through
    }
  }
  throw new AwsJsonError('InvalidNextToken', "The specified token isn't valid.");
}
