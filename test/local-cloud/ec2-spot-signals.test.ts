// Spot signals of the EC2 emulator, checked against EC2's documentation and through the real
// @aws-sdk/client-ec2: the interruption warning and the rebalance recommendation as EventBridge
// delivers them, the termination two minutes after a warning (state reason
// Server.SpotInstanceTermination, both lifecycles), and the refusals for instances EC2 never warns.
import {
  CreateFleetCommand,
  DescribeInstancesCommand,
  EC2Client,
  Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  Ec2Emulator,
  Ec2EmulatorOptions,
  isStateChangeEvent,
  RebalanceRecommendationEvent,
  SPOT_INTERRUPTION_NOTICE_MS,
  SpotInterruptionWarningEvent,
} from './ec2-emulator';
import { credentials, fleetInput } from './ec2-test-support';

let ec2: Ec2Emulator;
let client: EC2Client;
let now: jest.SpyInstance<number, []>;
// 2026-03-04T05:06:07.890Z: events drop the milliseconds.
const T0 = Date.UTC(2026, 2, 4, 5, 6, 7, 890);

async function start(options: Ec2EmulatorOptions = {}): Promise<void> {
  ec2 = await Ec2Emulator.start(options);
  client = new EC2Client({
    region: options.region ?? 'us-east-1',
    endpoint: ec2.endpoint,
    credentials,
    maxAttempts: 1,
  });
}

beforeEach(() => {
  now = jest.spyOn(Date, 'now').mockReturnValue(T0);
});

afterEach(async () => {
  now.mockRestore();
  client.destroy();
  await ec2.stop();
});

/** Launches one instance of `market` in subnet-a (c5.large); answers its id. */
async function launch(market: 'spot' | 'on-demand' = 'spot'): Promise<string> {
  const res = await client.send(
    new CreateFleetCommand(
      fleetInput({
        TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: market },
      }),
    ),
  );
  return res.Instances![0].InstanceIds![0];
}

async function describeOne(id: string): Promise<Instance> {
  const res = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return res.Reservations![0].Instances![0];
}

/** The state changes taken since the last call, as `instanceId:state`; fails on any other event. */
function stateChanges(): string[] {
  return ec2.takeEvents().map((e) => {
    if (!isStateChangeEvent(e)) throw new Error(`unexpected ${e['detail-type']}`);
    return `${e.detail['instance-id']}:${e.detail.state}`;
  });
}

