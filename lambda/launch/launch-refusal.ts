/**
 * The launch path's words for a refused launch: what EC2 said, with what to change when the error
 * names it (see core/launch-failure).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { launchRefusalHint } from '../core/launch-failure';
import { CallFailedError } from '../adapters/retrying';

/** What to check when every pool of a fleet failed for a configuration reason. */
export function fleetRefusalAdvice(
  result: { readonly errorCodes: readonly string[]; readonly message: string },
  configName: string,
): string {
  const hint = result.errorCodes
    .map((code) => launchRefusalHint(code, result.message, configName))
    .find((h) => h !== undefined);
  return hint ?? 'check the launch template, subnets and the Lambda role';
}

/**
 * A `.catch` for a CreateFleet call: a call EC2 refused as a whole (a 4xx, not retried) is logged
 * with what to fix when the error names it (an instance type of the config, a KMS key); the error is
 * rethrown either way.
 */
export function logRefusal(logger: Pick<Logger, 'error'>, configName: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof CallFailedError && e.failure.kind === 'rejected') {
      const message = (e.cause as { message?: string } | undefined)?.message ?? '';
      const hint = launchRefusalHint(e.failure.code, message, configName);
      if (hint)
        logger.error(`EC2 refused the fleet request: ${hint}`, { code: e.failure.code, error: message });
    }
    throw e;
  };
}
