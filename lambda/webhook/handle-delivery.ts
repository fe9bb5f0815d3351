/**
 * One webhook delivery, from request to answer: envelope, signature, event, allowlist, routing,
 * then the action. Answers inside GitHub's delivery timeout: a launch that cannot finish in the
 * budget leaves the job pending for the scheduled retry and answers 202.
 */
import { randomUUID } from 'node:crypto';
import { verify } from '@octokit/webhooks-methods';
import { isAllowed } from '../core/allowlist';
import { HttpRequest, readDelivery, RequestError } from '../core/delivery';
import { JobKey } from '../core/job-key';
import { LAUNCH_LEASE_MS } from '../core/job-status';
import { routeJob } from '../core/routing';
import { splitBindingLabels } from '../core/binding-labels';
import { sourceAllowed } from '../core/source-cidrs';
import { parseJson, parseWorkflowJob, workflowJobAction, WorkflowJobEvent } from '../core/workflow-job';
import { classifyAwsFailure } from '../core/call-failure';
import { withRetry } from '../adapters/retrying';
import { NewJob } from '../adapters/state-store';
import { attemptRunnerName, launchJob } from '../launch/launch-job';
import { launchOptions } from '../launch/launch-options';
import { onRunnerTaken } from '../launch/stolen-runner';
import { Runtime } from '../runtime';

/** An API Gateway HTTP API response. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const respond = (statusCode: number, body: Record<string, unknown>): HttpResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Time kept back from the budget to record a deferral and answer. */
const ANSWER_RESERVE_MS = 1500;

/** Handles one delivery. Request problems become 4xx; only our own faults can become a 5xx. */
export async function handleDelivery(
  runtime: Runtime,
  request: HttpRequest,
  startedAt: number = Date.now(),
): Promise<HttpResponse> {
  const log = runtime.logger.createChild();
  try {
    const sourceIp = request.requestContext?.http?.sourceIp ?? request.requestContext?.identity?.sourceIp;
    if (!sourceAllowed(runtime.settings.webhookSourceCidrs, sourceIp))
      throw new RequestError(
        403,
        `source ${sourceIp ?? '(unknown)'} is not in the webhook's allowed source ranges`,
      );
    const delivery = readDelivery(request);
    log.appendKeys({ deliveryId: delivery.deliveryId, event: delivery.event });
    if (!delivery.signature) throw new RequestError(401, 'missing X-Hub-Signature-256 header');
    if (!(await signatureMatches(runtime, delivery.body, delivery.signature))) {
      throw new RequestError(401, 'signature does not match: check the webhook secret');
    }

    if (delivery.event === 'ping') return respond(200, { message: 'pong' });
    if (delivery.event !== 'workflow_job')
      return respond(202, { message: `event ${delivery.event} ignored` });

    const payload = parseJson(delivery.payloadText);
    if (!workflowJobAction(payload)) return respond(202, { message: 'action ignored' });
    const job = parseWorkflowJob(payload);
    log.appendKeys({
      jobId: job.jobId,
      runAttempt: job.runAttempt,
      repository: job.repository,
      action: job.action,
    });

    const { settings } = runtime;
    if (
      !isAllowed(
        { owners: settings.allowedOwners, repositories: settings.allowedRepositories },
        job.repository,
      )
    ) {
      log.warn('job refused: repository not in the allowlist', {
        allowedOwners: settings.allowedOwners,
        allowedRepositories: settings.allowedRepositories,
      });
      return respond(403, { message: `repository ${job.repository} is not allowed to use these runners` });
    }

    const key: JobKey = { host: settings.githubHost, jobId: job.jobId, runAttempt: job.runAttempt };
    const now = Date.now();
    if (job.runAttemptDefaulted) log.info('payload without run_attempt (older GHES): taken as attempt 1');
    switch (job.action) {
      case 'in_progress': {
        const before = await runtime.store.jobs.recordInProgress(key, job.runnerName ?? '', now);
        const answer = before
          ? respond(200, { message: 'recorded' })
          : await earlyOrFinal(runtime, log, job, key, delivery.deliveryId, now);
        const stolen = await onRunnerTaken(
          runtime,
          log,
          key,
          { repository: job.repository, installationId: job.installationId, runId: job.runId },
          before,
          job.runnerName,
          startedAt,
        );
        return stolen ? respond(answer.statusCode, { ...JSON.parse(answer.body), runner: stolen }) : answer;
      }
      case 'completed': {
        const before = await runtime.store.jobs.recordCompleted(key, job.conclusion, now);
        if (before) return respond(200, { message: 'recorded' });
        return earlyOrFinal(runtime, log, job, key, delivery.deliveryId, now);
      }
      default:
        return await queuedOrWaiting(runtime, log, job, key, delivery.deliveryId, startedAt);
    }
  } catch (e) {
    if (e instanceof RequestError) {
      log.info('delivery rejected', { statusCode: e.statusCode, reason: e.message });
      return respond(e.statusCode, { message: e.message });
    }
    log.error('delivery failed', { error: (e as Error).message, errorName: (e as Error).name });
    return respond(500, { message: 'internal error; the delivery can be redelivered' });
  }
}

