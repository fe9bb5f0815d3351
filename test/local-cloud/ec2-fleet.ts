// CreateFleet of type `instant`: launch synchronously across pools (instance type x subnet), answer
// what launched in `fleetInstanceSet` and what did not in `errorSet`, and replay the same answer
// for a repeated ClientToken. Capacity and prices come from the Ec2World the tests configure.
import { randomUUID } from 'crypto';
import { EmulatedInstance, Ec2World } from './ec2-instances';
import {
  assertUserTagKey,
  Ec2ApiError,
  escapeXml,
  itemList,
  leaf,
  node,
  QueryParams,
  requireParam,
  structListParam,
} from './ec2-query-protocol';

type Lifecycle = 'spot' | 'on-demand';

/** One launch pool: a launch template with one override (or none), in request order. */
interface Pool {
  readonly order: number;
  readonly launchTemplateId?: string;
  readonly launchTemplateName?: string;
  readonly version: string;
  /** The override members exactly as sent, echoed back in `launchTemplateAndOverrides`. */
  readonly overrides: QueryParams;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly priority: number;
  readonly weight: number;
}

/** The instance type a pool gets when neither the override nor a (not emulated) template names one. */
const TEMPLATE_INSTANCE_TYPE = 'm5.large';
const TEMPLATE_SUBNET = 'subnet-00000000000000e01';
const ALLOCATION_STRATEGIES = [
  'lowest-price',
  'diversified',
  'capacity-optimized',
  'capacity-optimized-prioritized',
  'price-capacity-optimized',
  'prioritized',
];

function parsePools(world: Ec2World, params: QueryParams): Pool[] {
  const configs = structListParam(params, 'LaunchTemplateConfigs');
  if (configs.length === 0) requireParam(params, 'LaunchTemplateConfigs.1', 'LaunchTemplateConfigs');
  const pools: Pool[] = [];
  configs.forEach((config, c) => {
    const label = `LaunchTemplateConfigs.${c + 1}.LaunchTemplateSpecification`;
    const id = config['LaunchTemplateSpecification.LaunchTemplateId'];
    const name = config['LaunchTemplateSpecification.LaunchTemplateName'];
    if (id && name) {
      throw new Ec2ApiError(
        'InvalidParameterCombination',
        `${label}: specify LaunchTemplateId or LaunchTemplateName, not both`,
      );
    }
    if (!id && !name)
      requireParam(config, 'LaunchTemplateSpecification.LaunchTemplateId', `${label}.LaunchTemplateId`);
    // The API reference: "You must specify a value, otherwise the request fails."
    const version = requireParam(config, 'LaunchTemplateSpecification.Version', `${label}.Version`);
    const overrides = structListParam(config, 'Overrides');
    for (const o of overrides.length > 0 ? overrides : [{}]) {
      const subnetId = o.SubnetId ?? TEMPLATE_SUBNET;
      pools.push({
        order: pools.length,
        launchTemplateId: id,
        launchTemplateName: name,
        version,
        overrides: o,
        instanceType: o.InstanceType ?? TEMPLATE_INSTANCE_TYPE,
        subnetId,
        availabilityZone: o.AvailabilityZone ?? world.zoneOf(subnetId),
        priority: o.Priority === undefined ? Number.POSITIVE_INFINITY : Number(o.Priority),
        weight: o.WeightedCapacity === undefined ? 1 : Number(o.WeightedCapacity),
      });
    }
  });
  return pools;
}

/** Tags for ResourceType=instance; `fleet` tags are accepted and dropped (fleets are not described). */
function parseInstanceTags(params: QueryParams): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const spec of structListParam(params, 'TagSpecification')) {
    const type = spec.ResourceType;
    if (type !== 'instance' && type !== 'fleet') {
      throw new Ec2ApiError(
        'InvalidParameterValue',
        `'${type}' is not a valid taggable resource type for this operation.`,
      );
    }
    for (const tag of structListParam(spec, 'Tag')) {
      const key = requireParam(tag, 'Key', 'TagSpecification.N.Tag.N.Key');
      assertUserTagKey(key);
      if (type === 'instance') tags[key] = tag.Value ?? '';
    }
  }
  return tags;
}

function remaining(world: Ec2World, pool: Pool, lifecycle: Lifecycle): number {
  if (lifecycle === 'on-demand') {
    return world.onDemandCapacity === 'unlimited' ? Number.POSITIVE_INFINITY : world.onDemandCapacity;
  }
  return world.spotCapacity.get(`${pool.instanceType}|${pool.subnetId}`) ?? Number.POSITIVE_INFINITY;
}

function consume(world: Ec2World, pool: Pool, lifecycle: Lifecycle): void {
  if (lifecycle === 'on-demand') {
    if (world.onDemandCapacity !== 'unlimited') world.onDemandCapacity -= 1;
    return;
  }
  const key = `${pool.instanceType}|${pool.subnetId}`;
  const left = world.spotCapacity.get(key);
  if (left !== undefined) world.spotCapacity.set(key, left - 1);
}

