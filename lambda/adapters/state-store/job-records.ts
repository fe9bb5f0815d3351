/**
 * Job records, the launch under a lease: the claim, the take-over of a due job (each naming its
 * attempt: write-ahead), and the lease holder's transitions (launched, deferred, expired). Each
 * write that guards exactly-once behaviour is a single-item conditional write (no transactions).
 */
import { AttributeValue, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { JobKey } from '../../core/job-key';
import { JobRecord, LaunchRecord, NewJob } from '../../core/job-record';
import { JOB_RECORD_TTL_SECONDS } from '../../core/job-status';
import {
  LIVE_INDEX_PARTITION_KEY,
  LIVE_INDEX_VALUE,
  PARTITION_KEY,
  PENDING_INDEX_PARTITION_KEY,
  PENDING_INDEX_SORT_KEY,
  PENDING_INDEX_VALUE,
} from '../../core/state-schema';
import { ifConditionHolds, N, newJobItem, S, ttl } from './items';
import { JobProgress } from './job-progress';

export type { Finalization } from './job-progress';

/** The job records of one table: the launch transitions, and (inherited) everything else. */
export class JobRecords extends JobProgress {
  /**
   * Claims a job for launching: creates its record in `launching` under a lease, naming attempt 1
   * and its runner (write-ahead), unless a record already exists (a redelivery, a duplicate
   * `queued`, a concurrent delivery). A record left by `waiting` is claimable. The lease's expiry
   * doubles as the time the scheduled retry takes over should this owner die, so the record is in
   * the pending index from the start, and in the live index until it is final.
   * @returns true when this caller owns the job now.
   */
  async claim(
    job: NewJob,
    attemptRunnerName: string,
    leaseOwner: string,
    now: number,
    leaseMs: number,
  ): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      ...newJobItem(job, now),
      status: S('launching'),
      launchAttempts: N(1),
      attemptRunnerName: S(attemptRunnerName),
      leaseOwner: S(leaseOwner),
      leaseUntil: N(now + leaseMs),
      [PENDING_INDEX_PARTITION_KEY]: S(PENDING_INDEX_VALUE),
      [PENDING_INDEX_SORT_KEY]: N(now + leaseMs),
      [LIVE_INDEX_PARTITION_KEY]: S(LIVE_INDEX_VALUE),
    };
    const done = await ifConditionHolds(() =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(#pk) OR #status = :waiting',
          ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#status': 'status' },
          ExpressionAttributeValues: { ':waiting': S('waiting') },
        }),
      ),
    );
    return done !== undefined;
  }

  /**
   * Takes over a job that is due (pending with its next attempt due, or launching under an expired
   * lease) as its next launch attempt, naming that attempt and its runner in the same write
   * (write-ahead). `seen` is the record as listed: the write holds only if nobody moved the job
   * since, so the attempt number, and with it the runner name, is ours alone.
   * @returns the record as taken, or undefined when someone else has it or it is no longer due.
   */
  async takeOver(
    seen: Pick<JobRecord, 'key' | 'launchAttempts'>,
    attemptRunnerName: string,
    leaseOwner: string,
    now: number,
    leaseMs: number,
  ): Promise<JobRecord | undefined> {
    const out = await this.update(
      seen.key,
      'SET #status = :launching, leaseOwner = :me, leaseUntil = :until, #next = :until, launchAttempts = :attempt, attemptRunnerName = :rn',
      'launchAttempts = :seen AND ((#status = :pending AND #next <= :now) OR (#status = :launching AND leaseUntil < :now))',
      {
        ':launching': S('launching'),
        ':pending': S('pending'),
        ':me': S(leaseOwner),
        ':until': N(now + leaseMs),
        ':now': N(now),
        ':seen': N(seen.launchAttempts),
        ':attempt': N(seen.launchAttempts + 1),
        ':rn': S(attemptRunnerName),
      },
      'ALL_NEW',
    );
    return out === true ? undefined : out;
  }

  /**
   * Takes a launched job back as its next launch attempt because its runner can no longer serve it:
   * the spot instance will be interrupted, or the runner was taken by another job. Holds only while
   * the record still names `runnerName` as its runner and `seen.launchAttempts` as its attempt, so
   * two events about one runner take the job once. The runner is written to `notAdoptable`, so no
   * later attempt adopts it; the job is due for the scheduled retry when the lease expires.
   * @returns the record as taken, or undefined when the job moved on.
   */
  async takeOverLaunched(
    seen: Pick<JobRecord, 'key' | 'launchAttempts'>,
    runnerName: string,
    next: {
      attemptRunnerName: string;
      leaseOwner: string;
      reason: string;
      takenBy?: string;
      onDemandReason?: string;
    },
    now: number,
    leaseMs: number,
  ): Promise<JobRecord | undefined> {
    const stolen = next.takenBy !== undefined;
    const out = await this.update(
      seen.key,
      'SET #status = :launching, leaseOwner = :me, leaseUntil = :until, #gsi = :gsi, #next = :until, launchAttempts = :attempt, attemptRunnerName = :rn, lastError = :reason' +
        (stolen ? ', runnerTakenBy = :by' : '') +
        (next.onDemandReason ? ', onDemandReason = :od' : '') +
        ' ADD notAdoptable :old' +
        (stolen ? ', stolenReplacements :one' : '') +
        ' REMOVE instanceId, runnerName, runnerId, market, instanceGoneAt',
      '#status = :launched AND runnerName = :old1 AND launchAttempts = :seen',
      {
        ':launching': S('launching'),
        ':launched': S('launched'),
        ':me': S(next.leaseOwner),
        ':until': N(now + leaseMs),
        ':gsi': S(PENDING_INDEX_VALUE),
        ':attempt': N(seen.launchAttempts + 1),
        ':seen': N(seen.launchAttempts),
        ':rn': S(next.attemptRunnerName),
        ':reason': S(next.reason),
        ':old': { SS: [runnerName] },
        ':old1': S(runnerName),
        ...(stolen ? { ':by': S(next.takenBy!), ':one': N(1) } : {}),
        ...(next.onDemandReason ? { ':od': S(next.onDemandReason) } : {}),
      },
      'ALL_NEW',
    );
    return out === true ? undefined : out;
  }

  /** Records on a launched job that `runnerName`, its runner, was taken by `takenBy`, without relaunching. */
  async noteRunnerTaken(key: JobKey, runnerName: string, takenBy: string): Promise<boolean> {
    const done = await this.update(
      key,
      'SET runnerTakenBy = :by ADD notAdoptable :old',
      '#status = :launched AND runnerName = :rn',
      { ':by': S(takenBy), ':old': { SS: [runnerName] }, ':rn': S(runnerName), ':launched': S('launched') },
    );
    return done !== undefined;
  }

  /** An update that holds only while `leaseOwner` holds the job's launch lease. */
  private async updateIfOwner(
    key: JobKey,
    leaseOwner: string,
    update: string,
    values: Record<string, AttributeValue>,
  ): Promise<boolean> {
    const done = await this.update(key, update, '#status = :launching AND leaseOwner = :owner', {
      ...values,
      ':launching': S('launching'),
      ':owner': S(leaseOwner),
    });
    return done !== undefined;
  }

  /** Records a launch. False when the lease was lost or the job moved on meanwhile. */
  async markLaunched(key: JobKey, leaseOwner: string, launch: LaunchRecord, now: number): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      'SET #status = :launched, instanceId = :iid, runnerName = :rn, runnerId = :rid, market = :market, launchedAt = :now, settledThrough = launchAttempts, #ttl = :ttl REMOVE leaseOwner, leaseUntil, #gsi, #next, lastError, instanceGoneAt',
      {
        ':launched': S('launched'),
        ':iid': S(launch.instanceId),
        ':rn': S(launch.runnerName),
        ':rid': N(launch.runnerId),
        ':market': S(launch.market),
        ':now': N(now),
        ':ttl': ttl(now, JOB_RECORD_TTL_SECONDS),
      },
    );
  }

  /**
   * Names the instance of a job that started on the very runner being launched before the launch
   * was recorded (its `in_progress` overtook our record write).
   */
  async attachInstanceToRunning(key: JobKey, launch: LaunchRecord, now: number): Promise<boolean> {
    const done = await this.update(
      key,
      'SET instanceId = :iid, runnerName = :rn, runnerId = :rid, market = :market, launchedAt = :now, settledThrough = launchAttempts REMOVE leaseOwner, leaseUntil',
      '#status = :running AND takenByRunner = :rn',
      {
        ':running': S('running'),
        ':iid': S(launch.instanceId),
        ':rn': S(launch.runnerName),
        ':rid': N(launch.runnerId),
        ':market': S(launch.market),
        ':now': N(now),
      },
    );
    return done !== undefined;
  }

  /**
   * Leaves a job pending for the scheduled retry, with the reason. `settled`: the failed attempt left
   * nothing behind, so the next one need not look. False when the lease was lost.
   */
  async defer(
    key: JobKey,
    leaseOwner: string,
    reason: string,
    nextAttemptAt: number,
    settled: boolean,
  ): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      `SET #status = :pending, lastError = :reason, #gsi = :gsi, #next = :next${settled ? ', settledThrough = launchAttempts' : ''} REMOVE leaseOwner, leaseUntil`,
      {
        ':pending': S('pending'),
        ':reason': S(reason.slice(0, 1000)),
        ':gsi': S(PENDING_INDEX_VALUE),
        ':next': N(nextAttemptAt),
      },
    );
  }

  /** Gives a job up under its lease: it will not be launched. False when the lease was lost. */
  async expire(key: JobKey, leaseOwner: string, reason: string): Promise<boolean> {
    return this.updateIfOwner(
      key,
      leaseOwner,
      'SET #status = :expired, lastError = :reason, finalReason = :reason REMOVE leaseOwner, leaseUntil, #gsi, #next, #live',
      {
        ':expired': S('expired'),
        ':reason': S(reason),
      },
    );
  }
}
