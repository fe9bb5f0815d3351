// Instance lifecycle and EventBridge state-change events of the EC2 emulator, driven by the real
// @aws-sdk/client-ec2: the manual lifecycle (launchState 'pending'), instance-initiated shutdown,
// the default collapsed lifecycle, the event's exact shape, and DescribeInstances paging over it.
import {
  CreateFleetCommand,
  DescribeInstancesCommand,
  DescribeInstancesCommandInput,
  EC2Client,
  Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { Ec2Emulator, Ec2EmulatorOptions, isStateChangeEvent, StateChangeEvent } from './ec2-emulator';
import { credentials, expectEc2Error, fleetInput } from './ec2-test-support';

let ec2: Ec2Emulator;
let client: EC2Client;

async function start(options: Ec2EmulatorOptions = {}): Promise<void> {
  ec2 = await Ec2Emulator.start(options);
  client = new EC2Client({
    region: options.region ?? 'us-east-1',
    endpoint: ec2.endpoint,
    credentials,
    maxAttempts: 1,
  });
}

afterEach(async () => {
  client.destroy();
  await ec2.stop();
});

/** Launches `count` spot instances tagged `tags` in one instant fleet; answers their ids. */
async function launch(count: number, tags: Record<string, string> = { Owner: 'ci' }): Promise<string[]> {
  const res = await client.send(
    new CreateFleetCommand(
      fleetInput({
        TargetCapacitySpecification: { TotalTargetCapacity: count, DefaultTargetCapacityType: 'spot' },
        TagSpecifications: [
          { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    ),
  );
  return res.Instances!.flatMap((i) => i.InstanceIds ?? []);
}

async function describeOne(id: string): Promise<Instance> {
  const res = await client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return res.Reservations![0].Instances![0];
}

/** The events taken since the last call, as `instanceId:state` pairs. */
function taken(): string[] {
  return ec2
    .takeEvents()
    .map((e) => `${e.detail['instance-id']}:${isStateChangeEvent(e) ? e.detail.state : e['detail-type']}`);
}

describe("launchState 'pending': the test moves instances on", () => {
  beforeEach(() => start({ launchState: 'pending' }));

  test('pending → running → shutting-down → terminated, one event per state, in order', async () => {
    const [id] = await launch(1);
    expect((await describeOne(id)).State).toEqual({ Code: 0, Name: 'pending' });
    expect(taken()).toEqual([`${id}:pending`]);

    ec2.markRunning(id);
    expect((await describeOne(id)).State).toEqual({ Code: 16, Name: 'running' });
    expect(taken()).toEqual([`${id}:running`]);

    const res = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(res.TerminatingInstances![0]).toMatchObject({
      CurrentState: { Code: 32, Name: 'shutting-down' },
      PreviousState: { Code: 16, Name: 'running' },
    });
    const shuttingDown = await describeOne(id);
    expect(shuttingDown.State).toEqual({ Code: 32, Name: 'shutting-down' });
    expect(shuttingDown.StateReason?.Code).toBe('Client.UserInitiatedShutdown');
    expect(taken()).toEqual([`${id}:shutting-down`]);

    // A second terminate while shutting down changes nothing and emits nothing.
    const again = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(again.TerminatingInstances![0].PreviousState?.Name).toBe('shutting-down');
    expect(taken()).toEqual([]);

    expect(ec2.completeShutdowns()).toEqual([id]);
    expect((await describeOne(id)).State).toEqual({ Code: 48, Name: 'terminated' });
    expect(taken()).toEqual([`${id}:terminated`]);
    expect(ec2.takeEvents()).toEqual([]); // taking empties the outbox
  });

  test('finishShutdown terminates one instance; the others keep shutting down', async () => {
    const [a, b] = await launch(2);
    ec2.markRunning(a);
    ec2.markRunning(b);
    await client.send(new TerminateInstancesCommand({ InstanceIds: [a, b] }));
    ec2.takeEvents();

    ec2.finishShutdown(b);
    expect(ec2.instances().map((i) => [i.instanceId, i.state])).toEqual([
      [a, 'shutting-down'],
      [b, 'terminated'],
    ]);
    expect(taken()).toEqual([`${b}:terminated`]);
    expect(ec2.completeShutdowns()).toEqual([a]);
  });

  test('moving an instance from the wrong state is an error that names the state', async () => {
    const [id] = await launch(1);
    expect(() => ec2.finishShutdown(id)).toThrow(/is pending, not shutting-down/);
    expect(() => ec2.shutdownFromInstance(id)).toThrow(/is pending, not running/);
    ec2.markRunning(id);
    expect(() => ec2.markRunning(id)).toThrow(/markRunning: instance i-[0-9a-f]{17} is running, not pending/);
    expect(() => ec2.markRunning('i-0000000000000dead')).toThrow(/no emulated instance/);
  });

  test('an instance-initiated shutdown waits in shutting-down like a terminate', async () => {
    const [id] = await launch(1);
    ec2.markRunning(id);
    ec2.takeEvents();
    ec2.shutdownFromInstance(id);
    expect((await describeOne(id)).State?.Name).toBe('shutting-down');
    ec2.finishShutdown(id);
    expect((await describeOne(id)).State?.Name).toBe('terminated');
    expect(taken()).toEqual([`${id}:shutting-down`, `${id}:terminated`]);
  });
});

describe("the default lifecycle ('running')", () => {
  beforeEach(() => start());

  test('launch and terminate are immediate, and still emit every state EC2 passes through', async () => {
    const [id] = await launch(1);
    expect(ec2.instances()[0].state).toBe('running');
    expect((await describeOne(id)).State).toEqual({ Code: 16, Name: 'running' });

    const res = await client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(res.TerminatingInstances![0].CurrentState).toEqual({ Code: 32, Name: 'shutting-down' });
    expect((await describeOne(id)).State).toEqual({ Code: 48, Name: 'terminated' });
    expect(taken()).toEqual([`${id}:pending`, `${id}:running`, `${id}:shutting-down`, `${id}:terminated`]);
    expect(ec2.completeShutdowns()).toEqual([]);
  });

  test('an instance-initiated shutdown terminates with EC2 state reason Client.InstanceInitiatedShutdown', async () => {
    const [id] = await launch(1);
    ec2.takeEvents();
    ec2.shutdownFromInstance(id);
    const instance = await describeOne(id);
    expect(instance.State).toEqual({ Code: 48, Name: 'terminated' });
    expect(instance.StateReason).toEqual({
      Code: 'Client.InstanceInitiatedShutdown',
      Message: 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
    });
    expect(taken()).toEqual([`${id}:shutting-down`, `${id}:terminated`]);
    const byReason = await client.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'state-reason-code', Values: ['Client.InstanceInitiated*'] }],
      }),
    );
    expect(byReason.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).toEqual([id]);
  });

  test('setInstanceState emits one event for a change and none for the same state', async () => {
    const [id] = await launch(1);
    ec2.takeEvents();
    ec2.setInstanceState(id, 'terminated', 'Server.SpotInstanceTermination');
    ec2.setInstanceState(id, 'terminated', 'Server.SpotInstanceTermination');
    expect(taken()).toEqual([`${id}:terminated`]);
  });
});

