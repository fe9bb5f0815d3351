// Shared setup for the EC2 emulator's tests: a fresh emulator and a raw (non-retrying) real
// EC2Client per test, a typical instant-fleet request, and an assertion on SDK error names.
import { CreateFleetCommandInput, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { Ec2Emulator } from './ec2-emulator';

/** Dummy credentials: the emulator does not check signatures, but the SDK insists on signing. */
export const credentials = { accessKeyId: 'AKIDEMULATOR', secretAccessKey: 'emulator-secret' };

/** An emulator and a client that surfaces raw faults (no SDK retries). */
export interface Ec2TestRig {
  readonly ec2: Ec2Emulator;
  readonly client: EC2Client;
}

/** Starts an emulator and a `maxAttempts: 1` client pointed at it. */
export async function startEc2Rig(): Promise<Ec2TestRig> {
  const ec2 = await Ec2Emulator.start();
  const client = new EC2Client({ region: 'us-east-1', endpoint: ec2.endpoint, credentials, maxAttempts: 1 });
  return { ec2, client };
}

/** Stops what {@link startEc2Rig} started. */
export async function stopEc2Rig(rig: Ec2TestRig): Promise<void> {
  rig.client.destroy();
  await rig.ec2.stop();
}

/** A spot (by default) instant fleet over c5.large/subnet-a then m5.large/subnet-b. */
export function fleetInput(overrides: Partial<CreateFleetCommandInput> = {}): CreateFleetCommandInput {
  return {
    Type: 'instant',
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Latest' },
        Overrides: [
          { InstanceType: 'c5.large', SubnetId: 'subnet-a' },
          { InstanceType: 'm5.large', SubnetId: 'subnet-b' },
        ],
      },
    ],
    TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
    SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
    TagSpecifications: [
      {
        ResourceType: 'instance',
        Tags: [
          { Key: 'Name', Value: 'ephemeral-runner' },
          { Key: 'runner:job', Value: '42' },
        ],
      },
    ],
    ...overrides,
  };
}

/** Asserts that `promise` rejects with the SDK exception `name` and the HTTP `status`. */
export async function expectEc2Error(
  promise: Promise<unknown>,
  name: string,
  status: number,
): Promise<EC2ServiceException> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EC2ServiceException);
  const ex = err as EC2ServiceException;
  expect(ex.name).toBe(name);
  expect(ex.$metadata.httpStatusCode).toBe(status);
  return ex;
}
