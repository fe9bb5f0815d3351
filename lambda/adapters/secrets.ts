/**
 * Reads secret values (the app's private key, the webhook secret) from Secrets Manager or SSM
 * Parameter Store (SecureString), whichever the deployment points at.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SecretRef } from '../core/settings';

/** Reads a secret's value; an absent or binary secret is an error naming where it looked. */
export async function readSecret(
  ref: SecretRef,
  ssm: SSMClient,
  secrets: SecretsManagerClient,
): Promise<string> {
  if (ref.kind === 'ssm') {
    const out = await ssm.send(new GetParameterCommand({ Name: ref.name, WithDecryption: true }));
    const value = out.Parameter?.Value;
    if (!value) throw new Error(`SSM parameter ${ref.name} has no value`);
    return value;
  }
  const out = await secrets.send(new GetSecretValueCommand({ SecretId: ref.id }));
  if (!out.SecretString)
    throw new Error(`secret ${ref.id} has no SecretString (binary secrets are not supported)`);
  return out.SecretString;
}
