/**
 * One reconciler run: list what exists (owner-tagged instances, our registrations in every runner
 * scope in use, the records that are not final), plan the repairs (core/reconcile-plan, pure) and
 * carry them out within caps and the invocation's deadline. What a run cannot finish is left to the
 * next; a run lease keeps two runs from acting on one thing. One log line per action, one per run.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { classifyAwsFailure, classifyGitHubFailure } from '../core/call-failure';
import { InstanceView } from '../core/fleet-views';
import { formatJobKey } from '../core/job-key';
import { JobRecord } from '../core/job-record';
import {
  DEFAULT_RULES,
  ListedScope,
  planReconcile,
  ReconcileAction,
  ReconcileRules,
} from '../core/reconcile-plan';
import { GitHubRunners, RunnerScope } from '../adapters/github';
import { withRetry } from '../adapters/retrying';
import { KnownScope } from '../adapters/state-store';
import { runnerScopeOf } from '../launch/launch-job';
import { Runtime } from '../runtime';
import { redeliverFailed } from './redeliver-failed';
import { rerunInterrupted } from './rerun-interrupted';
import { noteSpotEnds } from './spot-ended';
import { voidEndedHandoffs } from './ended-handoffs';
import { Repairs } from './repairs';

/** Per-run bounds. */
export interface ReconcileCaps {
  readonly instancePages: number;
  readonly recordPages: number;
  readonly runnerPagesPerScope: number;
  readonly scopes: number;
  readonly actions: number;
  readonly gitHubLookups: number;
  readonly concurrency: number;
}

/** The caps of a run unless told otherwise. */
export const DEFAULT_CAPS: ReconcileCaps = {
  instancePages: 5,
  recordPages: 4,
  runnerPagesPerScope: 10,
  scopes: 50,
  actions: 100,
  gitHubLookups: 40,
  concurrency: 8,
};

/** How long a scope stays in the registry after its last job. */
const SCOPE_MEMORY_MS = 3 * 24 * 3_600_000;

/** Options of one run. */
export interface ReconcileOptions {
  /** Epoch ms by which the run stops starting work. */
  readonly stopBy: number;
  readonly caps?: Partial<ReconcileCaps>;
  readonly rules?: Partial<ReconcileRules>;
  readonly now?: () => number;
}

/** What a run did. */
export interface ReconcileSummary {
  ran: boolean;
  instances: number;
  registrations: number;
  records: number;
  planned: number;
  done: number;
  /** Planned actions left to the next run (caps or time). */
  deferred: number;
  failed: number;
  byKind: Record<string, number>;
}

