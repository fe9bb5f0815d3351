// The EC2 Query protocol, server side: form-encoded `Action=...&Version=2016-11-15&Name.N.Field=...`
// in, namespaced XML out. Element names follow the EC2 API reference (they are what the SDK's
// deserializer matches, case-sensitively), e.g. `instancesSet`, `tagSet`, `errorSet`.

/** The XML namespace of every EC2 response (API version 2016-11-15). */
export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

/** Flat request parameters as the SDK sends them: `{ 'InstanceId.1': 'i-0abc', ... }`. */
export type QueryParams = Record<string, string>;

/** An API-level error: answered as `<Response><Errors><Error>` with the given HTTP status. */
export class Ec2ApiError extends Error {
  /**
   * @param code the EC2 error code, e.g. `InvalidInstanceID.NotFound`
   * @param message the message EC2 would send
   * @param status the HTTP status; defaults to the status EC2 uses for that code
   */
  constructor(
    readonly code: string,
    message: string,
    readonly status: number = defaultStatusFor(code),
  ) {
    super(message);
  }
}

/**
 * The HTTP status EC2 pairs with an error code: client errors are 400, server errors 500, and
 * throttling (`RequestLimitExceeded`) and unavailability 503, per the EC2 error code reference.
 */
export function defaultStatusFor(code: string): number {
  switch (code) {
    case 'RequestLimitExceeded':
    case 'Unavailable':
    case 'ServiceUnavailable':
      return 503;
    case 'InternalError':
    case 'InternalFailure':
      return 500;
    case 'DryRunOperation':
      return 412;
    default:
      return 400;
  }
}

/** Decodes a form-encoded body and the URL query (EC2 accepts both GET and POST) into one map. */
export function parseQuery(url: string | undefined, body: string): QueryParams {
  const params: QueryParams = {};
  const query = url && url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  for (const source of [query, body]) {
    for (const [key, value] of new URLSearchParams(source)) params[key] = value;
  }
  return params;
}

/** Values of a flattened list `prefix.1`, `prefix.2`, ..., in index order. */
export function listParam(params: QueryParams, prefix: string): string[] {
  const pattern = new RegExp(`^${escapeRegExp(prefix)}\\.(\\d+)$`);
  return Object.keys(params)
    .map((key) => ({ key, match: pattern.exec(key) }))
    .filter((entry): entry is { key: string; match: RegExpExecArray } => entry.match !== null)
    .sort((a, b) => Number(a.match[1]) - Number(b.match[1]))
    .map((entry) => params[entry.key]);
}

/**
 * Members of a flattened list of structures, `prefix.N.Field[...]`, in index order; each member
 * is itself a `QueryParams` keyed by what follows `prefix.N.`, so nesting composes.
 */
export function structListParam(params: QueryParams, prefix: string): QueryParams[] {
  const pattern = new RegExp(`^${escapeRegExp(prefix)}\\.(\\d+)\\.(.+)$`);
  const byIndex = new Map<number, QueryParams>();
  for (const [key, value] of Object.entries(params)) {
    const match = pattern.exec(key);
    if (!match) continue;
    const index = Number(match[1]);
    const member = byIndex.get(index) ?? {};
    member[match[2]] = value;
    byIndex.set(index, member);
  }
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, member]) => member);
}

/** A required parameter, or `MissingParameter` as EC2 answers it. */
export function requireParam(params: QueryParams, name: string, label = name): string {
  const value = params[name];
  if (value === undefined || value === '') {
    throw new Ec2ApiError('MissingParameter', `The request must contain the parameter ${label}`);
  }
  return value;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Escapes text for an XML element body. */
export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** `<name>value</name>`, or nothing when the value is absent (EC2 omits unset members). */
export function leaf(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<name>children</name>` for already-rendered children. */
export function node(name: string, ...children: string[]): string {
  return `<${name}>${children.join('')}</${name}>`;
}

/** An EC2 list: `<name><item>..</item><item>..</item></name>` (an empty list is `<name/>`). */
export function itemList<T>(name: string, items: readonly T[], render: (item: T) => string): string {
  if (items.length === 0) return `<${name}/>`;
  return `<${name}>${items.map((item) => `<item>${render(item)}</item>`).join('')}</${name}>`;
}

/** A `tagSet` as EC2 renders tags on a resource. */
export function tagSet(tags: Record<string, string>): string {
  return itemList('tagSet', Object.entries(tags), ([key, value]) => leaf('key', key) + leaf('value', value));
}

/** The success envelope: `<ActionResponse xmlns=...><requestId>..</requestId>...</ActionResponse>`. */
export function successXml(action: string, requestId: string, body: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<${action}Response xmlns="${EC2_XMLNS}">${leaf('requestId', requestId)}${body}</${action}Response>`
  );
}

/** The error envelope EC2 uses for every action (note `RequestID`, not `requestId`). */
export function errorXml(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<Response><Errors><Error>${leaf('Code', code)}${leaf('Message', message)}</Error></Errors>` +
    `${leaf('RequestID', requestId)}</Response>`
  );
}

/**
 * EC2 filter value matching: `*` matches any run of characters (none included) and `?` exactly one;
 * a backslash makes the next character literal (`\*amazon\?\\` matches the string `*amazon?\`).
 * Everything else is literal and case-sensitive.
 */
export function matchesFilterValue(pattern: string, actual: string): boolean {
  let regex = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) regex += escapeRegExp(pattern[++i]);
    else if (c === '*') regex += '.*';
    else if (c === '?') regex += '.';
    else regex += escapeRegExp(c);
  }
  return new RegExp(`^${regex}$`, 's').test(actual);
}

/**
 * A NextToken carrying a cursor (the position after which the next page starts), opaque to callers
 * as EC2's tokens are.
 */
export function encodeCursorToken(after: number): string {
  return Buffer.from(JSON.stringify({ after })).toString('base64url');
}

/** Reads a token {@link encodeCursorToken} issued; anything else is EC2's `InvalidPaginationToken`. */
export function decodeCursorToken(token: string): number {
  try {
    const after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { after?: unknown }).after;
    if (typeof after === 'number' && Number.isInteger(after) && after >= 0) return after;
  } catch {
    // fall through to the error EC2 gives for a token it did not issue
  }
  throw new Ec2ApiError(
    'InvalidPaginationToken',
    'The specified pagination token is not valid or is expired.',
  );
}

/** Rejects tag keys in the `aws:` namespace, which EC2 reserves for its own tags. */
export function assertUserTagKey(key: string): void {
  if (key.toLowerCase().startsWith('aws:')) {
    throw new Ec2ApiError(
      'InvalidParameterValue',
      `Tag keys starting with 'aws:' are reserved for internal use`,
    );
  }
}
