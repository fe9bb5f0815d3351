/**
 * Reading a webhook delivery off an API Gateway HTTP API (payload v2) event, before any I/O: headers
 * case-insensitively, the raw body (base64-decoded when API Gateway encoded it), its size and content
 * type. Everything here is pure; a problem becomes a {@link RequestError} with the 4xx to answer.
 */

/** The fields of an API Gateway HTTP API event that a delivery needs. */
export interface HttpRequest {
  readonly headers?: Record<string, string | undefined>;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  /** Where the request came from: `http.sourceIp` (HTTP API) or `identity.sourceIp` (REST API). */
  readonly requestContext?: {
    readonly http?: { readonly sourceIp?: string };
    readonly identity?: { readonly sourceIp?: string };
  };
}

/** An answer for the caller: a 4xx with a message it can act on. */
export class RequestError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

/** Largest body accepted. `workflow_job` deliveries are a few KiB; GitHub caps any payload at 25 MB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A delivery whose envelope is sound, its signature not yet checked. */
export interface RawDelivery {
  /** `X-GitHub-Event`. */
  readonly event: string;
  /** `X-GitHub-Delivery`: stable across redeliveries. */
  readonly deliveryId: string;
  /** `X-Hub-Signature-256`, or undefined when absent. */
  readonly signature: string | undefined;
  /** The body exactly as GitHub signed it. */
  readonly body: string;
  /** The JSON text of the payload (the body itself, or its `payload` field for form encoding). */
  readonly payloadText: string;
}

/** Header lookup that ignores case, as HTTP does. */
export function header(request: HttpRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(request.headers ?? {})) {
    if (k.toLowerCase() === wanted) return v;
  }
  return undefined;
}

/** Reads the envelope of a delivery; throws {@link RequestError} for anything malformed. */
export function readDelivery(request: HttpRequest): RawDelivery {
  const event = header(request, 'x-github-event');
  if (!event)
    throw new RequestError(400, 'missing X-GitHub-Event header: is this a GitHub webhook delivery?');
  const deliveryId = header(request, 'x-github-delivery') ?? '';

  const raw = request.body ?? '';
  if (raw === '') throw new RequestError(400, 'empty body');
  // Compare sizes before decoding, so a huge body costs nothing.
  const approxBytes = request.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw);
  if (approxBytes > MAX_BODY_BYTES) throw new RequestError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  const body = request.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;

  const contentType = (header(request, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  let payloadText: string;
  if (contentType === 'application/json') {
    payloadText = body;
  } else if (contentType === 'application/x-www-form-urlencoded') {
    payloadText = new URLSearchParams(body).get('payload') ?? '';
    if (payloadText === '') throw new RequestError(400, 'form-encoded delivery without a payload field');
  } else {
    throw new RequestError(
      415,
      `unsupported content type "${contentType || '(none)'}": set the webhook's content type to application/json`,
    );
  }
  return { event, deliveryId, signature: header(request, 'x-hub-signature-256'), body, payloadText };
}
