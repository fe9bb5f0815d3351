// The AWS JSON 1.1 protocol, server side: POST `/` with `X-Amz-Target: Service.Operation` and a
// JSON body in; JSON out; errors as `{"__type": "...", "message": "..."}` with an HTTP status.

/** A decoded JSON request or response body. */
export type JsonObject = Record<string, unknown>;

/** An API-level error, answered as a JSON error body. */
export class AwsJsonError extends Error {
  /**
   * @param type the error shape name (`__type`), e.g. `ParameterNotFound`
   * @param message the error message
   * @param status the HTTP status; defaults to the service's status for the type
   */
  constructor(
    readonly type: string,
    message: string,
    readonly status: number = defaultJsonErrorStatus(type),
  ) {
    super(message);
  }
}

/** Server faults are 5xx (SSM `InternalServerError`, Secrets Manager `InternalServiceError`); the rest 400. */
export function defaultJsonErrorStatus(type: string): number {
  switch (type) {
    case 'InternalServerError':
    case 'InternalServiceError':
    case 'InternalFailure':
      return 500;
    case 'ServiceUnavailable':
    case 'ServiceUnavailableException':
      return 503;
    default:
      return 400;
  }
}

/** Parses a request body; AWS answers malformed JSON with `SerializationException`. */
export function parseJsonBody(body: string): JsonObject {
  if (body.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new AwsJsonError('SerializationException', 'Malformed JSON request body');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsJsonError('SerializationException', 'Request body must be a JSON object');
  }
  return parsed as JsonObject;
}

/** The validation message AWS services send for a missing required member. */
function missing(member: string): AwsJsonError {
  const field = member.charAt(0).toLowerCase() + member.slice(1);
  return new AwsJsonError(
    'ValidationException',
    `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
  );
}

/** A required string member. */
export function requireString(input: JsonObject, member: string): string {
  const value = input[member];
  if (value === undefined || value === null) throw missing(member);
  if (typeof value !== 'string')
    throw new AwsJsonError('SerializationException', `${member} must be a string`);
  return value;
}

/** A required list-of-strings member. */
export function requireStringList(input: JsonObject, member: string): string[] {
  const value = input[member];
  if (value === undefined || value === null) throw missing(member);
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new AwsJsonError('SerializationException', `${member} must be a list of strings`);
  }
  return value as string[];
}

/** An optional boolean member (absent means false, as the APIs document). */
export function optionalBoolean(input: JsonObject, member: string): boolean {
  const value = input[member];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean')
    throw new AwsJsonError('SerializationException', `${member} must be a boolean`);
  return value;
}

/** An optional number member. */
export function optionalNumber(input: JsonObject, member: string): number | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number')
    throw new AwsJsonError('SerializationException', `${member} must be a number`);
  return value;
}

/** An optional string member. */
export function optionalString(input: JsonObject, member: string): string | undefined {
  const value = input[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new AwsJsonError('SerializationException', `${member} must be a string`);
  return value;
}
