/**
 * The webhook Lambda: API Gateway HTTP API → {@link handleDelivery}. The runtime is built on the
 * first invocation and reused by the container.
 */
import { createRuntime, Runtime } from '../runtime';
import { handleDelivery, HttpResponse } from './handle-delivery';
import { HttpRequest } from '../core/delivery';

let runtime: Runtime | undefined;

/** Lambda entry point. */
export async function handler(event: HttpRequest): Promise<HttpResponse> {
  const startedAt = Date.now();
  runtime ??= createRuntime(process.env);
  return handleDelivery(runtime, event, startedAt);
}
