/**
 * The one EC2 launcher: a thin adapter over CreateFleet (`instant`) and TerminateInstances. It
 * reports what EC2 said; what to do about it is decided in `core/launch-decision`.
 */
import { CreateFleetCommand, EC2Client, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { Market } from '../core/launch-decision';

/** One fleet request: one instance from the config's pools in one market. */
export interface FleetRequest {
  readonly launchTemplateId: string;
  /** A version number, `$Latest` or `$Default`. */
  readonly launchTemplateVersion: string;
  readonly instanceTypes: readonly string[];
  readonly subnetIds: readonly string[];
  readonly market: Market;
  readonly tags: Readonly<Record<string, string>>;
  /** Idempotency token: the same token returns the same fleet. */
  readonly clientToken: string;
}

/** What a fleet request produced: an instance, or the per-pool error codes. */
export type FleetResult =
  | { readonly launched: true; readonly instanceId: string; readonly instanceType?: string }
  | { readonly launched: false; readonly errorCodes: string[]; readonly message: string };

/** Launches and terminates runner instances. */
export class Ec2Launcher {
  constructor(private readonly client: EC2Client) {}

  /**
   * One CreateFleet call of type `instant` across every instance type × subnet. Spot uses
   * `price-capacity-optimized`: the pools least likely to be interrupted, at a low price.
   */
  async launch(request: FleetRequest): Promise<FleetResult> {
    const overrides = request.instanceTypes.flatMap((instanceType) =>
      request.subnetIds.map((subnetId) => ({ InstanceType: instanceType as never, SubnetId: subnetId })),
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

  /** Terminates instances (a launch that could not be completed). */
  async terminate(instanceIds: readonly string[]): Promise<void> {
    if (instanceIds.length === 0) return;
    await this.client.send(new TerminateInstancesCommand({ InstanceIds: [...instanceIds] }));
  }
}