/**
 * Verifies the HMAC against the current webhook secret and, just after a rotation, the previous
 * one; on a mismatch, once the cached secret is a minute old, fetches it again (a rotation).
 */
async function signatureMatches(runtime: Runtime, body: string, signature: string): Promise<boolean> {
  const check = (secret: string) => verify(secret, body, signature).catch(() => false);
  for (const secret of await runtime.webhookSecret.candidates()) if (await check(secret)) return true;
  const fresh = await runtime.webhookSecret.refresh();
  return fresh !== undefined && (await check(fresh));
}

/** The record of a job as a delivery describes it, routed to `configName`. */
function newJob(job: WorkflowJobEvent, key: JobKey, configName: string, deliveryId: string): NewJob {
  return {
    key,
    runId: job.runId,
    repository: job.repository,
    installationId: job.installationId,
    labels: job.labels,
    configName,
    deliveryId,
    jobName: job.jobName || undefined,
  };
}

/** The labels routing looks at: the job's, without its binding labels. */
function routingLabels(runtime: Runtime, job: WorkflowJobEvent): readonly string[] {
  return splitBindingLabels(job.labels, runtime.settings.bindingLabelPattern).routing;
}

/**
 * An `in_progress` or `completed` for a job with no live record: it came before its `queued` (out
 * of order, or a late redelivery), or the job is already final, or it is not a job of ours.
 */
async function earlyOrFinal(
  runtime: Runtime,
  log: Runtime['logger'],
  job: WorkflowJobEvent,
  key: JobKey,
  deliveryId: string,
  now: number,
): Promise<HttpResponse> {
  const route = routeJob(routingLabels(runtime, job), await runtime.configs.configs());
  if (!route.matched) return respond(200, { message: 'not a job of ours' });
  const record = newJob(job, key, route.config.name, deliveryId);
  const early =
    job.action === 'in_progress'
      ? ({ status: 'running', runnerName: job.runnerName ?? '' } as const)
      : ({ status: 'completed', conclusion: job.conclusion } as const);
  if (await runtime.store.jobs.recordEarly(record, early, now)) {
    log.info(`${job.action} before queued: recorded, so a later queued launches nothing`);
    return respond(200, {
      message: `${job.action} recorded before its queued: a later queued launches nothing`,
    });
  }
  return respond(200, { message: 'already recorded: the job is final' });
}

async function queuedOrWaiting(
  runtime: Runtime,
  log: Runtime['logger'],
  job: WorkflowJobEvent,
  key: JobKey,
  deliveryId: string,
  startedAt: number,
): Promise<HttpResponse> {
  const configs = await runtime.configs.configs();
  const route = routeJob(routingLabels(runtime, job), configs);
  if (!route.matched) {
    // The one log line that answers "why was my job never picked up?".
    log.info('no runner config matches the job', {
      reason: route.reason,
      jobLabels: job.labels,
      configuredLabelSets: configs.map((c) => ({ config: c.name, labels: c.labels })),
    });
    return respond(202, { message: 'no runner config matches the job labels', labels: job.labels });
  }
  const config = route.config;
  log.appendKeys({ config: config.name });
  const record = newJob(job, key, config.name, deliveryId);
  const now = Date.now();
  if (job.action === 'waiting') {
    const recorded = await runtime.store.jobs.recordWaiting(record, now);
    return respond(200, {
      message: recorded ? 'waiting recorded' : 'the job is past waiting: nothing changed',
    });
  }

  const leaseOwner = randomUUID();
  const deadline = startedAt + runtime.settings.deliveryBudgetMs - ANSWER_RESERVE_MS;
  // Until the claim is written nothing about the job is durable: retry it for as long as the budget allows.
  // Write-ahead: the claim names attempt 1 and its runner before any remote call of the launch.
  const firstRunner = attemptRunnerName(runtime.settings, config.name, key, 1);
  // The reads that decide the market run beside the claim: no call is added to the critical path.
  const [claimed, options] = await Promise.all([
    withRetry(() => runtime.store.jobs.claim(record, firstRunner, leaseOwner, now, LAUNCH_LEASE_MS), {
      deadline,
      classify: classifyAwsFailure,
    }),
    launchOptions(runtime.store, runtime.settings, config, record, log, now),
  ]);
  if (!claimed) {
    const existing = await runtime.store.jobs.get(key).catch(() => undefined);
    const why =
      existing?.status === 'completed' || existing?.status === 'expired'
        ? `the job is already ${existing.status}: nothing launched`
        : existing?.status === 'running'
          ? `the job is already running on ${existing.takenByRunner || 'a runner'}: nothing launched`
          : 'already claimed';
    log.info('queued delivery for a job already recorded; nothing launched', { reason: why });
    return respond(200, { message: why });
  }
  const outcome = await launchJob(await runtime.launchDeps(log), {
    key,
    repository: job.repository,
    installationId: job.installationId,
    config,
    launchAttempt: 1,
    leaseOwner,
    deadline,
    ...options,
  });
  if (outcome.status === 'launched') {
    return respond(200, {
      message: 'runner launched',
      instanceId: outcome.instanceId,
      market: outcome.market,
    });
  }
  return respond(202, { message: `launch ${outcome.status}`, reason: outcome.reason });
}
