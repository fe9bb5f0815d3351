/**
 * The reconciler Lambda: on its schedule, and on EC2 instance state changes, it compares the job
 * records with the instances and runner registrations that exist and repairs the difference.
 * (Being written: the run itself lands in the next commits.)
 */
import { createRuntime, Runtime } from '../runtime';

let runtime: Runtime | undefined;

/** Lambda entry point. */
export async function handler(_event: unknown): Promise<Record<string, number>> {
  runtime ??= createRuntime(process.env);
  return {};
}
