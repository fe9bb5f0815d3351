// Drives the EC2 emulator with the real @aws-sdk/client-ec2, so a response shape the SDK cannot
// parse, or an error it names differently, fails here rather than in the launcher's tests.
// CreateFleet's own behaviour is in ec2-fleet.test.ts.
import {
  CreateFleetCommand,
  CreateTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  credentials,
  expectEc2Error,
  fleetInput,
  startEc2Rig,
  stopEc2Rig,
  Ec2TestRig,
} from './ec2-test-support';

let rig: Ec2TestRig;
beforeEach(async () => {
  rig = await startEc2Rig();
});
afterEach(() => stopEc2Rig(rig));

describe('faults', () => {
  test('the SDK finds the emulator through AWS_ENDPOINT_URL_EC2', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_EC2;
    process.env.AWS_ENDPOINT_URL_EC2 = rig.ec2.endpoint;
    try {
      const fromEnv = new EC2Client({ region: 'us-east-1', credentials, maxAttempts: 1 });
      await fromEnv.send(new DescribeInstancesCommand({}));
      fromEnv.destroy();
      expect(rig.ec2.callCount('DescribeInstances')).toBe(1);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_EC2;
      else process.env.AWS_ENDPOINT_URL_EC2 = saved;
    }
  });

  test('an injected RequestLimitExceeded surfaces as the SDK exception name with HTTP 503', async () => {
    rig.ec2.failNext('CreateFleet', 1, 'RequestLimitExceeded');
    await expectEc2Error(rig.client.send(new CreateFleetCommand(fleetInput())), 'RequestLimitExceeded', 503);
    expect(rig.ec2.instances()).toEqual([]);
    // The fault was one-shot: the next call launches.
    const res = await rig.client.send(new CreateFleetCommand(fleetInput()));
    expect(res.Instances).toHaveLength(1);
  });

  test('the SDK retries an injected InternalError and the emulator records both attempts', async () => {
    rig.ec2.failNext('DescribeInstances', 1, 'InternalError');
    const retrying = new EC2Client({
      region: 'us-east-1',
      endpoint: rig.ec2.endpoint,
      credentials,
      maxAttempts: 2,
    });
    const res = await retrying.send(new DescribeInstancesCommand({}));
    retrying.destroy();
    expect(res.Reservations).toEqual([]);
    expect(rig.ec2.callCount('DescribeInstances')).toBe(2);
  });

  test('a seeded throttle rate throttles a reproducible fraction of calls', async () => {
    const pattern = async (): Promise<boolean[]> => {
      rig.ec2.setThrottleRate(0.5, 7);
      const outcomes: boolean[] = [];
      for (let i = 0; i < 40; i++) {
        outcomes.push(
          await rig.client.send(new DescribeInstancesCommand({})).then(
            () => false,
            (e: EC2ServiceException) => e.name === 'RequestLimitExceeded',
          ),
        );
      }
      return outcomes;
    };
    const first = await pattern();
    const second = await pattern();
    const throttled = first.filter(Boolean).length;
    expect(second).toEqual(first);
    expect(throttled).toBeGreaterThan(8);
    expect(throttled).toBeLessThan(32);
    rig.ec2.setThrottleRate(0);
    await expect(rig.client.send(new DescribeInstancesCommand({}))).resolves.toBeDefined();
  });

  test('latency delays every answer', async () => {
    rig.ec2.setLatencyMs(150);
    const started = Date.now();
    await rig.client.send(new DescribeInstancesCommand({}));
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  test('calls are recorded in order with their parameters, and can be reset', async () => {
    const launched = await rig.client.send(new CreateFleetCommand(fleetInput()));
    const id = launched.Instances![0].InstanceIds![0];
    await rig.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(rig.ec2.calls.map((c) => c.action)).toEqual(['CreateFleet', 'TerminateInstances']);
    expect(rig.ec2.calls[1].params['InstanceId.1']).toBe(id);
    rig.ec2.resetCalls();
    expect(rig.ec2.calls).toEqual([]);
  });
});

describe('instances', () => {
  async function launch(count: number, tags: Record<string, string> = {}): Promise<string[]> {
    const res = await rig.client.send(
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

  test('terminate then describe round trip', async () => {
    const [id] = await launch(1, { Role: 'runner' });
    const described = await rig.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const instance = described.Reservations![0].Instances![0];
    expect(instance).toMatchObject({
      InstanceId: id,
      InstanceType: 'c5.large', // equal price and depth: request order wins
      SubnetId: 'subnet-a',
      InstanceLifecycle: 'spot',
      State: { Code: 16, Name: 'running' },
      Placement: { AvailabilityZone: 'us-east-1a' },
    });
    expect(instance.LaunchTime).toBeInstanceOf(Date);
    expect(instance.Tags).toEqual(expect.arrayContaining([{ Key: 'Role', Value: 'runner' }]));

    const terminated = await rig.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
    expect(terminated.TerminatingInstances).toEqual([
      {
        InstanceId: id,
        CurrentState: { Code: 32, Name: 'shutting-down' },
        PreviousState: { Code: 16, Name: 'running' },
      },
    ]);
    const after = await rig.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(after.Reservations![0].Instances![0].State).toEqual({ Code: 48, Name: 'terminated' });
    expect(after.Reservations![0].Instances![0].StateReason?.Code).toBe('Client.UserInitiatedShutdown');
  });

  test('unknown and malformed instance ids are errors, and fail the whole terminate', async () => {
    const [id] = await launch(1);
    await expectEc2Error(
      rig.client.send(new TerminateInstancesCommand({ InstanceIds: [id, 'i-0000000000000dead'] })),
      'InvalidInstanceID.NotFound',
      400,
    );
    expect(rig.ec2.instances()[0].state).toBe('running');
    await expectEc2Error(
      rig.client.send(new DescribeInstancesCommand({ InstanceIds: ['nope'] })),
      'InvalidInstanceID.Malformed',
      400,
    );
  });

  test('filters: tag:KEY, tag-key, instance-state-name, wildcards; unknown filters are rejected', async () => {
    const [a] = await launch(1, { Role: 'runner', Pool: 'linux-x64' });
    const [b] = await launch(1, { Role: 'runner' });
    const [c] = await launch(1, { Role: 'builder' });
    await rig.client.send(new TerminateInstancesCommand({ InstanceIds: [b] }));
    const ids = async (Filters: { Name: string; Values: string[] }[]) =>
      (await rig.client.send(new DescribeInstancesCommand({ Filters })))
        .Reservations!.flatMap((r) => r.Instances ?? [])
        .map((i) => i.InstanceId);

    expect(await ids([{ Name: 'tag:Role', Values: ['runner'] }])).toEqual([a, b]);
    expect(
      await ids([
        { Name: 'tag:Role', Values: ['runner'] },
        { Name: 'instance-state-name', Values: ['running', 'pending'] },
      ]),
    ).toEqual([a]);
    expect(await ids([{ Name: 'tag-key', Values: ['Pool'] }])).toEqual([a]);
    expect(await ids([{ Name: 'tag:Role', Values: ['b*'] }])).toEqual([c]);
    expect(await ids([{ Name: 'instance-lifecycle', Values: ['spot'] }])).toEqual([a, b, c]);
    await expectEc2Error(
      rig.client.send(new DescribeInstancesCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })),
      'InvalidParameterValue',
      400,
    );
  });

  test('MaxResults pages with NextToken', async () => {
    const launched = await launch(7);
    const first = await rig.client.send(new DescribeInstancesCommand({ MaxResults: 5 }));
    const firstIds = first.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId));
    expect(firstIds).toHaveLength(5);
    expect(first.NextToken).toEqual(expect.any(String));
    const second = await rig.client.send(
      new DescribeInstancesCommand({ MaxResults: 5, NextToken: first.NextToken }),
    );
    const secondIds = second.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId));
    expect([...firstIds, ...secondIds]).toEqual(launched);
    expect(second.NextToken).toBeUndefined();
    await expectEc2Error(
      rig.client.send(new DescribeInstancesCommand({ MaxResults: 2 })),
      'InvalidParameterValue',
      400,
    );
  });

  test('CreateTags adds tags to instances; unknown instances are an error', async () => {
    const [id] = await launch(1);
    await rig.client.send(
      new CreateTagsCommand({ Resources: [id], Tags: [{ Key: 'runner-name', Value: 'r-1' }] }),
    );
    expect(rig.ec2.instances()[0].tags['runner-name']).toBe('r-1');
    const found = await rig.client.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:runner-name', Values: ['r-1'] }] }),
    );
    expect(found.Reservations![0].Instances![0].InstanceId).toBe(id);
    await expectEc2Error(
      rig.client.send(
        new CreateTagsCommand({ Resources: ['i-0000000000000dead'], Tags: [{ Key: 'k', Value: 'v' }] }),
      ),
      'InvalidInstanceID.NotFound',
      400,
    );
  });

  test('a spot interruption set from outside shows in DescribeInstances', async () => {
    const [id] = await launch(1);
    rig.ec2.setInstanceState(id, 'terminated', 'Server.SpotInstanceTermination');
    const res = await rig.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    expect(res.Reservations![0].Instances![0].StateReason).toEqual({
      Code: 'Server.SpotInstanceTermination',
      Message: 'Server.SpotInstanceTermination: Spot instance termination',
    });
  });
});

describe('the wire protocol', () => {
  async function post(body: string): Promise<{ status: number; text: string }> {
    const res = await fetch(rig.ec2.endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body,
    });
    return { status: res.status, text: await res.text() };
  }

  test('an unknown action answers InvalidAction in the EC2 error envelope', async () => {
    const res = await post('Action=LaunchRocket&Version=2016-11-15');
    expect(res.status).toBe(400);
    expect(res.text).toMatch(
      /<Response><Errors><Error><Code>InvalidAction<\/Code><Message>[^<]+<\/Message><\/Error><\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>/,
    );
  });

  test('a missing required parameter answers MissingParameter', async () => {
    const res = await post('Action=TerminateInstances&Version=2016-11-15');
    expect(res.status).toBe(400);
    expect(res.text).toContain('<Code>MissingParameter</Code>');
  });

  test('success responses carry the 2016-11-15 namespace', async () => {
    const res = await post('Action=DescribeInstances&Version=2016-11-15');
    expect(res.status).toBe(200);
    expect(res.text).toContain(
      '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">',
    );
  });
});
