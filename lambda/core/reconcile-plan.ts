/**
 * The reconciler's decisions, pure: given what exists (owner-tagged instances, our runner
 * registrations, the job records that are not final), what to repair. The shell (lambda/reconcile)
 * lists, calls {@link planReconcile}, asks GitHub about the jobs the plan names, and calls
 * {@link decideFromGitHub} for each answer.
 */
import { formatJobKey, JobKey } from './job-key';
import { JobRecord } from './job-record';
import { GitHubJobView, InstanceView, isAlive, RegistrationView } from './fleet-views';
import { parseRunnerName } from './runner-name';

/** The reconciler's timing rules. */
export interface ReconcileRules {
  /** A launched runner that is not online this long after its launch is replaced. */
  readonly bootTimeoutMs: number;
  /** A runner online without a job this long after its launch is reaped. */
  readonly idleTimeoutMs: number;
  /** An instance no live record names is left alone this long after its launch (an attempt may be settling it). */
  readonly orphanGraceMs: number;
  /** How long a just-launched instance may be missing from DescribeInstances (eventual consistency). */
  readonly listingLagMs: number;
  /** How often one record may be checked with GitHub. */
  readonly recheckMs: number;
  /** How long a `waiting` or `pending` record goes unchecked. */
  readonly staleAfterMs: number;
}

/** Defaults of the rules other than the two timeouts. */
export const DEFAULT_RULES: Omit<ReconcileRules, 'bootTimeoutMs' | 'idleTimeoutMs'> = {
  orphanGraceMs: 5 * 60_000,
  listingLagMs: 2 * 60_000,
  recheckMs: 10 * 60_000,
  staleAfterMs: 30 * 60_000,
};

/** Registrations of one scope, as listed this run. */
export interface ListedScope {
  /** `org:{org}` or `repo:{owner}/{repo}`. */
  readonly scope: string;
  readonly registrations: readonly RegistrationView[];
  /** False when the listing failed or was cut short: nothing is concluded from an absence. */
  readonly complete: boolean;
}

/** What one run sees. */
export interface ReconcileSnapshot {
  readonly now: number;
  readonly host: string;
  readonly ownerTag: string;
  /** Where runners of a repository register: its scope id. */
  readonly scopeOf: (repository: string) => string;
  readonly instances: readonly InstanceView[];
  readonly scopes: readonly ListedScope[];
  readonly records: readonly JobRecord[];
}

/** Why the reconciler reaps an instance. */
export type ReapReason = 'boot-timeout' | 'idle' | 'hard-timeout' | 'orphan' | 'finished';

/** Why the reconciler asks GitHub about a job. */
export type CheckReason = 'lost-launch' | 'stale' | 'waiting' | 'boot-timeout' | 'idle';

/** One repair. */
export type ReconcileAction =
  | {
      readonly kind: 'reap';
      readonly reason: ReapReason;
      readonly instanceId: string;
      readonly repository?: string;
      /** The registration to delete first; a 422 (busy) from GitHub cancels the termination. */
      readonly registration?: { readonly scope: string; readonly runnerId: number };
      /** The job whose current instance this is: checked with GitHub (relaunch if still queued). */
      readonly job?: { readonly key: JobKey; readonly check: CheckReason | 'none' };
    }
  | {
      readonly kind: 'delete-ghost';
      readonly scope: string;
      readonly runnerId: number;
      readonly runnerName: string;
    }
  | {
      readonly kind: 'check-job';
      readonly reason: CheckReason;
      readonly key: JobKey;
      readonly repository: string;
    };

function index<T, K>(items: readonly T[], key: (t: T) => K | undefined): Map<K, T> {
  const m = new Map<K, T>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) m.set(k, item);
  }
  return m;
}

/** Whether a record's current launch attempt may still be running under its lease. */
function attemptInFlight(record: JobRecord, now: number): boolean {
  return record.status === 'launching' && (record.leaseUntil ?? 0) > now;
}

/**
 * The repairs of one run, most urgent first: lost launches and stuck instances, then idle and
 * orphaned ones, ghosts, and stale records. The shell caps how many it carries out.
 */