describe('the interruption warning', () => {
  test('has exactly the fields of EC2\'s "EC2 Spot Instance Interruption Warning", with its zone ARN', async () => {
    await start({ region: 'eu-west-1' });
    ec2.setSubnetZone('subnet-a', 'eu-west-1b');
    const id = await launch();
    ec2.takeEvents();
    ec2.warnSpotInterruption(id);
    const [event] = ec2.takeEvents();
    const expected: SpotInterruptionWarningEvent = {
      version: '0',
      id: event.id,
      'detail-type': 'EC2 Spot Instance Interruption Warning',
      source: 'aws.ec2',
      account: '123456789012',
      time: '2026-03-04T05:06:07Z',
      region: 'eu-west-1',
      // EC2's interruption events name the instance by zone, without the account.
      resources: [`arn:aws:ec2:eu-west-1b:instance/${id}`],
      detail: { 'instance-id': id, 'instance-action': 'terminate' },
    };
    // Through JSON, as a Lambda target receives it: nothing more, nothing less, in EC2's order.
    expect(JSON.parse(JSON.stringify(event))).toEqual(expected);
    expect(Object.keys(event)).toEqual(Object.keys(expected));
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ec2.takeEvents()).toEqual([]);
  });

  test('the instance runs for two minutes, then terminates with Server.SpotInstanceTermination', async () => {
    await start();
    const id = await launch();
    ec2.takeEvents();
    ec2.warnSpotInterruption(id);
    expect(ec2.takeEvents().map((e) => e['detail-type'])).toEqual(['EC2 Spot Instance Interruption Warning']);
    expect(ec2.pendingInterruptions()).toEqual([{ instanceId: id, terminateAt: T0 + 120_000 }]);
    expect(SPOT_INTERRUPTION_NOTICE_MS).toBe(120_000);

    now.mockReturnValue(T0 + 119_999);
    expect(ec2.completeInterruptions()).toEqual([]);
    expect((await describeOne(id)).State).toEqual({ Code: 16, Name: 'running' });
    expect(stateChanges()).toEqual([]);

    now.mockReturnValue(T0 + 120_000);
    expect(ec2.completeInterruptions()).toEqual([id]);
    const instance = await describeOne(id);
    expect(instance.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(instance.StateReason).toEqual({
      Code: 'Server.SpotInstanceTermination',
      Message: 'Server.SpotInstanceTermination: Spot instance termination',
    });
    expect(stateChanges()).toEqual([`${id}:shutting-down`, `${id}:terminated`]);
    expect(ec2.pendingInterruptions()).toEqual([]);
    expect(ec2.completeInterruptions()).toEqual([]); // carried out once
  });

  test('with the manual lifecycle the instance waits in shutting-down like any shutdown', async () => {
    await start({ launchState: 'pending' });
    const [a, b] = [await launch(), await launch()];
    ec2.markRunning(a);
    ec2.markRunning(b);
    ec2.warnSpotInterruption(a);
    now.mockReturnValue(T0 + 60_000);
    ec2.warnSpotInterruption(b);
    ec2.takeEvents();

    now.mockReturnValue(T0 + 150_000); // a's two minutes have passed, b's not yet
    expect(ec2.completeInterruptions()).toEqual([a]);
    expect((await describeOne(a)).State?.Name).toBe('shutting-down');
    expect((await describeOne(b)).State?.Name).toBe('running');
    expect(ec2.completeShutdowns()).toEqual([a]);
    expect(stateChanges()).toEqual([`${a}:shutting-down`, `${a}:terminated`]);

    now.mockReturnValue(T0 + 180_000);
    expect(ec2.completeInterruptions()).toEqual([b]);
    expect(ec2.instances().find((i) => i.instanceId === b)?.stateReasonCode).toBe(
      'Server.SpotInstanceTermination',
    );
  });

  test('an instance terminated before its two minutes are up is left alone', async () => {
    await start();
    const id = await launch();
    ec2.warnSpotInterruption(id);
    await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    ec2.takeEvents();
    now.mockReturnValue(T0 + 120_000);
    expect(ec2.completeInterruptions()).toEqual([]);
    expect((await describeOne(id)).StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(ec2.takeEvents()).toEqual([]);
    expect(ec2.pendingInterruptions()).toEqual([]);
  });

  test('EC2 warns only running spot instances, once', async () => {
    await start({ launchState: 'pending' });
    const onDemand = await launch('on-demand');
    ec2.markRunning(onDemand);
    expect(() => ec2.warnSpotInterruption(onDemand)).toThrow(/is on-demand; EC2 interrupts only spot/);
    expect(() => ec2.recommendRebalance(onDemand)).toThrow(/recommendRebalance: .* is on-demand/);

    const spot = await launch();
    expect(() => ec2.warnSpotInterruption(spot)).toThrow(/is pending, not running/);
    ec2.markRunning(spot);
    ec2.warnSpotInterruption(spot);
    expect(() => ec2.warnSpotInterruption(spot)).toThrow(/was already warned/);
    expect(() => ec2.warnSpotInterruption('i-0000000000000dead')).toThrow(/no emulated instance/);
    expect(ec2.pendingInterruptions().map((p) => p.instanceId)).toEqual([spot]);
  });
});

describe('the rebalance recommendation', () => {
  test('has exactly the fields of EC2\'s "EC2 Instance Rebalance Recommendation", and changes nothing', async () => {
    await start({ region: 'cn-north-1' });
    const id = await launch();
    ec2.takeEvents();
    ec2.recommendRebalance(id);
    const [event] = ec2.takeEvents();
    const expected: RebalanceRecommendationEvent = {
      version: '0',
      id: event.id,
      'detail-type': 'EC2 Instance Rebalance Recommendation',
      source: 'aws.ec2',
      account: '123456789012',
      time: '2026-03-04T05:06:07Z',
      region: 'cn-north-1',
      resources: [`arn:aws-cn:ec2:cn-north-1:123456789012:instance/${id}`],
      detail: { 'instance-id': id },
    };
    expect(JSON.parse(JSON.stringify(event))).toEqual(expected);
    expect(Object.keys(event)).toEqual(Object.keys(expected));

    now.mockReturnValue(T0 + 3_600_000);
    expect(ec2.completeInterruptions()).toEqual([]);
    expect(ec2.pendingInterruptions()).toEqual([]);
    expect((await describeOne(id)).State?.Name).toBe('running');
  });
});

test('takeEvents returns state changes and spot signals together, in emission order', async () => {
  await start();
  const id = await launch();
  ec2.recommendRebalance(id);
  ec2.warnSpotInterruption(id);
  now.mockReturnValue(T0 + 120_000);
  ec2.completeInterruptions();
  const events = ec2.takeEvents();
  expect(events.map((e) => (isStateChangeEvent(e) ? e.detail.state : e['detail-type']))).toEqual([
    'pending',
    'running',
    'EC2 Instance Rebalance Recommendation',
    'EC2 Spot Instance Interruption Warning',
    'shutting-down',
    'terminated',
  ]);
  expect(events.every((e) => e.detail['instance-id'] === id)).toBe(true);
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  expect(events.filter(isStateChangeEvent).at(-1)?.time).toBe('2026-03-04T05:08:07Z');
});
