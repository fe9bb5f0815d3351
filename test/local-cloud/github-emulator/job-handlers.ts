// Handlers for the workflow job routes. The caller's installation has already been checked to
// reach the repository and to hold `actions: read`.
import { HttpError, type Handler } from './http';
import type { RouteName } from './routes';
import { scopeKey } from './state';
import { workflowJobJson } from './webhook-payloads';

// A job of another repository is as unknown as a missing one: GitHub answers 404 for both.
const getJob: Handler = (ctx) => {
  const job = ctx.state.jobs.get(Number(ctx.params.job_id));
  if (!job || scopeKey(job.repository) !== scopeKey(`${ctx.params.owner}/${ctx.params.repo}`)) {
    throw new HttpError(404, 'Not Found');
  }
  return { status: 200, body: workflowJobJson(job, ctx) };
};

/** Handlers of the workflow job routes. */
export const JOB_HANDLERS: Partial<Record<RouteName, Handler>> = { getJob };