export function planReconcile(s: ReconcileSnapshot, rules: ReconcileRules): ReconcileAction[] {
  const { now } = s;
  const records = index(s.records, (r) => formatJobKey(r.key));
  const registrations = new Map<string, { scope: string; reg: RegistrationView }>();
  const completeScopes = new Set(s.scopes.filter((l) => l.complete).map((l) => l.scope));
  for (const listed of s.scopes)
    for (const reg of listed.registrations) registrations.set(reg.name, { scope: listed.scope, reg });
  const alive = s.instances.filter(isAlive);
  const aliveByRunner = index(alive, (i) => i.runnerName);
  const instancesById = index(s.instances, (i) => i.instanceId);

  const urgent: ReconcileAction[] = [];
  const later: ReconcileAction[] = [];

  for (const instance of alive) {
    const record = instance.jobKey ? records.get(instance.jobKey) : undefined;
    const found = instance.runnerName ? registrations.get(instance.runnerName) : undefined;
    const scope = instance.repository ? s.scopeOf(instance.repository) : undefined;
    const known = scope !== undefined && completeScopes.has(scope);
    const age = now - instance.launchTime;
    const current = record !== undefined && record.instanceId === instance.instanceId;
    const reap = (reason: ReapReason, check: CheckReason | 'none' | undefined) => ({
      kind: 'reap' as const,
      reason,
      instanceId: instance.instanceId,
      repository: instance.repository,
      registration: found ? { scope: found.scope, runnerId: found.reg.id } : undefined,
      job: record && current && check !== undefined ? { key: record.key, check } : undefined,
    });

    if (instance.expiresAt !== undefined && now > instance.expiresAt) {
      urgent.push(reap('hard-timeout', 'none'));
      continue;
    }
    if (found?.reg.busy) continue; // running a job, ours or not: it ends by itself
    if (record && attemptInFlight(record, now) && record.attemptRunnerName === instance.runnerName) continue;
    if (!current) {
      if (age >= rules.orphanGraceMs) later.push(reap('orphan', undefined));
      continue;
    }
    if (!known) continue; // without the registrations, offline and missing look alike
    const online = found?.reg.status === 'online';
    if (record.status === 'launched') {
      if (!online && age >= rules.bootTimeoutMs) urgent.push(reap('boot-timeout', 'boot-timeout'));
      else if (online && age >= rules.idleTimeoutMs) later.push(reap('idle', 'idle'));
    } else if (record.status === 'running') {
      if (record.takenByRunner !== instance.runnerName) {
        // Its job ran on another runner: this one is spare.
        if ((online && age >= rules.idleTimeoutMs) || (!online && age >= rules.bootTimeoutMs))
          later.push(reap('idle', 'none'));
      } else if (found === undefined && age >= rules.orphanGraceMs) {
        // A JIT runner's registration goes when its job ends: this instance should be shutting down.
        later.push(reap('finished', 'none'));
      }
    }
  }

  for (const { scope, reg } of registrations.values()) {
    if (reg.busy || reg.status !== 'offline' || aliveByRunner.has(reg.name)) continue;
    const parsed = parseRunnerName(reg.name, s.host, s.ownerTag);
    if (!parsed) continue; // not ours
    const record = records.get(formatJobKey(parsed.key));
    if (record && attemptInFlight(record, now) && record.attemptRunnerName === reg.name) continue;
    if (record?.runnerName === reg.name && now - (record.launchedAt ?? 0) < rules.listingLagMs) continue;
    later.push({ kind: 'delete-ghost', scope, runnerId: reg.id, runnerName: reg.name });
  }

  for (const record of s.records) {
    const check = (reason: CheckReason) => ({
      kind: 'check-job' as const,
      reason,
      key: record.key,
      repository: record.repository,
    });
    const recentlyChecked = now - (record.checkedAt ?? 0) < rules.recheckMs;
    const instance = record.instanceId ? instancesById.get(record.instanceId) : undefined;
    const gone =
      record.instanceGoneAt !== undefined ||
      (instance !== undefined && !isAlive(instance)) ||
      (instance === undefined && now - (record.launchedAt ?? now) >= rules.listingLagMs);
    if (record.status === 'launched' && gone && !recentlyChecked) {
      urgent.push(check('lost-launch'));
    } else if (record.status === 'running' && !recentlyChecked) {
      const ours = record.takenByRunner === record.runnerName;
      // Our own runner: its instance going away means the job ended; someone else's: ask now and then.
      if ((ours && gone) || (!ours && now - (record.startedAt ?? record.createdAt) >= rules.staleAfterMs))
        later.push(check('stale'));
    } else if (
      (record.status === 'pending' || record.status === 'waiting') &&
      now - record.createdAt >= rules.staleAfterMs &&
      !recentlyChecked
    ) {
      later.push(check(record.status === 'waiting' ? 'waiting' : 'stale'));
    }
  }
  return [...urgent, ...later];
}

/** What GitHub's view of a job means for our record. */
export type GitHubVerdict =
  | { readonly kind: 'reopen' }
  | { readonly kind: 'make-due' }
  | { readonly kind: 'running'; readonly runnerName: string }
  | { readonly kind: 'complete'; readonly conclusion: string }
  | { readonly kind: 'finalize'; readonly reason: string }
  | { readonly kind: 'nothing' };

/**
 * Decides from GitHub's answer about a job (`not-found` for a 404, `unknown` when GitHub could not
 * be asked: no permission, rate limited, down). A job still queued is relaunched only when our
 * launch for it failed (lost, stuck booting, idle); a `waiting` record whose job is queued lost its
 * `queued` delivery and becomes due; a job that started is recorded as running; a job that ended or
 * that GitHub does not know becomes final. Unasked, a failed launch is relaunched anyway:
 * relaunching a job that ended costs an idle runner, not relaunching one that is queued loses it.
 */
export function decideFromGitHub(
  record: Pick<JobRecord, 'status'>,
  job: GitHubJobView | 'not-found' | 'unknown',
  reason: CheckReason,
): GitHubVerdict {
  if (job === 'unknown')
    return reason === 'lost-launch' || reason === 'boot-timeout' ? { kind: 'reopen' } : { kind: 'nothing' };
  if (job === 'not-found') return { kind: 'finalize', reason: 'GitHub does not know the job (deleted run?)' };
  if (job.status === 'completed') return { kind: 'complete', conclusion: job.conclusion ?? 'unknown' };
  if (job.status === 'in_progress')
    return record.status === 'running' || job.runnerName === null
      ? { kind: 'nothing' }
      : { kind: 'running', runnerName: job.runnerName };
  if (job.status === 'queued') {
    if (reason === 'lost-launch' || reason === 'boot-timeout' || reason === 'idle') return { kind: 'reopen' };
    if (reason === 'waiting') return { kind: 'make-due' };
  }
  return { kind: 'nothing' };
}
