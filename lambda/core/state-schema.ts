/**
 * The names the state table and the runner instances share. `lib/` builds the table and the IAM
 * policies from these; the Lambdas and the boot script read and write by them.
 */

/** Partition key attribute of the state table (string). The table has no sort key. */
export const PARTITION_KEY = 'pk';

/** TTL attribute (epoch seconds) of the state table. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** Sparse global secondary index of the jobs waiting for a (re)try of their launch. */
export const PENDING_INDEX = 'pending';
/** Partition key of {@link PENDING_INDEX}: present (with value {@link PENDING_INDEX_VALUE}) only while pending. */
export const PENDING_INDEX_PARTITION_KEY = 'pendingPk';
/** The one value of {@link PENDING_INDEX_PARTITION_KEY}. */
export const PENDING_INDEX_VALUE = 'pending';
/** Sort key of {@link PENDING_INDEX}: when the next attempt is due (epoch ms, number). */
export const PENDING_INDEX_SORT_KEY = 'nextAttemptAt';

/**
 * Sparse global secondary index of the job records that are not final (the reconciler's list of
 * what we believe is live). Its partition key is present, with {@link LIVE_INDEX_VALUE}, from the
 * claim (or `waiting`) until the record becomes final.
 */
export const LIVE_INDEX = 'live';
/** Partition key of {@link LIVE_INDEX}. */
export const LIVE_INDEX_PARTITION_KEY = 'livePk';
/** The one value of {@link LIVE_INDEX_PARTITION_KEY}. */
export const LIVE_INDEX_VALUE = 'live';
/**
 * The value of {@link LIVE_INDEX_PARTITION_KEY} on the entries of interrupted jobs waiting for their
 * re-run: a second partition of the same sparse index, so the reconciler lists them with one query.
 */
export const RERUN_INDEX_VALUE = 'rerun';
/** Sort key of {@link LIVE_INDEX}: when the record was created (epoch ms, number). */
export const LIVE_INDEX_SORT_KEY = 'createdAt';

/**
 * Attribute of a JIT handoff item holding the runner's encoded JIT config. The item's partition key is
 * the instance's ARN (`arn:{partition}:ec2:{region}:{account}:instance/{id}`), exactly the value of the
 * `ec2:SourceInstanceARN` key in the instance's credentials, so that an IAM condition on
 * `dynamodb:LeadingKeys` lets an instance read (and delete) only its own item.
 */
export const HANDOFF_JIT_ATTRIBUTE = 'jitConfig';

/** How long a JIT handoff item lives before DynamoDB's TTL removes it, in seconds. */
export const HANDOFF_TTL_SECONDS = 60 * 60;

/** The partition key of the JIT handoff item of one instance. */
export function handoffKey(partition: string, region: string, account: string, instanceId: string): string {
  return `arn:${partition}:ec2:${region}:${account}:instance/${instanceId}`;
}

/** Prefix of every tag this project puts on the instances it launches. */
export const TAG_PREFIX = 'ephemeral-runners:';

/** Tags on every runner instance. */
export const INSTANCE_TAGS = {
  /** The job key (see `JobKey`) the instance was launched for. */
  jobKey: `${TAG_PREFIX}job-key`,
  /** `owner/repo` of the job. */
  repository: `${TAG_PREFIX}repository`,
  /** The runner config's name. */
  config: `${TAG_PREFIX}config`,
  /** ISO-8601 time after which the instance is stuck and may be reaped. */
  expiresAt: `${TAG_PREFIX}expires-at`,
  /** The runner's registered name at GitHub. */
  runnerName: `${TAG_PREFIX}runner-name`,
  /** The GitHub App installation that registered the runner (the reconciler lists its scope with it). */
  installationId: `${TAG_PREFIX}installation-id`,
  /** Identifies the deployment (construct) that owns the instance; the reaper only touches its own. */
  owner: `${TAG_PREFIX}owner`,
} as const;
