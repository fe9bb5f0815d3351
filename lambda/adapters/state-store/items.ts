/**
 * DynamoDB item plumbing shared by the state store's parts: attribute constructors, the conditional
 * write helper, and the job record's item shape.
 */
import { AttributeValue, ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { jobPartitionKey } from '../../core/job-key';
import { JobRecord, NewJob } from '../../core/job-record';
import { JOB_RECORD_TTL_SECONDS, JobStatus } from '../../core/job-status';
import { PARTITION_KEY, PENDING_INDEX_SORT_KEY, TTL_ATTRIBUTE } from '../../core/state-schema';

/** A string attribute. */
export const S = (s: string): AttributeValue => ({ S: s });
/** A number attribute. */
export const N = (n: number): AttributeValue => ({ N: String(n) });
/** A TTL attribute `seconds` from `now` (epoch ms). */
export const ttl = (now: number, seconds: number): AttributeValue => N(Math.floor(now / 1000) + seconds);

function isConditionFailure(e: unknown): boolean {
  return (
    e instanceof ConditionalCheckFailedException ||
    (e as { name?: string })?.name === 'ConditionalCheckFailedException'
  );
}

/**
 * Runs a conditional write; a failed condition (someone else got there first, or the job moved on)
 * is an answer, not an error: it resolves to undefined.
 */
export async function ifConditionHolds<T>(write: () => Promise<T>): Promise<T | undefined> {
  try {
    return await write();
  } catch (e) {
    if (isConditionFailure(e)) return undefined;
    throw e;
  }
}

/** A job record from its item. */
export function jobFromItem(item: Record<string, AttributeValue>): JobRecord {
  const s = (k: string) => item[k]?.S;
  const n = (k: string) => (item[k]?.N !== undefined ? Number(item[k].N) : undefined);
  return {
    key: { host: s('host') ?? '', jobId: n('jobId') ?? 0, runAttempt: n('runAttempt') ?? 0 },
    runId: n('runId') ?? 0,
    repository: s('repository') ?? '',
    installationId: n('installationId') ?? 0,
    labels: item.labels?.L?.map((v) => v.S ?? '') ?? [],
    configName: s('configName') ?? '',
    deliveryId: s('deliveryId') ?? '',
    jobName: s('jobName'),
    status: (s('status') ?? 'pending') as JobStatus,
    createdAt: n('createdAt') ?? 0,
    launchAttempts: n('launchAttempts') ?? 0,
    attemptRunnerName: s('attemptRunnerName'),
    settledThrough: n('settledThrough'),
    leaseOwner: s('leaseOwner'),
    leaseUntil: n('leaseUntil'),
    nextAttemptAt: n(PENDING_INDEX_SORT_KEY),
    lastError: s('lastError'),
    instanceId: s('instanceId'),
    runnerName: s('runnerName'),
    runnerId: n('runnerId'),
    market: s('market'),
    launchedAt: n('launchedAt'),
    takenByRunner: s('takenByRunner'),
    startedAt: n('startedAt'),
    instanceGoneAt: n('instanceGoneAt'),
    conclusion: s('conclusion'),
    finalReason: s('finalReason'),
    checkedAt: n('checkedAt'),
    interruptedAt: n('interruptedAt'),
    notAdoptable: item.notAdoptable?.SS,
    runnerTakenBy: s('runnerTakenBy'),
    stolenReplacements: n('stolenReplacements'),
    onDemandReason: s('onDemandReason'),
  };
}

/** The attributes every job item starts with: its key, what the delivery said, when, and its TTL. */
export function newJobItem(job: NewJob, now: number): Record<string, AttributeValue> {
  return {
    [PARTITION_KEY]: S(jobPartitionKey(job.key)),
    kind: S('job'),
    host: S(job.key.host),
    jobId: N(job.key.jobId),
    runAttempt: N(job.key.runAttempt),
    runId: N(job.runId),
    repository: S(job.repository),
    installationId: N(job.installationId),
    labels: { L: job.labels.map(S) },
    configName: S(job.configName),
    deliveryId: S(job.deliveryId),
    ...(job.jobName ? { jobName: S(job.jobName) } : {}),
    createdAt: N(now),
    [TTL_ATTRIBUTE]: ttl(now, JOB_RECORD_TTL_SECONDS),
  };
}
