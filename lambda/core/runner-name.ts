import { createHash } from 'node:crypto';
import { JobKey } from './job-key';

/** GitHub's limit on a runner's name. */
const MAX_RUNNER_NAME = 64;

/** Hex digits of the digest that ends every runner name. */
const DIGEST_LENGTH = 6;

function digestOf(owner: string, key: JobKey): string {
  return createHash('sha256')
    .update(`${owner}#${key.host}#${key.jobId}#${key.runAttempt}`)
    .digest('hex')
    .slice(0, DIGEST_LENGTH);
}

/**
 * The runner name for one launch attempt of a job. It is unique per attempt so that a retried
 * generate-jitconfig call after a partial failure never meets 409 (name already exists), and it is
 * deterministic so that the same attempt always asks for the same name: whoever comes after a
 * crashed attempt finds its registration by name and its instance by the runner-name tag. The
 * digest covers the deployment's owner tag, so two deployments on one organization never take each
 * other's runners for their own. The job id stays readable in the GitHub UI.
 */
export function runnerName(prefix: string, key: JobKey, launchAttempt: number, owner: string): string {
  const name = `${prefix}-${key.jobId}-${key.runAttempt}-${launchAttempt}-${digestOf(owner, key)}`;
  return name.length <= MAX_RUNNER_NAME ? name : name.slice(name.length - MAX_RUNNER_NAME);
}

/** What a runner name of ours says about its job. */
export interface ParsedRunnerName {
  readonly key: JobKey;
  readonly launchAttempt: number;
}

/**
 * Parses a runner name written by {@link runnerName} for this deployment and host; undefined for
 * anyone else's runner (another deployment, a hand-registered runner, a name that merely looks alike).
 * Names are read from the right, since a long config name is cut from the left.
 */
export function parseRunnerName(name: string, host: string, owner: string): ParsedRunnerName | undefined {
  const m = /-(\d+)-(\d+)-(\d+)-([0-9a-f]{6})$/.exec(name);
  if (!m) return undefined;
  const key: JobKey = { host, jobId: Number(m[1]), runAttempt: Number(m[2]) };
  const launchAttempt = Number(m[3]);
  if (![key.jobId, key.runAttempt, launchAttempt].every(Number.isSafeInteger)) return undefined;
  return digestOf(owner, key) === m[4] ? { key, launchAttempt } : undefined;
}

/**
 * The EC2 ClientToken of one CreateFleet round of a launch attempt in one market: the same call
 * retried after a timeout or a throttle returns the same fleet instead of launching a second
 * instance. EC2 accepts up to 64 ASCII characters. Derived from the job key and the attempt, so the
 * job record's attempt number names every token the attempt may have used.
 */
export function fleetClientToken(
  key: JobKey,
  launchAttempt: number,
  market: 'spot' | 'on-demand',
  round: number,
): string {
  return createHash('sha256')
    .update(`${key.host}#${key.jobId}#${key.runAttempt}#${launchAttempt}#${market}#${round}`)
    .digest('hex')
    .slice(0, 64);
}
