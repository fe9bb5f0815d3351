// CreateFleet (instant) against the EC2 emulator, driven by the real @aws-sdk/client-ec2: pools,
// capacity, strategies, idempotency, on-demand and quota errors as the SDK parses them.
import { CreateFleetCommand, DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { expectEc2Error, fleetInput, startEc2Rig, stopEc2Rig, Ec2TestRig } from './ec2-test-support';

let rig: Ec2TestRig;
beforeEach(async () => {
  rig = await startEc2Rig();
});
afterEach(() => stopEc2Rig(rig));

describe('CreateFleet (instant)', () => {
  test('launches one spot instance with the requested tags and answers what the SDK parses', async () => {
    rig.ec2.setSpotPrice('m5.large', 0.05); // cheaper than c5.large's default 0.1
    const res = await rig.client.send(new CreateFleetCommand(fleetInput()));

    expect(res.FleetId).toMatch(/^fleet-[0-9a-f-]{36}$/);
    expect(res.Errors).toEqual([]);
    expect(res.Instances).toHaveLength(1);
    const launched = res.Instances![0];
    expect(launched.Lifecycle).toBe('spot');
    expect(launched.InstanceType).toBe('m5.large');
    expect(launched.InstanceIds).toHaveLength(1);
    expect(launched.InstanceIds![0]).toMatch(/^i-[0-9a-f]{17}$/);
    expect(launched.LaunchTemplateAndOverrides).toEqual({
      LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0123456789abcdef0', Version: '$Latest' },
      Overrides: { InstanceType: 'm5.large', SubnetId: 'subnet-b' },
    });

    const [instance] = rig.ec2.instances();
    expect(instance).toMatchObject({
      instanceId: launched.InstanceIds![0],
      market: 'spot',
      state: 'running',
    });
    expect(instance.tags).toMatchObject({
      Name: 'ephemeral-runner',
      'runner:job': '42',
      'aws:ec2:fleet-id': res.FleetId,
    });
    expect(instance.clientToken).toEqual(expect.any(String)); // the SDK fills ClientToken in
  });

  test('an exhausted pool is skipped for the next pool with capacity', async () => {
    rig.ec2.setPoolCapacity('c5.large', 'subnet-a', 1);
    rig.ec2.setPoolCapacity('m5.large', 'subnet-b', 5);
    rig.ec2.setSpotPrice('c5.large', 0.04); // equally deep enough for one instance, so the price decides
    const first = await rig.client.send(new CreateFleetCommand(fleetInput()));
    const second = await rig.client.send(new CreateFleetCommand(fleetInput()));

    expect(first.Instances![0].LaunchTemplateAndOverrides!.Overrides).toEqual({
      InstanceType: 'c5.large',
      SubnetId: 'subnet-a',
    });
    expect(second.Instances![0].LaunchTemplateAndOverrides!.Overrides).toEqual({
      InstanceType: 'm5.large',
      SubnetId: 'subnet-b',
    });
    expect(second.Errors).toEqual([]);
    expect(rig.ec2.instances().map((i) => i.subnetId)).toEqual(['subnet-a', 'subnet-b']);
  });

  test('with every spot pool empty it answers one capacity error per override and launches nothing', async () => {
    rig.ec2.setPoolCapacity('c5.large', 'subnet-a', 0);
    rig.ec2.setPoolCapacity('m5.large', 'subnet-b', 0);
    const res = await rig.client.send(new CreateFleetCommand(fleetInput()));

    expect(res.Instances).toEqual([]);
    expect(res.Errors).toHaveLength(2);
    expect(
      res.Errors!.map((e) => [
        e.Lifecycle,
        e.ErrorCode,
        e.LaunchTemplateAndOverrides!.Overrides!.InstanceType,
      ]),
    ).toEqual([
      ['spot', 'InsufficientInstanceCapacity', 'c5.large'],
      ['spot', 'InsufficientInstanceCapacity', 'm5.large'],
    ]);
    expect(res.Errors![0].ErrorMessage).toMatch(/no Spot capacity/);
    expect(rig.ec2.instances()).toEqual([]);
  });

  test('the empty-pool code can be UnfulfillableCapacity', async () => {
    rig.ec2.setSpotCapacityErrorCode('UnfulfillableCapacity');
    rig.ec2.setPoolCapacity('c5.large', 'subnet-a', 0);
    rig.ec2.setPoolCapacity('m5.large', 'subnet-b', 0);
    const res = await rig.client.send(new CreateFleetCommand(fleetInput()));
    expect(new Set(res.Errors!.map((e) => e.ErrorCode))).toEqual(new Set(['UnfulfillableCapacity']));
  });

  test('a partly fulfilled fleet answers both the instances and the errors', async () => {
    rig.ec2.setPoolCapacity('c5.large', 'subnet-a', 1);
    rig.ec2.setPoolCapacity('m5.large', 'subnet-b', 1);
    const res = await rig.client.send(
      new CreateFleetCommand(
        fleetInput({
          TargetCapacitySpecification: { TotalTargetCapacity: 3, DefaultTargetCapacityType: 'spot' },
        }),
      ),
    );
    expect(res.Instances!.flatMap((i) => i.InstanceIds)).toHaveLength(2);
    expect(res.Errors).toHaveLength(2);
    expect(rig.ec2.instances()).toHaveLength(2);
  });

  test('a repeated ClientToken returns the same fleet and instances and launches nothing new', async () => {
    const input = fleetInput({ ClientToken: 'job-42-attempt-1' });
    const first = await rig.client.send(new CreateFleetCommand(input));
    const again = await rig.client.send(new CreateFleetCommand(input));

    expect(again.FleetId).toBe(first.FleetId);
    expect(again.Instances![0].InstanceIds).toEqual(first.Instances![0].InstanceIds);
    expect(rig.ec2.instances()).toHaveLength(1);
    expect(rig.ec2.instances()[0].clientToken).toBe('job-42-attempt-1');
  });

  test('a ClientToken reused with different parameters answers IdempotentParameterMismatch', async () => {
    await rig.client.send(new CreateFleetCommand(fleetInput({ ClientToken: 'tok-1' })));
    const changed = fleetInput({
      ClientToken: 'tok-1',
      TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
    });
    await expectEc2Error(
      rig.client.send(new CreateFleetCommand(changed)),
      'IdempotentParameterMismatch',
      400,
    );
    expect(rig.ec2.instances()).toHaveLength(1);
  });

  test('on-demand launches carry lifecycle on-demand and no instanceLifecycle', async () => {
    const input = fleetInput({
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'on-demand' },
    });
    const res = await rig.client.send(new CreateFleetCommand(input));
    expect(res.Instances![0].Lifecycle).toBe('on-demand');

    const described = await rig.client.send(
      new DescribeInstancesCommand({ InstanceIds: res.Instances![0].InstanceIds }),
    );
    const instance = described.Reservations![0].Instances![0];
    expect(instance.InstanceLifecycle).toBeUndefined();
    expect(rig.ec2.instances()[0].market).toBe('on-demand');
  });

  test('on-demand capacity runs out', async () => {
    rig.ec2.setOnDemandCapacity(1);
    const input = fleetInput({
      TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'on-demand' },
    });
    await rig.client.send(new CreateFleetCommand(input));
    const res = await rig.client.send(new CreateFleetCommand(input));
    expect(res.Instances).toEqual([]);
    expect(res.Errors![0]).toMatchObject({
      Lifecycle: 'on-demand',
      ErrorCode: 'InsufficientInstanceCapacity',
    });
  });

  test('an exceeded vCPU quota answers VcpuLimitExceeded in Errors with no instances', async () => {
    rig.ec2.setVcpuQuotaExceeded(true);
    const res = await rig.client.send(new CreateFleetCommand(fleetInput()));
    expect(res.Instances).toEqual([]);
    expect(res.Errors!.map((e) => e.ErrorCode)).toEqual(['VcpuLimitExceeded', 'VcpuLimitExceeded']);
    expect(rig.ec2.instances()).toEqual([]);
  });

  test('allocation strategies: price-capacity-optimized prefers depth, diversified spreads', async () => {
    rig.ec2.setSpotPrice('c5.large', 0.01); // cheapest, but too shallow for the request
    rig.ec2.setPoolCapacity('c5.large', 'subnet-a', 1);
    const deep = await rig.client.send(
      new CreateFleetCommand(
        fleetInput({
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
        }),
      ),
    );
    expect(deep.Instances!.map((i) => [i.InstanceType, i.InstanceIds!.length])).toEqual([['m5.large', 2]]);

    const spread = await rig.client.send(
      new CreateFleetCommand(
        fleetInput({
          TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'diversified' },
          ClientToken: 'diversified-1',
        }),
      ),
    );
    expect(spread.Instances!.map((i) => [i.InstanceType, i.InstanceIds!.length])).toEqual([
      ['c5.large', 1],
      ['m5.large', 3],
    ]);
  });

  test('a launch template without Version is rejected with MissingParameter', async () => {
    const input = fleetInput({
      LaunchTemplateConfigs: [{ LaunchTemplateSpecification: { LaunchTemplateId: 'lt-0123456789abcdef0' } }],
    });
    const err = await expectEc2Error(rig.client.send(new CreateFleetCommand(input)), 'MissingParameter', 400);
    expect(err.message).toContain('Version');
  });

  test('user tags in the aws: namespace are rejected', async () => {
    const input = fleetInput({
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:mine', Value: 'x' }] }],
    });
    await expectEc2Error(rig.client.send(new CreateFleetCommand(input)), 'InvalidParameterValue', 400);
  });
});