/**
 * Picks the pool for the next instance. An approximation of EC2's strategies over the emulator's
 * known capacity and prices: `lowest-price` by price; `capacity-optimized` by depth;
 * `price-capacity-optimized` prefers pools deep enough for the whole request and takes the
 * cheapest of those; `diversified` spreads; the `prioritized` variants honour `Priority`.
 * Ties always fall back to request order, so tests are deterministic.
 */
function choosePool(
  world: Ec2World,
  candidates: Pool[],
  lifecycle: Lifecycle,
  strategy: string,
  requestUnits: number,
  launchedPerPool: Map<number, number>,
): Pool {
  const price = (p: Pool) => world.spotPrice(p.instanceType);
  const depth = (p: Pool) => remaining(world, p, lifecycle);
  const byKeys =
    (...keys: ((p: Pool) => number)[]) =>
    (a: Pool, b: Pool) => {
      for (const key of keys) {
        const d = key(a) - key(b);
        if (d !== 0 && !Number.isNaN(d)) return d;
      }
      return a.order - b.order;
    };
  const sorted = [...candidates];
  switch (strategy) {
    case 'diversified':
      sorted.sort(byKeys((p) => launchedPerPool.get(p.order) ?? 0));
      break;
    case 'capacity-optimized':
      sorted.sort(byKeys((p) => -depth(p)));
      break;
    case 'capacity-optimized-prioritized':
      sorted.sort(
        byKeys(
          (p) => -depth(p),
          (p) => p.priority,
        ),
      );
      break;
    case 'prioritized':
      sorted.sort(byKeys((p) => p.priority));
      break;
    case 'price-capacity-optimized':
      sorted.sort(
        byKeys(
          (p) => (depth(p) >= requestUnits ? 0 : 1),
          price,
          (p) => -depth(p),
        ),
      );
      break;
    default: // lowest-price
      sorted.sort(byKeys(price));
  }
  return sorted[0];
}

interface Launch {
  pool: Pool;
  lifecycle: Lifecycle;
  instanceIds: string[];
}
interface Failure {
  pool: Pool;
  lifecycle: Lifecycle;
  code: string;
  message: string;
}

function capacityMessage(pool: Pool, lifecycle: Lifecycle, code: string): string {
  if (code === 'UnfulfillableCapacity') {
    return 'Unable to fulfill capacity due to your request configuration. Please adjust your request and try again.';
  }
  return lifecycle === 'spot'
    ? 'There is no Spot capacity available that matches your request.'
    : `We currently do not have sufficient ${pool.instanceType} capacity in the Availability Zone you requested ` +
        `(${pool.availabilityZone}). Our system will be working on provisioning additional capacity.`;
}

const VCPU_MESSAGE =
  'You have requested more vCPU capacity than your current vCPU limit allows for the instance bucket that the ' +
  'specified instance type belongs to. Please visit http://aws.amazon.com/contact-us/ec2-request to request an ' +
  'adjustment to this limit.';

