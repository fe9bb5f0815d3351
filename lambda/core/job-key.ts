/**
 * The identity of one job attempt. GitHub gives a re-run a new job id, but keying by run attempt as
 * well keeps attempts apart even where ids are reused, and GHES installations can share job ids with
 * other hosts, so the host is part of the key.
 */
export interface JobKey {
  /** `github.com` or the GHES host. */
  readonly host: string;
  /** `workflow_job.id`. */
  readonly jobId: number;
  /** `workflow_job.run_attempt`. */
  readonly runAttempt: number;
}

const PREFIX = 'job#';

/** The state table's partition key of a job. */
export function jobPartitionKey(key: JobKey): string {
  return `${PREFIX}${key.host}#${key.jobId}#${key.runAttempt}`;
}

/** Parses a partition key written by {@link jobPartitionKey}; undefined for any other item. */
export function parseJobPartitionKey(pk: string): JobKey | undefined {
  if (!pk.startsWith(PREFIX)) return undefined;
  const parts = pk.slice(PREFIX.length).split('#');
  if (parts.length !== 3) return undefined;
  const [host, jobId, runAttempt] = parts;
  const key = { host, jobId: Number(jobId), runAttempt: Number(runAttempt) };
  if (!host || !Number.isSafeInteger(key.jobId) || !Number.isSafeInteger(key.runAttempt)) return undefined;
  return key;
}

/** A short human-readable form for logs and tags: `github.com/123456789/1`. */
export function formatJobKey(key: JobKey): string {
  return `${key.host}/${key.jobId}/${key.runAttempt}`;
}

/** Parses {@link formatJobKey}'s form (the `job-key` tag); undefined for anything else. */
export function parseFormattedJobKey(text: string): JobKey | undefined {
  const m = /^([^/\s]+)\/(\d+)\/(\d+)$/.exec(text);
  if (!m) return undefined;
  const key = { host: m[1], jobId: Number(m[2]), runAttempt: Number(m[3]) };
  return Number.isSafeInteger(key.jobId) && Number.isSafeInteger(key.runAttempt) ? key : undefined;
}
