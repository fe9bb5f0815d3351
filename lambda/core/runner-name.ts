import { createHash } from 'node:crypto';
import { JobKey } from './job-key';

/** GitHub's limit on a runner's name. */
const MAX_RUNNER_NAME = 64;

/**
 * The runner name for one launch attempt of a job. It is unique per attempt so that a retried
 * generate-jitconfig call after a partial failure never meets 409 (name already exists), and it is
 * deterministic so that the same attempt always asks for the same name (its registration can be
 * found and deleted). The job id stays readable in the GitHub UI.
 */
export function runnerName(prefix: string, key: JobKey, launchAttempt: number): string {
  const digest = createHash('sha256')
    .update(`${key.host}#${key.jobId}#${key.runAttempt}`)
    .digest('hex')
    .slice(0, 6);
  const name = `${prefix}-${key.jobId}-${key.runAttempt}-${launchAttempt}-${digest}`;
  return name.length <= MAX_RUNNER_NAME ? name : name.slice(name.length - MAX_RUNNER_NAME);
}

/**
 * The EC2 ClientToken of one CreateFleet round of a launch attempt in one market: the same call
 * retried after a timeout or a throttle returns the same fleet instead of launching a second
 * instance. EC2 accepts up to 64 ASCII characters.
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