/** Handles CreateFleet; returns the XML body (inside the envelope). */
export function createFleet(world: Ec2World, params: QueryParams): string {
  // The SDK fills ClientToken itself when the caller does not (it is an idempotency token).
  const clientToken = params.ClientToken;
  const fingerprint = JSON.stringify(
    Object.entries(params)
      .filter(([key]) => key !== 'ClientToken')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  if (clientToken) {
    const previous = world.fleetsByToken.get(clientToken);
    if (previous && previous.fingerprint !== fingerprint) {
      throw new Ec2ApiError(
        'IdempotentParameterMismatch',
        'The client token you have provided is associated with a resource that is already being created or ' +
          'has been created. Do not reuse a client token with different requests.',
      );
    }
    if (previous) return previous.body;
  }
  const type = params.Type ?? 'maintain';
  if (type !== 'instant') {
    throw new Ec2ApiError(
      'InvalidParameterValue',
      `The emulator supports only Type=instant fleets, got '${type}'`,
    );
  }
  const pools = parsePools(world, params);
  const tags = parseInstanceTags(params);
  const total = Number(requireParam(params, 'TargetCapacitySpecification.TotalTargetCapacity'));
  const defaultType = params['TargetCapacitySpecification.DefaultTargetCapacityType'] ?? 'on-demand';
  if (defaultType !== 'spot' && defaultType !== 'on-demand') {
    throw new Ec2ApiError(
      'InvalidParameterValue',
      `The emulator does not support DefaultTargetCapacityType '${defaultType}'`,
    );
  }
  const onDemandTarget = Number(params['TargetCapacitySpecification.OnDemandTargetCapacity'] ?? 0);
  const spotTarget = Number(params['TargetCapacitySpecification.SpotTargetCapacity'] ?? 0);
  const rest = Math.max(0, total - onDemandTarget - spotTarget);
  const targets: Record<Lifecycle, number> = {
    'on-demand': onDemandTarget + (defaultType === 'on-demand' ? rest : 0),
    spot: spotTarget + (defaultType === 'spot' ? rest : 0),
  };
  const strategies: Record<Lifecycle, string> = {
    spot: params['SpotOptions.AllocationStrategy'] ?? 'lowest-price',
    'on-demand': params['OnDemandOptions.AllocationStrategy'] ?? 'lowest-price',
  };
  for (const s of Object.values(strategies)) {
    if (!ALLOCATION_STRATEGIES.includes(s))
      throw new Ec2ApiError('InvalidParameterValue', `Invalid allocation strategy '${s}'`);
  }

  const fleetId = `fleet-${randomUUID()}`;
  const reservationId = world.newId('r');
  const launches = new Map<string, Launch>();
  const failures: Failure[] = [];
  for (const lifecycle of ['on-demand', 'spot'] as const) {
    const target = targets[lifecycle];
    if (target <= 0) continue;
    if (world.vcpuQuotaExceeded) {
      for (const pool of pools)
        failures.push({ pool, lifecycle, code: 'VcpuLimitExceeded', message: VCPU_MESSAGE });
      continue;
    }
    const launchedPerPool = new Map<number, number>();
    let fulfilled = 0;
    while (fulfilled < target) {
      const candidates = pools.filter((p) => remaining(world, p, lifecycle) >= 1);
      if (candidates.length === 0) break;
      const pool = choosePool(world, candidates, lifecycle, strategies[lifecycle], target, launchedPerPool);
      consume(world, pool, lifecycle);
      const instance = launchInstance(world, pool, lifecycle, { fleetId, reservationId, clientToken, tags });
      const key = `${pool.order}|${lifecycle}`;
      const launch = launches.get(key) ?? { pool, lifecycle, instanceIds: [] };
      launch.instanceIds.push(instance.instanceId);
      launches.set(key, launch);
      launchedPerPool.set(pool.order, (launchedPerPool.get(pool.order) ?? 0) + 1);
      fulfilled += pool.weight;
    }
    if (fulfilled < target) {
      // Every pool is empty by now: each one reports why it could not launch.
      const code = lifecycle === 'spot' ? world.spotCapacityErrorCode : 'InsufficientInstanceCapacity';
      for (const pool of pools)
        failures.push({ pool, lifecycle, code, message: capacityMessage(pool, lifecycle, code) });
    }
  }

  const body =
    leaf('fleetId', fleetId) +
    itemList(
      'errorSet',
      failures,
      (f) =>
        launchTemplateAndOverrides(f.pool) +
        leaf('lifecycle', f.lifecycle) +
        leaf('errorCode', f.code) +
        leaf('errorMessage', f.message),
    ) +
    itemList(
      'fleetInstanceSet',
      [...launches.values()],
      (l) =>
        launchTemplateAndOverrides(l.pool) +
        leaf('lifecycle', l.lifecycle) +
        itemList('instanceIds', l.instanceIds, escapeXml) +
        leaf('instanceType', l.pool.instanceType),
    );
  if (clientToken) world.fleetsByToken.set(clientToken, { fingerprint, body });
  return body;
}

/** `launchTemplateAndOverrides`: the template as requested and the override members echoed back. */
function launchTemplateAndOverrides(pool: Pool): string {
  const o = pool.overrides;
  return node(
    'launchTemplateAndOverrides',
    node(
      'launchTemplateSpecification',
      leaf('launchTemplateId', pool.launchTemplateId),
      leaf('launchTemplateName', pool.launchTemplateName),
      leaf('version', pool.version),
    ),
    node(
      'overrides',
      leaf('instanceType', o.InstanceType),
      leaf('maxPrice', o.MaxPrice),
      leaf('subnetId', o.SubnetId),
      leaf('availabilityZone', o.AvailabilityZone),
      leaf('weightedCapacity', o.WeightedCapacity),
      leaf('priority', o.Priority),
    ),
  );
}

function launchInstance(
  world: Ec2World,
  pool: Pool,
  lifecycle: Lifecycle,
  ctx: { fleetId: string; reservationId: string; clientToken?: string; tags: Record<string, string> },
): EmulatedInstance {
  const instanceId = world.newId('i');
  const n = world.launchCount + 1; // not instances.size: forgotten instances keep their addresses
  const instance: EmulatedInstance = {
    instanceId,
    instanceType: pool.instanceType,
    subnetId: pool.subnetId,
    availabilityZone: pool.availabilityZone,
    market: lifecycle,
    state: 'pending', // addInstance emits the launch events and moves it on unless the lifecycle is manual
    // EC2 adds these aws: tags to fleet-launched instances; user tags come first.
    tags: {
      ...ctx.tags,
      'aws:ec2:fleet-id': ctx.fleetId,
      ...(pool.launchTemplateId ? { 'aws:ec2launchtemplate:id': pool.launchTemplateId } : {}),
      'aws:ec2launchtemplate:version': /^\d+$/.test(pool.version) ? pool.version : '1',
    },
    launchTemplateId: pool.launchTemplateId,
    launchTemplateName: pool.launchTemplateName,
    launchTemplateVersion: pool.version,
    clientToken: ctx.clientToken,
    fleetId: ctx.fleetId,
    reservationId: ctx.reservationId,
    launchTime: new Date(Math.floor(Date.now() / 1000) * 1000),
    imageId: 'ami-00000000000000e01',
    privateIpAddress: `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 4}`,
  };
  world.addInstance(instance);
  return instance;
}
