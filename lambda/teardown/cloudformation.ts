/**
 * The custom resource protocol of CloudFormation: the request a stack operation sends, and the answer
 * the function PUTs to the request's pre-signed S3 URL. CloudFormation waits for that answer (up to the
 * resource's service timeout): whatever happens, the handler sends one.
 */

/** The fields of a custom resource request the handler reads. */
export interface CustomResourceRequest {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
}

/** The answer to one request. */
export interface CustomResourceAnswer {
  readonly Status: 'SUCCESS' | 'FAILED';
  /** Shown in the stack's events; CloudFormation accepts 4 KB of answer in all. */
  readonly Reason: string;
  readonly PhysicalResourceId: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly Data?: Record<string, string>;
}

/** The physical id of the resource: stable, so that an update never replaces it (a replacement deletes the old one). */
export function physicalIdOf(request: CustomResourceRequest): string {
  return request.PhysicalResourceId ?? `${request.LogicalResourceId}-removal`;
}

/** The answer to a request, with a reason cut to fit. */
export function answerOf(
  request: CustomResourceRequest,
  status: CustomResourceAnswer['Status'],
  reason: string,
  data?: Record<string, string>,
): CustomResourceAnswer {
  return {
    Status: status,
    Reason: reason.length > 1000 ? `${reason.slice(0, 997)}...` : reason,
    PhysicalResourceId: physicalIdOf(request),
    StackId: request.StackId,
    RequestId: request.RequestId,
    LogicalResourceId: request.LogicalResourceId,
    Data: data,
  };
}

/**
 * PUTs the answer to the request's URL, retrying a failed or refused PUT a few times within
 * `deadline` (epoch ms). The pre-signed URL signs no content type: an empty one is sent, as
 * CloudFormation's own helper does.
 */
export async function sendAnswer(
  url: string,
  answer: CustomResourceAnswer,
  deadline: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
  const body = JSON.stringify(answer);
  let last = '';
  for (let attempt = 1; attempt <= 5; attempt++) {
    const left = deadline - Date.now();
    if (left <= 0 && attempt > 1) break;
    try {
      const response = await fetch(url, {
        method: 'PUT',
        headers: { 'content-type': '', 'content-length': String(Buffer.byteLength(body)) },
        body,
        signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, left))),
      });
      if (response.ok) return;
      last = `HTTP ${response.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(Math.min(500 * attempt, 2000));
  }
  throw new Error(`could not answer CloudFormation: ${last}`);
}
