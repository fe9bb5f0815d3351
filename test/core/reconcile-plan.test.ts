import { InstanceView, RegistrationView } from '../../lambda/core/fleet-views';
import { formatJobKey } from '../../lambda/core/job-key';
import { JobRecord } from '../../lambda/core/job-record';
import {
  CheckReason,
  decideFromGitHub,
  DEFAULT_RULES,
  planReconcile,
  ReconcileAction,
  ReconcileRules,
} from '../../lambda/core/reconcile-plan';
import { runnerName } from '../../lambda/core/runner-name';

const MIN = 60_000;
const NOW = 1_000 * MIN;
const OWNER = 'deploy-1';
const HOST = 'github.com';
const rules: ReconcileRules = { ...DEFAULT_RULES, bootTimeoutMs: 10 * MIN, idleTimeoutMs: 10 * MIN };
const key = (jobId: number) => ({ host: HOST, jobId, runAttempt: 1 });
const nameOf = (jobId: number, attempt = 1) => runnerName('linux', key(jobId), attempt, OWNER);

const record = (jobId: number, over: Partial<JobRecord> = {}): JobRecord => ({
  key: key(jobId),
  runId: 1,
  repository: 'acme/app',
  installationId: 7,
  labels: ['self-hosted'],
  configName: 'linux',
  deliveryId: 'd',
  status: 'launched',
  createdAt: NOW - 20 * MIN,
  launchAttempts: 1,
  attemptRunnerName: nameOf(jobId),
  instanceId: `i-${jobId}`,
  runnerName: nameOf(jobId),
  launchedAt: NOW - 20 * MIN,
  ...over,
});
const instance = (jobId: number, ageMin: number, over: Partial<InstanceView> = {}): InstanceView => ({
  instanceId: `i-${jobId}`,
  state: 'running',
  launchTime: NOW - ageMin * MIN,
  jobKey: formatJobKey(key(jobId)),
  runnerName: nameOf(jobId),
  repository: 'acme/app',
  expiresAt: NOW + 60 * MIN,
  ...over,
});
const reg = (jobId: number, status: 'online' | 'offline', busy = false, attempt = 1): RegistrationView => ({
  id: jobId * 10 + attempt,
  name: nameOf(jobId, attempt),
  status,
  busy,
});

function plan(world: {
  instances?: InstanceView[];
  registrations?: RegistrationView[];
  records?: JobRecord[];
  complete?: boolean;
}): ReconcileAction[] {
  return planReconcile(
    {
      now: NOW,
      host: HOST,
      ownerTag: OWNER,
      scopeOf: () => 'org:acme',
      instances: world.instances ?? [],
      scopes: [
        { scope: 'org:acme', registrations: world.registrations ?? [], complete: world.complete ?? true },
      ],
      records: world.records ?? [],
    },
    rules,
  );
}
const brief = (a: ReconcileAction) =>
  a.kind === 'reap'
    ? `reap ${a.reason} ${a.instanceId}${a.job ? ` check:${a.job.check}` : ''}${a.registration ? ' deregister' : ''}`
    : a.kind === 'delete-ghost'
      ? `ghost ${a.runnerName}`
      : `check ${a.reason} ${a.key.jobId}`;