describe('the state-change event', () => {
  test('has every field of EventBridge\'s "EC2 Instance State-change Notification"', async () => {
    await start({ region: 'eu-west-1', launchState: 'pending' });
    const [id] = await launch(1);
    ec2.takeEvents();
    // 2026-03-04T05:06:07.890Z: the event's time drops the milliseconds.
    const now = jest.spyOn(Date, 'now').mockReturnValue(Date.UTC(2026, 2, 4, 5, 6, 7, 890));
    try {
      ec2.markRunning(id);
    } finally {
      now.mockRestore();
    }
    const [event] = ec2.takeEvents();
    const expected: StateChangeEvent = {
      version: '0',
      id: event.id,
      'detail-type': 'EC2 Instance State-change Notification',
      source: 'aws.ec2',
      account: '123456789012',
      time: '2026-03-04T05:06:07Z',
      region: 'eu-west-1',
      resources: [`arn:aws:ec2:eu-west-1:123456789012:instance/${id}`],
      detail: { 'instance-id': id, state: 'running' },
    };
    // Through JSON, as a Lambda target receives it: nothing more, nothing less.
    expect(JSON.parse(JSON.stringify(event))).toEqual(expected);
    expect(Object.keys(event)).toEqual(Object.keys(expected));
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('every event has its own id, and China regions use the aws-cn partition in the ARN', async () => {
    await start({ region: 'cn-north-1' });
    const [id] = await launch(1);
    const events = ec2.takeEvents();
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(2);
    expect(events[0].resources).toEqual([`arn:aws-cn:ec2:cn-north-1:123456789012:instance/${id}`]);
  });
});

describe('DescribeInstances over a changing fleet', () => {
  beforeEach(() => start());

  /** Every page of a DescribeInstances call: the instance ids of each, in order. */
  async function pages(input: DescribeInstancesCommandInput): Promise<string[][]> {
    const result: string[][] = [];
    let NextToken = input.NextToken;
    do {
      const res = await client.send(new DescribeInstancesCommand({ ...input, NextToken }));
      result.push(res.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId!)));
      NextToken = res.NextToken;
    } while (NextToken && result.length < 10);
    return result;
  }

  test('owner tag + live states, 25 instances at MaxResults 10: 3 pages, each instance once', async () => {
    const ours = [
      ...(await launch(10)),
      ...(await launch(1, { Owner: 'someone-else' })),
      ...(await launch(15)),
    ];
    const theirs = ours.splice(10, 1);
    const terminated = ours.splice(0, 2); // still listed by EC2, but not live
    await client.send(new TerminateInstancesCommand({ InstanceIds: terminated }));
    ours.push(...(await launch(2)));
    expect(ours).toHaveLength(25);

    const got = await pages({
      Filters: [
        { Name: 'tag:Owner', Values: ['ci'] },
        { Name: 'instance-state-name', Values: ['pending', 'running'] },
      ],
      MaxResults: 10,
    });
    expect(got.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(got.flat()).toEqual(ours);
    expect(got.flat()).not.toContain(theirs[0]);
    expect(got.flat().filter((id) => terminated.includes(id))).toEqual([]);
  });

  test('terminated instances stay listed until forgetTerminated; paging survives the forgetting', async () => {
    const ids = await launch(12);
    await client.send(new TerminateInstancesCommand({ InstanceIds: ids.slice(0, 3) }));
    const first = await client.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    const firstIds = first.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId!));
    expect(firstIds).toEqual(ids.slice(0, 5)); // the terminated three are still listed

    expect(ec2.forgetTerminated()).toEqual(ids.slice(0, 3));
    const rest = await pages({ MaxResults: 5, NextToken: first.NextToken });
    expect(rest.flat()).toEqual(ids.slice(5)); // nothing skipped although three instances went away
    await expectEc2Error(
      client.send(new DescribeInstancesCommand({ InstanceIds: [ids[0]] })),
      'InvalidInstanceID.NotFound',
      400,
    );
  });

  test('filter values: ? is exactly one character and a backslash makes * literal', async () => {
    const [star] = await launch(1, { Name: 'runner-*' });
    const [one] = await launch(1, { Name: 'runner-1' });
    await launch(1, { Name: 'runner-12' });
    const names = async (value: string) =>
      (
        await client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: [value] }] }))
      ).Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId));
    expect(await names('runner-?')).toEqual([star, one]);
    expect(await names('runner-\\*')).toEqual([star]);
    expect(await names('runner-*')).toHaveLength(3);
  });

  test('MaxResults with InstanceIds, and a token EC2 did not issue, are errors', async () => {
    const [id] = await launch(1);
    await expectEc2Error(
      client.send(new DescribeInstancesCommand({ InstanceIds: [id], MaxResults: 5 })),
      'InvalidParameterCombination',
      400,
    );
    await expectEc2Error(
      client.send(new DescribeInstancesCommand({ MaxResults: 5, NextToken: 'not-a-token' })),
      'InvalidPaginationToken',
      400,
    );
  });
});
