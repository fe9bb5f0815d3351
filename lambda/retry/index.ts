/**
 * The scheduled-retry Lambda (EventBridge, every minute): launches the jobs whose launch is due.
 */
import { createRuntime, Runtime } from '../runtime';
import { retryDueJobs, RetrySummary } from './retry-due-jobs';

let runtime: Runtime | undefined;

/** Lambda entry point. */
export async function handler(
  _event: unknown,
  context?: { getRemainingTimeInMillis(): number },
): Promise<RetrySummary> {
  runtime ??= createRuntime(process.env);
  const remaining = context?.getRemainingTimeInMillis() ?? 60_000;
  const summary = await retryDueJobs(runtime, { stopBy: Date.now() + remaining - 10_000 });
  if (summary.due > 0) runtime.logger.info('scheduled retry done', { ...summary });
  return summary;
}