type Row = [string, Parameters<typeof plan>[0], string[]];
const rows: Row[] = [
  [
    'a healthy booting runner: nothing',
    { instances: [instance(1, 3)], registrations: [reg(1, 'offline')], records: [record(1)] },
    [],
  ],
  [
    'boot timeout: runner never came online → reap, deregister, relaunch if queued',
    { instances: [instance(1, 11)], registrations: [reg(1, 'offline')], records: [record(1)] },
    ['reap boot-timeout i-1 check:boot-timeout deregister'],
  ],
  [
    'boot timeout with the registration already gone',
    { instances: [instance(1, 11)], registrations: [], records: [record(1)] },
    ['reap boot-timeout i-1 check:boot-timeout'],
  ],
  [
    'no conclusion about registrations from an incomplete listing',
    { instances: [instance(1, 11)], registrations: [], records: [record(1)], complete: false },
    [],
  ],
  [
    'idle runner: online, not busy, past the idle timeout',
    { instances: [instance(1, 11)], registrations: [reg(1, 'online')], records: [record(1)] },
    ['reap idle i-1 check:idle deregister'],
  ],
  [
    'a busy runner is never reaped before its hard timeout',
    {
      instances: [instance(1, 300)],
      registrations: [reg(1, 'online', true)],
      records: [record(1, { status: 'running' })],
    },
    [],
  ],
  [
    'hard timeout: past expires-at, even when busy',
    {
      instances: [instance(1, 300, { expiresAt: NOW - 1 })],
      registrations: [reg(1, 'online', true)],
      records: [record(1, { status: 'running', takenByRunner: nameOf(1) })],
    },
    ['reap hard-timeout i-1 check:none deregister'],
  ],
  [
    'orphan: an owner-tagged instance no live record names, past the grace period',
    { instances: [instance(2, 6)], registrations: [], records: [] },
    ['reap orphan i-2'],
  ],
  [
    'an orphan within the grace period is left alone',
    { instances: [instance(2, 4)], registrations: [], records: [] },
    [],
  ],
  [
    'the instance of a crashed earlier attempt is an orphan too',
    {
      instances: [instance(3, 6, { instanceId: 'i-old', runnerName: nameOf(3, 1) })],
      registrations: [reg(3, 'offline', false, 1)],
      records: [record(3, { launchAttempts: 2, instanceId: 'i-new', runnerName: nameOf(3, 2) })],
    },
    // Urgent repairs (lost launches) come before the rest.
    [`check lost-launch 3`, 'reap orphan i-old deregister'],
  ],
  [
    'an attempt in flight under its lease is left alone',
    {
      instances: [instance(4, 6, { instanceId: 'i-x', runnerName: nameOf(4, 2) })],
      registrations: [reg(4, 'offline', false, 2)],
      records: [
        record(4, {
          status: 'launching',
          launchAttempts: 2,
          attemptRunnerName: nameOf(4, 2),
          leaseUntil: NOW + MIN,
          instanceId: undefined,
        }),
      ],
    },
    [],
  ],
  [
    'ghost: our registration, offline, no instance → delete',
    { instances: [], registrations: [reg(5, 'offline')], records: [] },
    [`ghost ${nameOf(5)}`],
  ],
  [
    "someone else's offline runner is not ours to delete",
    {
      instances: [],
      registrations: [{ id: 9, name: 'build-box-1', status: 'offline', busy: false }],
      records: [],
    },
    [],
  ],
  [
    'a registration of an attempt in flight is not a ghost',
    {
      instances: [],
      registrations: [reg(6, 'offline')],
      records: [record(6, { status: 'launching', leaseUntil: NOW + MIN, instanceId: undefined })],
    },
    [],
  ],
  [
    'a just-launched instance may be missing from the listing: not a ghost, not lost yet',
    { instances: [], registrations: [reg(7, 'offline')], records: [record(7, { launchedAt: NOW - 30_000 })] },
    [],
  ],
  [
    'lost launch: recorded launched, instance gone before the job started',
    {
      instances: [instance(8, 3, { state: 'terminated' })],
      registrations: [],
      records: [record(8)],
    },
    ['check lost-launch 8'],
  ],
  [
    'lost launch learned from a state-change event',
    {
      instances: [instance(8, 3)],
      registrations: [reg(8, 'offline')],
      records: [record(8, { instanceGoneAt: NOW - 1000 })],
    },
    ['check lost-launch 8'],
  ],
  [
    'a lost launch checked a moment ago is not asked about again',
    { instances: [], registrations: [], records: [record(8, { checkedAt: NOW - MIN })] },
    [],
  ],
  [
    'stale: running on our runner whose instance is gone → ask GitHub',
    {
      instances: [],
      registrations: [],
      records: [record(9, { status: 'running', takenByRunner: nameOf(9) })],
    },
    ['check stale 9'],
  ],
  [
    'running on a foreign runner: asked now and then, and our spare runner reaped when idle',
    {
      instances: [instance(10, 11)],
      registrations: [reg(10, 'online')],
      records: [record(10, { status: 'running', takenByRunner: 'someone-else', startedAt: NOW - 40 * MIN })],
    },
    ['reap idle i-10 check:none deregister', 'check stale 10'],
  ],
  [
    'a waiting record older than the stale threshold is checked',
    { records: [record(11, { status: 'waiting', createdAt: NOW - 31 * MIN, instanceId: undefined })] },
    ['check waiting 11'],
  ],
  [
    'the runner of a finished job whose instance did not go: reaped',
    {
      instances: [instance(12, 20)],
      registrations: [],
      records: [record(12, { status: 'running', takenByRunner: nameOf(12) })],
    },
    ['reap finished i-12 check:none'],
  ],
];

test.each(rows)('%s', (_name, world, expected) => {
  expect(plan(world).map(brief)).toEqual(expected);
});

const R = { status: 'launched' as const };
const queued = { status: 'queued' as const, conclusion: null, runnerName: null };
const cases: [string, Parameters<typeof decideFromGitHub>[1], CheckReason, string][] = [
  ['unknown to GitHub → final', 'not-found', 'lost-launch', 'finalize'],
  [
    'completed → final with its conclusion',
    { status: 'completed', conclusion: 'cancelled', runnerName: null },
    'stale',
    'complete',
  ],
  [
    'in progress → running',
    { status: 'in_progress', conclusion: null, runnerName: 'x' },
    'lost-launch',
    'running',
  ],
  ['queued after a lost launch → reopen', queued, 'lost-launch', 'reopen'],
  ['queued after a boot timeout → reopen', queued, 'boot-timeout', 'reopen'],
  ['queued, record waiting → make due', queued, 'waiting', 'make-due'],
  ['queued, record stale pending → nothing (the retry has it)', queued, 'stale', 'nothing'],
  [
    'GitHub not asked, after a lost launch → reopen (an idle runner costs less than a lost job)',
    'unknown',
    'lost-launch',
    'reopen',
  ],
  ['GitHub not asked, after a boot timeout → reopen', 'unknown', 'boot-timeout', 'reopen'],
  ['GitHub not asked, stale or idle → nothing', 'unknown', 'stale', 'nothing'],
];
test.each(cases)('GitHub says: %s', (_n, job, reason, kind) => {
  expect(decideFromGitHub(R, job, reason).kind).toBe(kind);
});
