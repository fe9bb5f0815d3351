// Handlers for the workflow run routes: get a run, list the jobs of one attempt, and the two re-run
// requests (the run's failed jobs, or one job), which create the run's next attempt. The caller's
// installation has already been checked to reach the repository and to hold `actions: read`
// (reads) or `actions: write` (re-runs). A run or job of another repository is unknown: 404.
import { bodyObject, HttpError, linkHeader, paging, type Handler, type HandlerContext } from './http';
import type { EmulatedJob, JobScheduler } from './jobs';
import type { RouteName } from './routes';
import {
  decideRerunFailedJobs,
  decideRerunJob,
  deriveRun,
  jobsOfRun,
  workflowRunJson,
  type EmulatedRun,
  type RerunDecision,
} from './runs';
import { scopeKey, type EmulatorState, type RerunRequest } from './state';
import { workflowJobJson } from './webhook-payloads';

const repositoryOf = (ctx: HandlerContext): string => `${ctx.params.owner}/${ctx.params.repo}`;

function findRun(ctx: HandlerContext): EmulatedRun {
  const run = deriveRun(jobsOfRun(ctx.state.jobs.values(), Number(ctx.params.run_id), repositoryOf(ctx)));
  if (!run) throw new HttpError(404, 'Not Found');
  return run;
}

/** A run's place among its repository's runs, by first job: the `run_number` GitHub counts. */
function runNumber(state: EmulatorState, run: EmulatedRun): number {
  const ids: number[] = [];
  for (const j of state.jobs.values()) {
    if (scopeKey(j.repository) === scopeKey(run.repository) && !ids.includes(j.runId)) ids.push(j.runId);
  }
  return ids.indexOf(run.id) + 1;
}

const getRun: Handler = (ctx) => {
  const run = findRun(ctx);
  const installation = ctx.state.installations.get(run.installationId);
  if (!installation) throw new HttpError(404, 'Not Found');
  return { status: 200, body: workflowRunJson(run, runNumber(ctx.state, run), installation, ctx) };
};

const listJobsForRunAttempt: Handler = (ctx) => {
  const run = findRun(ctx);
  const attempt = Number(ctx.params.attempt_number);
  if (attempt < 1 || attempt > run.runAttempt) throw new HttpError(404, 'Not Found');
  const all = run.jobs.filter((j) => j.runAttempt === attempt);
  const { perPage, page } = paging(ctx.query);
  const lastPage = Math.max(1, Math.ceil(all.length / perPage));
  const base = `${ctx.apiUrl}/repos/${repositoryOf(ctx)}/actions/runs/${run.id}/attempts/${attempt}/jobs?per_page=${perPage}&page=`;
  return {
    status: 200,
    body: {
      total_count: all.length,
      jobs: all.slice((page - 1) * perPage, page * perPage).map((j) => workflowJobJson(j, ctx)),
    },
    headers: linkHeader({
      prev: page > 1 ? `${base}${page - 1}` : undefined,
      next: page < lastPage ? `${base}${page + 1}` : undefined,
      last: page < lastPage ? `${base}${lastPage}` : undefined,
      first: page > 1 ? `${base}1` : undefined,
    }),
  };
};

/**
 * Carries out an accepted re-run: the scheduler queues the new attempt's jobs (each with its
 * `queued` event) and the request joins the state's log. Returns the request as logged.
 */
export function applyRerun(
  state: EmulatorState,
  scheduler: JobScheduler,
  request: Pick<RerunRequest, 'by' | 'kind' | 'jobId' | 'atMs'>,
  jobs: readonly EmulatedJob[],
): RerunRequest {
  const created = scheduler.rerun(jobs);
  const logged: RerunRequest = {
    ...request,
    repository: created[0].repository,
    runId: created[0].runId,
    runAttempt: created[0].runAttempt,
    newJobIds: created.map((j) => j.id),
  };
  state.rerunRequests.push(logged);
  return logged;
}

// GitHub answers an accepted re-run with 201 and an empty object.
function rerunReply(
  ctx: HandlerContext,
  decision: RerunDecision,
  kind: RerunRequest['kind'],
  jobId: number | null,
) {
  bodyObject(ctx); // `enable_debug_logging` is the only field; debug logs are not emulated
  if (!decision.ok) throw new HttpError(403, decision.message);
  applyRerun(ctx.state, ctx.scheduler, { by: 'app', kind, jobId, atMs: ctx.nowMs }, decision.jobs);
  return { status: 201, body: {} };
}

const rerunFailedJobs: Handler = (ctx) =>
  rerunReply(ctx, decideRerunFailedJobs(findRun(ctx)), 'failed-jobs', null);

const rerunJob: Handler = (ctx) => {
  const job = ctx.state.jobs.get(Number(ctx.params.job_id));
  if (!job || scopeKey(job.repository) !== scopeKey(repositoryOf(ctx))) throw new HttpError(404, 'Not Found');
  const run = deriveRun(jobsOfRun(ctx.state.jobs.values(), job.runId)) as EmulatedRun;
  return rerunReply(ctx, decideRerunJob(run, job), 'job', job.id);
};

/** Handlers of the workflow run routes. */
export const RUN_HANDLERS: Partial<Record<RouteName, Handler>> = {
  getRun,
  listJobsForRunAttempt,
  rerunFailedJobs,
  rerunJob,
};
