/**
 * The one EC2 launcher: a thin adapter over CreateFleet (`instant`) and TerminateInstances. It
 * reports what EC2 said; what to do about it is decided in `core/launch-decision`.
 */
import {
  CreateFleetCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ClientConfig,
  Filter,
  Instance,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { InstanceState, InstanceView } from '../core/fleet-views';
import { Market } from '../core/launch-decision';
import { INSTANCE_TAGS } from '../core/state-schema';

/** One fleet request: one instance from the config's pools in one market. */
export interface FleetRequest {
  readonly launchTemplateId: string;
  /** A version number, `$Latest` or `$Default`. */
  readonly launchTemplateVersion: string;
  readonly instanceTypes: readonly string[];
  readonly subnetIds: readonly string[];
  /** Pools (instance type in subnet) left out of the request. */
  readonly excludedPools?: readonly { readonly instanceType: string; readonly subnetId: string }[];
  readonly market: Market;
  readonly tags: Readonly<Record<string, string>>;
  /** Idempotency token: the same token returns the same fleet. */
  readonly clientToken: string;
}

/** What a fleet request produced: an instance, or the per-pool error codes. */
export type FleetResult =
  | { readonly launched: true; readonly instanceId: string; readonly instanceType?: string }
  | { readonly launched: false; readonly errorCodes: string[]; readonly message: string };

/**
 * A launcher with a client of its own. The runtime loads it on first use, through
 * `launch-clients.ts` (only a launch or the reconciler needs EC2).
 */
export function createEc2Launcher(config: EC2ClientConfig): Ec2Launcher {
  return new Ec2Launcher(new EC2Client(config));
}

/** Launches and terminates runner instances. */
export class Ec2Launcher {
  constructor(private readonly client: EC2Client) {}

  /**
   * One CreateFleet call of type `instant` across every instance type × subnet. Spot uses
   * `price-capacity-optimized`: the pools least likely to be interrupted, at a low price.
   */
  async launch(request: FleetRequest): Promise<FleetResult> {
    const excluded = (instanceType: string, subnetId: string) =>
      request.excludedPools?.some((p) => p.instanceType === instanceType && p.subnetId === subnetId) ?? false;
    const overrides = request.instanceTypes.flatMap((instanceType) =>
      request.subnetIds
        .filter((subnetId) => !excluded(instanceType, subnetId))
        .map((subnetId) => ({ InstanceType: instanceType as never, SubnetId: subnetId })),
    );
    const tags = Object.entries(request.tags).map(([Key, Value]) => ({ Key, Value }));
    const out = await this.client.send(
      new CreateFleetCommand({
        Type: 'instant',
        ClientToken: request.clientToken,
        LaunchTemplateConfigs: [
          {
            LaunchTemplateSpecification: {
              LaunchTemplateId: request.launchTemplateId,
              Version: request.launchTemplateVersion,
            },
            Overrides: overrides,
          },
        ],
        TargetCapacitySpecification: {
          TotalTargetCapacity: 1,
          DefaultTargetCapacityType: request.market,
          ...(request.market === 'spot' ? { SpotTargetCapacity: 1 } : { OnDemandTargetCapacity: 1 }),
        },
        SpotOptions:
          request.market === 'spot' ? { AllocationStrategy: 'price-capacity-optimized' } : undefined,
        OnDemandOptions: request.market === 'on-demand' ? { AllocationStrategy: 'lowest-price' } : undefined,
        // An instant fleet tags instances (and the fleet) only; volumes are tagged by the launch template.
        TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
      }),
    );
    for (const group of out.Instances ?? []) {
      const instanceId = group.InstanceIds?.[0];
      if (instanceId) return { launched: true, instanceId, instanceType: group.InstanceType };
    }
    const errors = out.Errors ?? [];
    return {
      launched: false,
      errorCodes: errors.map((e) => e.ErrorCode ?? 'Unknown'),
      message:
        errors.map((e) => `${e.ErrorCode}: ${e.ErrorMessage}`).join('; ') || 'CreateFleet launched nothing',
    };
  }

  /** Terminates instances (a launch undone, or an instance the reconciler reaps). */
  async terminate(instanceIds: readonly string[], abortSignal?: AbortSignal): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(new TerminateInstancesCommand({ InstanceIds: [...instanceIds] }), { abortSignal });
  }

  /**
   * The instances carrying this deployment's owner tag (and `filters`), any state, `pageSize` a page
   * and at most `maxPages` pages.
   */
  async describeOwned(
    ownerTag: string,
    options: { filters?: Filter[]; maxPages?: number; pageSize?: number; abortSignal?: AbortSignal } = {},
  ): Promise<{ instances: InstanceView[]; complete: boolean }> {
    const instances: InstanceView[] = [];
    let nextToken: string | undefined;
    for (let page = 0; page < (options.maxPages ?? 10); page++) {
      const out = await this.client.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: `tag:${INSTANCE_TAGS.owner}`, Values: [ownerTag] }, ...(options.filters ?? [])],
          MaxResults: options.pageSize ?? 1000,
          NextToken: nextToken,
        }),
        { abortSignal: options.abortSignal },
      );
      for (const r of out.Reservations ?? [])
        for (const i of r.Instances ?? []) instances.push(instanceView(i));
      nextToken = out.NextToken;
      if (!nextToken) return { instances, complete: true };
    }
    return { instances, complete: false };
  }

  /** One instance by id, with its tags; undefined when EC2 no longer knows it. */
  async describeOne(instanceId: string, abortSignal?: AbortSignal): Promise<InstanceView | undefined> {
    try {
      const out = await this.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }), {
        abortSignal,
      });
      const instance = out.Reservations?.[0]?.Instances?.[0];
      return instance ? instanceView(instance) : undefined;
    } catch (e) {
      if ((e as { name?: string }).name === 'InvalidInstanceID.NotFound') return undefined;
      throw e;
    }
  }
}

/** The plain view of an instance the decisions read. */
export function instanceView(i: Instance): InstanceView {
  const tags = Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  const expires = Date.parse(tags[INSTANCE_TAGS.expiresAt] ?? '');
  return {
    instanceId: i.InstanceId ?? '',
    state: (i.State?.Name ?? 'pending') as InstanceState,
    launchTime: i.LaunchTime ? i.LaunchTime.getTime() : 0,
    jobKey: tags[INSTANCE_TAGS.jobKey],
    runnerName: tags[INSTANCE_TAGS.runnerName],
    repository: tags[INSTANCE_TAGS.repository],
    installationId: Number(tags[INSTANCE_TAGS.installationId]) || undefined,
    config: tags[INSTANCE_TAGS.config],
    expiresAt: Number.isFinite(expires) ? expires : undefined,
    instanceType: i.InstanceType,
    availabilityZone: i.Placement?.AvailabilityZone,
    subnetId: i.SubnetId,
    market: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    stateReason: i.StateReason?.Code,
  };
}