/** Runs the reconciler once. */
export async function reconcile(runtime: Runtime, options: ReconcileOptions): Promise<ReconcileSummary> {
  const now = options.now ?? Date.now;
  const caps = { ...DEFAULT_CAPS, ...options.caps };
  const { settings } = runtime;
  const rules: ReconcileRules = {
    ...DEFAULT_RULES,
    bootTimeoutMs: settings.bootTimeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
    ...options.rules,
  };
  const log = runtime.logger.createChild();
  const summary: ReconcileSummary = {
    ran: false,
    instances: 0,
    registrations: 0,
    records: 0,
    planned: 0,
    done: 0,
    deferred: 0,
    failed: 0,
    byKind: {},
  };
  const leaseOwner = randomUUID();
  const started = now();
  if (
    !(await runtime.store.reconciler.acquireLease(leaseOwner, started, options.stopBy - started + 10_000))
  ) {
    log.info('another reconciler run holds the lease; this one does nothing');
    return summary;
  }
  summary.ran = true;
  try {
    const [github, ec2] = await Promise.all([runtime.github(), runtime.ec2()]);
    const repairs = new Repairs(runtime, github, log, now, options.stopBy, caps.gitHubLookups);
    const aws = { deadline: options.stopBy, now, classify: classifyAwsFailure };
    const [listed, records, known] = await Promise.all([
      withRetry(
        () =>
          ec2.describeOwned(settings.ownerTag, {
            maxPages: caps.instancePages,
            abortSignal: AbortSignal.timeout(Math.max(1, options.stopBy - now())),
          }),
        aws,
      ),
      liveRecords(runtime, caps.recordPages, options.stopBy),
      withRetry(() => runtime.store.reconciler.scopes(), aws),
    ]);
    const scopes = scopesInUse(runtime, records, listed.instances, known, started, caps.scopes);
    const listings = await listScopes(github, scopes, caps.runnerPagesPerScope, options.stopBy, log);
    summary.instances = listed.instances.length;
    summary.records = records.length;
    summary.registrations = listings.reduce((n, l) => n + l.registrations.length, 0);

    const plan = planReconcile(
      {
        now: now(),
        host: settings.githubHost,
        ownerTag: settings.ownerTag,
        scopeOf: (repository) => scopeId(runnerScopeOf(settings.runnerScope, repository)),
        // A cut-short listing cannot show an instance missing: only what it lists is acted on.
        instances: listed.instances,
        scopes: listings,
        records,
      },
      rules,
    );
    summary.planned = plan.length;
    const recordsByKey = new Map(records.map((r) => [formatJobKey(r.key), r]));
    const installations = new Map(scopes.map((s) => [s.scope, s.installationId]));
    const queue = plan.slice(0, caps.actions);
    summary.deferred = plan.length - queue.length;
    await Promise.all(
      Array.from({ length: Math.min(caps.concurrency, queue.length) }, async () => {
        for (let action = queue.shift(); action; action = queue.shift()) {
          if (now() >= options.stopBy) {
            summary.deferred++;
            continue;
          }
          const actionLog = { kind: action.kind, ...('reason' in action ? { reason: action.reason } : {}) };
          try {
            const result = await carryOut(action, repairs, recordsByKey, installations, settings.runnerScope);
            summary.done++;
            const tag = `${action.kind}${'reason' in action ? `:${action.reason}` : ''}`;
            summary.byKind[tag] = (summary.byKind[tag] ?? 0) + 1;
            log.info('reconciler action', { ...actionLog, ...describe(action), result });
          } catch (e) {
            summary.failed++;
            log.warn('reconciler action failed; the next run tries again', {
              ...actionLog,
              ...describe(action),
              error: (e as Error).message,
            });
          }
        }
      }),
    );
    await withRetry(() => runtime.store.reconciler.saveScopes(scopes, now()), aws).catch((e: Error) =>
      log.warn('could not save the runner scopes in use', { error: e.message }),
    );
    // Deliveries that failed (a webhook stopped before its claim, a 5xx, a throttle) are sent again.
    const redelivery = await redeliverFailed(runtime, github, log, options.stopBy, now).catch((e: Error) => {
      log.warn('could not scan the webhook deliveries; the next run tries again', { error: e.message });
      return undefined;
    });
    if (redelivery) summary.byKind.redelivered = redelivery.redelivered;
    // JIT configs of instances that ended before reading them, whose state change was lost.
    const voided = await voidEndedHandoffs(runtime, log, listed.instances, { stopBy: options.stopBy, now });
    if (voided) summary.byKind.handoffVoided = voided;
    // Instances a spot interruption ended whose warning was never handled: their jobs are recorded.
    const spotEnded = await noteSpotEnds(runtime, log, listed.instances, { stopBy: options.stopBy, now });
    if (spotEnded) summary.byKind.interruptedUnwarned = spotEnded;
    // Jobs a spot interruption failed while they ran are re-run once their run has completed.
    const reruns = await rerunInterrupted(runtime, github, log, options.stopBy, now).catch((e: Error) => {
      log.warn('could not look at the interrupted jobs; the next run tries again', { error: e.message });
      return undefined;
    });
    if (reruns?.requested) summary.byKind.rerun = reruns.requested;
  } finally {
    await runtime.store.reconciler.releaseLease(leaseOwner).catch(() => undefined);
  }
  log.info('reconciler run', { ...summary });
  return summary;
}

async function carryOut(
  action: ReconcileAction,
  repairs: Repairs,
  records: Map<string, JobRecord>,
  installations: Map<string, number>,
  runnerScope: 'org' | 'repo',
): Promise<string> {
  switch (action.kind) {
    case 'check-job': {
      const record = records.get(formatJobKey(action.key))!;
      return repairs.apply(record, action.reason, await repairs.lookUp(record));
    }
    case 'delete-ghost': {
      const installationId = installations.get(action.scope);
      if (installationId === undefined) return 'no installation for the scope';
      const deleted = await repairs.deregister(installationId, parseScopeId(action.scope), action.runnerId);
      return deleted ? 'deleted' : 'busy';
    }
    case 'reap': {
      const record = action.job ? records.get(formatJobKey(action.job.key)) : undefined;
      let verdict = '';
      // The record is reopened (or made final) before anything is undone.
      if (record && action.job) {
        if (action.reason === 'hard-timeout') {
          verdict = await repairs.hardTimeout(record);
        } else if (action.job.check !== 'none') {
          verdict = await repairs.apply(record, action.job.check, await repairs.lookUp(record));
        }
      }
      if (action.registration && action.repository) {
        const installationId = record?.installationId ?? installations.get(action.registration.scope);
        if (installationId !== undefined) {
          const deleted = await repairs.deregister(
            installationId,
            runnerScopeOf(runnerScope, action.repository),
            action.registration.runnerId,
          );
          // Busy since we listed it: it took a job just now. Leave it, unless it is past its hard timeout.
          if (!deleted && action.reason !== 'hard-timeout') return `${verdict} kept: runner busy`.trim();
        }
      }
      await repairs.voidHandoff(action.instanceId);
      await repairs.terminate(action.instanceId);
      return `${verdict} terminated`.trim();
    }
  }
}

