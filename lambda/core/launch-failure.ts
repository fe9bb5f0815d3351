/**
 * What a failed launch asks of a human, named by the prop to change: pure functions over what EC2
 * said (a CreateFleet error, a per-pool fleet error, the state reason of an instance that ended during
 * its launch). The launch path and the reconciler log the hint with the error.
 */

/** The prop of the runners' EBS key, as the construct names it. */
export const EBS_KEY_PROP = 'ebsEncryptionKey';

const KMS_HINT =
  `the runners' EBS volumes could not be encrypted: EBS encryption by default (or an encrypted AMI) uses a ` +
  `customer-managed KMS key that the launch may not use. Set the construct's ${EBS_KEY_PROP} to that key ` +
  `(the Lambdas then get its grants) and let the Spot service-linked role AWSServiceRoleForEC2Spot use it ` +
  `(README, "Customer-managed KMS keys")`;

/** Whether EC2's answer is about a KMS key. */
function isKmsFailure(code: string, message: string): boolean {
  return /kms/i.test(code) || /\bkms\b|kms key|customer master key|InvalidKMSKey/i.test(message);
}

/** Whether EC2's answer refuses an instance type of the request. */
function isInstanceTypeFailure(code: string, message: string): boolean {
  return (
    /InstanceType|InvalidFleetConfig|Unsupported|InvalidParameterValue|InvalidParameterCombination/.test(
      code,
    ) && /instance ?type/i.test(message)
  );
}

/**
 * The hint for a launch EC2 refused (the whole CreateFleet call, or every pool of it), or undefined
 * when the error says nothing a config or a prop could fix.
 */
export function launchRefusalHint(code: string, message: string, configName: string): string | undefined {
  if (isKmsFailure(code, message)) return KMS_HINT;
  if (isInstanceTypeFailure(code, message))
    return (
      `EC2 refused an instance type of runner config "${configName}": check its instanceTypes ` +
      `(runnerConfigs[].instanceTypes of the construct): a type that does not exist, or that this region ` +
      `or these subnets' Availability Zones do not offer`
    );
  return undefined;
}

/**
 * The hint for an instance that ended during its launch (pending → terminated), by its state reason
 * code. `Client.InternalError` ("Client error on launch") is how EC2 reports a volume it could not
 * encrypt or decrypt with a KMS key the launch may not use.
 */
export function launchTerminationHint(stateReasonCode: string | undefined): string | undefined {
  if (stateReasonCode === 'Client.InternalError' || /KMS/i.test(stateReasonCode ?? '')) return KMS_HINT;
  if (stateReasonCode === 'Client.VolumeLimitExceeded')
    return 'the account reached its EBS volume or storage limit: raise it (Service Quotas, Amazon EBS) or lower the runners rootVolumeSize';
  return undefined;
}
