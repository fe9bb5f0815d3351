/**
 * The removal Lambda, a CloudFormation custom resource: on Delete it terminates this deployment's
 * instances and deletes its runner registrations ({@link tearDown}); Create and Update do nothing. It
 * always answers CloudFormation before its own timeout, SUCCESS even when something is left (logged,
 * with how to remove it): a removal that fails must not hold the stack deletion.
 */
import { createRuntime, Runtime } from '../runtime';
import { answerOf, CustomResourceRequest, sendAnswer } from './cloudformation';
import { tearDown } from './teardown-run';

let runtime: Runtime | undefined;

/** Time kept back from the invocation's end to answer CloudFormation. */
const ANSWER_MARGIN_MS = 20_000;

/** Lambda entry point. */
export async function handler(
  event: CustomResourceRequest,
  context?: { getRemainingTimeInMillis(): number },
): Promise<{ status: string; reason: string }> {
  const remaining = context?.getRemainingTimeInMillis() ?? 180_000;
  const end = Date.now() + remaining;
  const stopBy = end - Math.min(ANSWER_MARGIN_MS, remaining / 3);
  let reason = `${event.RequestType}: nothing to do`;
  try {
    if (event.RequestType === 'Delete') {
      runtime ??= createRuntime(process.env);
      const summary = await tearDown(runtime, { stopBy });
      reason = summary.complete
        ? `removed: ${summary.terminated} instance(s) terminated, ${summary.deregistered} registration(s) deleted`
        : `incomplete, the deletion goes on: left ${
            summary.instancesListed
              ? `${summary.instancesLeft.length} instance(s) [${summary.instancesLeft.join(', ')}]`
              : 'instances unknown (EC2 could not list them)'
          } and ${summary.registrationsLeft.length} registration(s) listed; see the removal function's log`;
    }
  } catch (e) {
    // A removal that cannot even start (settings, a crash) is logged; the stack deletion goes on.
    reason = `removal failed, the deletion goes on: ${(e as Error).message}`;
    console.error(JSON.stringify({ level: 'ERROR', message: 'removal failed', error: (e as Error).message }));
  }
  const answer = answerOf(event, 'SUCCESS', reason);
  try {
    await sendAnswer(event.ResponseURL, answer, end - 2000);
  } catch (e) {
    console.error(JSON.stringify({ level: 'ERROR', message: (e as Error).message }));
  }
  return { status: answer.Status, reason };
}
