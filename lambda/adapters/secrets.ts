/**
 * Reads secret values (the app's private key, the webhook secret) from Secrets Manager or SSM
 * Parameter Store (SecureString), whichever the deployment points at.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SecretRef } from '../core/settings';

/**
 * Reads a secret's value; an absent, unreadable or binary secret is an error naming the construct's
 * prop (`prop`, such as `github.privateKey`) and where it looked. Throttling and network errors are
 * rethrown as they are, for the callers' retries.
 */
export async function readSecret(
  ref: SecretRef,
  ssm: SSMClient,
  secrets: SecretsManagerClient,
  prop = 'the secret',
): Promise<string> {
  const where = ref.kind === 'ssm' ? `SSM parameter ${ref.name}` : `Secrets Manager secret ${ref.id}`;
  try {
    if (ref.kind === 'ssm') {
      const out = await ssm.send(new GetParameterCommand({ Name: ref.name, WithDecryption: true }));
      const value = out.Parameter?.Value;
      if (!value) throw new SecretError(`${prop}: ${where} has no value`);
      return value;
    }
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: ref.id }));
    if (!out.SecretString)
      throw new SecretError(`${prop}: ${where} has no SecretString (binary secrets are not supported)`);
    return out.SecretString;
  } catch (e) {
    if (e instanceof SecretError) throw e;
    const advice = secretFailureAdvice(
      (e as { name?: string }).name,
      (e as Error).message ?? '',
      prop,
      where,
    );
    if (advice === undefined) throw e;
    throw new SecretError(advice, { cause: e });
  }
}

/** A secret that cannot be read as the deployment names it: a human must fix the secret or the prop. */
export class SecretError extends Error {}

/** What to fix when reading a secret failed, or undefined for a failure to retry (throttling, network). */
export function secretFailureAdvice(
  code: string | undefined,
  message: string,
  prop: string,
  where: string,
): string | undefined {
  if (code === 'ResourceNotFoundException' || code === 'ParameterNotFound')
    return `${prop}: ${where} does not exist (${code}): create it with the value, or point ${prop} at the one that holds it`;
  if (code === 'AccessDeniedException' && /kms/i.test(message))
    return `${prop}: ${where} is encrypted with a KMS key the Lambdas may not use (${message}): give the key to ${prop} (the encryptionKey option of GitHubSecret.fromSecretName, fromSecretsManager or fromSsmParameter)`;
  if (code === 'AccessDeniedException' || code === 'AccessDenied')
    return `${prop}: the Lambdas may not read ${where} (${message}): check that ${prop} names it as deployed`;
  if (code === 'DecryptionFailure' || code === 'InvalidKeyId' || code === 'KMSAccessDeniedException')
    return `${prop}: ${where} cannot be decrypted (${code}: ${message}): give its KMS key to ${prop} (the encryptionKey option)`;
  return undefined;
}
