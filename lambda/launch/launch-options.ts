/**
 * What a launch attempt takes from outside the job's own record: whether it goes on-demand (the
 * re-run of a job a spot interruption failed; the config's circuit breaker open) and the job's
 * binding labels. Shared by the webhook, the retry and the interruption handler. A read that fails
 * leaves the config's own spot strategy: a launch is never held up by these reads.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { splitBindingLabels } from '../core/binding-labels';
import { breakerForcesOnDemand } from '../core/circuit-breaker';
import { JobRecord } from '../core/job-record';
import { StoredRunnerConfig } from '../core/runner-config';
import { Settings } from '../core/settings';
import { StateStore } from '../adapters/state-store';

/** The options of one launch attempt. */
export interface LaunchOptions {
  readonly onDemandReason?: string;
  readonly bindingLabels: readonly string[];
}

/** Why the re-run of an interrupted job launches on-demand. */
export const RERUN_ON_DEMAND = 're-run of a job a spot interruption failed';
/** Why a config launches on-demand while its breaker is open. */
export const BREAKER_ON_DEMAND = 'the spot circuit breaker of the config is open';

/** Reads what decides a launch's market, and splits the job's binding labels off its labels. */
export async function launchOptions(
  store: StateStore,
  settings: Pick<Settings, 'bindingLabelPattern'>,
  config: StoredRunnerConfig,
  job: Pick<JobRecord, 'key' | 'runId' | 'jobName' | 'labels' | 'onDemandReason'>,
  log: Pick<Logger, 'warn'>,
  now: number,
): Promise<LaunchOptions> {
  const bindingLabels = splitBindingLabels(job.labels, settings.bindingLabelPattern).binding;
  if (job.onDemandReason) return { onDemandReason: job.onDemandReason, bindingLabels };
  if (config.spotStrategy === 'onDemandOnly') return { bindingLabels };
  const failOpen = (what: string) => (e: Error) => {
    log.warn(`could not read ${what}; launching by the config's spot strategy`, { error: e.message });
    return undefined;
  };
  const [rerunNames, breaker] = await Promise.all([
    job.key.runAttempt > 1 && job.jobName
      ? store.interruptions
          .onDemandJobNames(job.key.host, job.runId, job.key.runAttempt)
          .catch(failOpen('the re-run marker'))
      : undefined,
    config.spotStrategy === 'spotPreferred'
      ? store.interruptions.breaker(config.name).catch(failOpen('the circuit breaker'))
      : undefined,
  ]);
  if (job.jobName && rerunNames?.has(job.jobName)) return { onDemandReason: RERUN_ON_DEMAND, bindingLabels };
  if (breakerForcesOnDemand(config.spotStrategy, breaker, now))
    return { onDemandReason: BREAKER_ON_DEMAND, bindingLabels };
  return { bindingLabels };
}