function describe(action: ReconcileAction): Record<string, unknown> {
  switch (action.kind) {
    case 'reap':
      return { instanceId: action.instanceId, jobKey: action.job ? formatJobKey(action.job.key) : undefined };
    case 'delete-ghost':
      return { runnerName: action.runnerName, runnerId: action.runnerId };
    case 'check-job':
      return { jobKey: formatJobKey(action.key) };
  }
}

async function liveRecords(runtime: Runtime, pages: number, deadline: number): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  let startKey: Parameters<Runtime['store']['jobs']['live']>[1];
  for (let page = 0; page < pages; page++) {
    const res = await withRetry(() => runtime.store.jobs.live(500, startKey), {
      deadline,
      classify: classifyAwsFailure,
    });
    out.push(...res.jobs);
    startKey = res.nextKey;
    if (!startKey) break;
  }
  return out;
}

/** `org:{org}` or `repo:{owner}/{repo}`. */
export function scopeId(scope: RunnerScope): string {
  return 'org' in scope
    ? `org:${scope.org.toLowerCase()}`
    : `repo:${scope.owner}/${scope.repo}`.toLowerCase();
}

function parseScopeId(id: string): RunnerScope {
  const [kind, rest] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
  if (kind === 'org') return { org: rest };
  const [owner, repo] = rest.split('/');
  return { owner, repo };
}

/** The scopes to list: those of live records and of instances, and those used in the last days. */
function scopesInUse(
  runtime: Runtime,
  records: readonly JobRecord[],
  instances: readonly InstanceView[],
  known: readonly KnownScope[],
  now: number,
  cap: number,
): KnownScope[] {
  const scopes = new Map<string, KnownScope>();
  for (const s of known) if (now - s.lastSeen < SCOPE_MEMORY_MS) scopes.set(s.scope, s);
  for (const r of records) {
    const id = scopeId(runnerScopeOf(runtime.settings.runnerScope, r.repository));
    scopes.set(id, {
      scope: id,
      installationId: r.installationId,
      lastSeen: Math.max(now, scopes.get(id)?.lastSeen ?? 0),
    });
  }
  // Instances name their scope too: a job that ran and ended between two runs leaves no live
  // record, but its instance (listed for about an hour after it ends) still leads to its registration.
  for (const i of instances) {
    if (!i.repository) continue;
    const id = scopeId(runnerScopeOf(runtime.settings.runnerScope, i.repository));
    const known = scopes.get(id);
    const installationId = known?.installationId ?? i.installationId;
    if (installationId === undefined) continue;
    scopes.set(id, { scope: id, installationId, lastSeen: Math.max(known?.lastSeen ?? 0, i.launchTime) });
  }
  return [...scopes.values()].sort((a, b) => b.lastSeen - a.lastSeen).slice(0, cap);
}

async function listScopes(
  github: GitHubRunners,
  scopes: readonly KnownScope[],
  maxPages: number,
  deadline: number,
  log: Logger,
): Promise<ListedScope[]> {
  return Promise.all(
    scopes.map(async (s) => {
      try {
        const listing = await withRetry(
          () => github.listRunners(s.installationId, parseScopeId(s.scope), { maxPages, deadline }),
          { deadline, classify: classifyGitHubFailure },
        );
        return { scope: s.scope, registrations: listing.runners, complete: listing.complete };
      } catch (e) {
        log.warn('could not list the runners of a scope; nothing is concluded from it this run', {
          scope: s.scope,
          error: (e as Error).message,
        });
        return { scope: s.scope, registrations: [], complete: false };
      }
    }),
  );
}
