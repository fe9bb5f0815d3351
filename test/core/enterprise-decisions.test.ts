/**
 * Issue 10's pure decisions: the hints a refused launch logs (naming the prop to change), what a
 * secret that cannot be read asks for, and the removal plan.
 */
import { launchRefusalHint, launchTerminationHint } from '../../lambda/core/launch-failure';
import { planTeardown, teardownComplete, TeardownSnapshot } from '../../lambda/core/teardown-plan';
import { runnerName } from '../../lambda/core/runner-name';
import { secretFailureAdvice } from '../../lambda/adapters/secrets';
import { fleetRefusalAdvice } from '../../lambda/launch/launch-refusal';
import type { InstanceView } from '../../lambda/core/fleet-views';

describe('a refused launch names what to change', () => {
  test.each<[string, string, string, RegExp | undefined]>([
    [
      'the whole call, an unknown type',
      'InvalidParameterValue',
      "Invalid value 'm7i.lage' for InstanceType.",
      /instance type of runner config "linux": check its instanceTypes \(runnerConfigs\[\]\.instanceTypes/,
    ],
    [
      'a fleet configuration error naming instance types',
      'InvalidFleetConfig',
      'Invalid: Parameter: InstanceTypes. Unsupported instancetypes specified in the batch request',
      /check its instanceTypes/,
    ],
    [
      'a type the zone does not offer',
      'Unsupported',
      'Your requested instance type (m7i.large) is not supported in your requested Availability Zone (us-east-1e).',
      /check its instanceTypes/,
    ],
    [
      'a KMS key in a bad state',
      'InvalidKMSKey.InvalidState',
      'The KMS key provided is in an incorrect state',
      /Set the construct's ebsEncryptionKey to that key .* AWSServiceRoleForEC2Spot/,
    ],
    [
      'a KMS word in the message',
      'InvalidParameterValue',
      'kms key arn:aws:kms:... is not accessible',
      /ebsEncryptionKey/,
    ],
    ['capacity says nothing to fix', 'InsufficientInstanceCapacity', 'no m7i.large capacity', undefined],
    [
      'a bad subnet is not an instance type',
      'InvalidSubnetID.NotFound',
      "The subnet ID 'subnet-x' does not exist",
      undefined,
    ],
  ])('%s', (_case, code, message, expected) => {
    const hint = launchRefusalHint(code, message, 'linux');
    if (expected === undefined) expect(hint).toBeUndefined();
    else expect(hint).toMatch(expected);
  });

  test('a fleet whose pools all failed: the advice of the first pool error that names a fix', () => {
    expect(
      fleetRefusalAdvice(
        {
          errorCodes: ['InsufficientInstanceCapacity', 'InvalidParameterValue'],
          message: "Invalid value 'x.y' for InstanceType",
        },
        'gpu',
      ),
    ).toMatch(/runner config "gpu"/);
    expect(
      fleetRefusalAdvice({ errorCodes: ['InvalidSubnetID.NotFound'], message: 'no subnet' }, 'gpu'),
    ).toBe('check the launch template, subnets and the Lambda role');
  });

  test.each<[string | undefined, RegExp | undefined]>([
    ['Client.InternalError', /ebsEncryptionKey/],
    ['Client.InvalidKMSKey.InvalidState', /ebsEncryptionKey/],
    ['Client.VolumeLimitExceeded', /EBS volume or storage limit/],
    ['Server.SpotInstanceTermination', undefined],
    ['Client.InstanceInitiatedShutdown', undefined],
    [undefined, undefined],
  ])('an instance ended during its launch with %s', (code, expected) => {
    const hint = launchTerminationHint(code);
    if (expected === undefined) expect(hint).toBeUndefined();
    else expect(hint).toMatch(expected);
  });
});

describe('a secret that cannot be read names the prop and where it looked', () => {
  const where = 'Secrets Manager secret github/app-key';
  test.each<[string | undefined, string, RegExp | undefined]>([
    [
      'ResourceNotFoundException',
      "Secrets Manager can't find the specified secret.",
      /^github\.privateKey: Secrets Manager secret github\/app-key does not exist \(ResourceNotFoundException\)/,
    ],
    ['ParameterNotFound', '', /github\.privateKey: .* does not exist \(ParameterNotFound\)/],
    [
      'AccessDeniedException',
      'Access to KMS is not allowed',
      /encrypted with a KMS key the Lambdas may not use .* encryptionKey option/,
    ],
    [
      'AccessDeniedException',
      'not authorized to perform: secretsmanager:GetSecretValue',
      /may not read Secrets Manager secret github\/app-key/,
    ],
    ['DecryptionFailure', 'cannot decrypt', /cannot be decrypted \(DecryptionFailure/],
    ['ThrottlingException', 'Rate exceeded', undefined],
    [undefined, 'socket hang up', undefined],
  ])('%s: %s', (code, message, expected) => {
    const advice = secretFailureAdvice(code, message, 'github.privateKey', where);
    if (expected === undefined) expect(advice).toBeUndefined();
    else expect(advice).toMatch(expected);
  });
});

describe('the removal plan', () => {
  const owner = 'S-c8abc';
  const key = (jobId: number) => ({ host: 'github.com', jobId, runAttempt: 1 });
  const instance = (id: string, state: InstanceView['state']): InstanceView => ({
    instanceId: id,
    state,
    launchTime: 0,
  });
  const ourName = runnerName('linux', key(1), 1, owner);
  const otherDeployment = runnerName('linux', key(2), 1, 'other-deployment');
  const snapshot = (over: Partial<TeardownSnapshot> = {}): TeardownSnapshot => ({
    host: 'github.com',
    ownerTag: owner,
    instances: [],
    scopes: [],
    ...over,
  });

  test('terminates what can still run, waits for what shuts down, leaves what is terminated', () => {
    const plan = planTeardown(
      snapshot({
        instances: [
          instance('i-pending', 'pending'),
          instance('i-running', 'running'),
          instance('i-stopped', 'stopped'),
          instance('i-stopping', 'stopping'),
          instance('i-shutting', 'shutting-down'),
          instance('i-gone', 'terminated'),
        ],
      }),
    );
    expect(plan.terminate).toEqual(['i-pending', 'i-running', 'i-stopped', 'i-stopping']);
    expect(plan.shuttingDown).toEqual(['i-shutting']);
  });

  test("deletes our registrations, busy or not, and never another deployment's or a hand-registered runner", () => {
    const plan = planTeardown(
      snapshot({
        scopes: [
          {
            scope: 'org:acme',
            complete: true,
            registrations: [
              { id: 1, name: ourName, status: 'online', busy: true },
              { id: 2, name: otherDeployment, status: 'online', busy: false },
              { id: 3, name: 'build-box-7', status: 'online', busy: false },
            ],
          },
        ],
      }),
    );
    expect(plan.deregister).toEqual([{ scope: 'org:acme', runnerId: 1, runnerName: ourName }]);
  });

  test('complete only when nothing is left and every scope was listed completely', () => {
    expect(teardownComplete(snapshot())).toBe(true);
    expect(teardownComplete(snapshot({ instances: [instance('i-1', 'terminated')] }))).toBe(true);
    expect(teardownComplete(snapshot({ instances: [instance('i-1', 'shutting-down')] }))).toBe(false);
    expect(
      teardownComplete(snapshot({ scopes: [{ scope: 'org:acme', complete: false, registrations: [] }] })),
    ).toBe(false);
    expect(
      teardownComplete(
        snapshot({
          scopes: [
            {
              scope: 'org:acme',
              complete: true,
              registrations: [{ id: 2, name: otherDeployment, status: 'offline', busy: false }],
            },
          ],
        }),
      ),
    ).toBe(true);
  });
});
