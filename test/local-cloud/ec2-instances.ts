// The emulated region's state (instances, capacity, prices) and the instance actions that read or
// change it: DescribeInstances, TerminateInstances, CreateTags. CreateFleet lives in ec2-fleet.ts.
import {
  assertUserTagKey,
  decodeCursorToken,
  Ec2ApiError,
  encodeCursorToken,
  itemList,
  leaf,
  listParam,
  matchesFilterValue,
  node,
  QueryParams,
  requireParam,
  structListParam,
  tagSet,
} from './ec2-query-protocol';
import { Ec2EventOutbox } from './ec2-events';

/** Instance states, with the codes EC2 reports for them (`instanceState.code`). */
export const INSTANCE_STATE_CODES = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
} as const;

/** An EC2 instance state name. */
export type InstanceStateName = keyof typeof INSTANCE_STATE_CODES;

/** An instance the emulator launched, as tests inspect it. */
export interface EmulatedInstance {
  readonly instanceId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  /** How it was bought; EC2 reports `instanceLifecycle=spot` only for spot. */
  readonly market: 'spot' | 'on-demand';
  state: InstanceStateName;
  /**
   * Why it left `running`, e.g. `Client.UserInitiatedShutdown`, `Client.InstanceInitiatedShutdown` or
   * `Server.SpotInstanceTermination`.
   */
  stateReasonCode?: string;
  readonly tags: Record<string, string>;
  readonly launchTemplateId?: string;
  readonly launchTemplateName?: string;
  readonly launchTemplateVersion: string;
  /** The CreateFleet ClientToken that launched it (kept for tests; not sent on the wire). */
  readonly clientToken?: string;
  readonly fleetId: string;
  readonly reservationId: string;
  readonly launchTime: Date;
  readonly imageId: string;
  readonly privateIpAddress: string;
}

/** The fake account that owns every emulated resource. */
const ACCOUNT_ID = '123456789012';

/** The mutable state of one emulated region. */
export class Ec2World {
  /** The fake account that owns every reservation. */
  readonly accountId = ACCOUNT_ID;
  /** Instances by id, in launch order (DescribeInstances answers in this order). */
  readonly instances = new Map<string, EmulatedInstance>();
  /** Spot capacity per `instanceType|subnetId`; a pool not listed has unlimited capacity. */
  readonly spotCapacity = new Map<string, number>();
  onDemandCapacity: number | 'unlimited' = 'unlimited';
  vcpuQuotaExceeded = false;
  /** The code a spot pool without capacity reports (EC2 uses both, depending on the request). */
  spotCapacityErrorCode = 'InsufficientInstanceCapacity';
  /** Spot price per instance type (USD/hour), for the price-aware allocation strategies. */
  readonly spotPrices = new Map<string, number>();
  readonly subnetZones = new Map<string, string>();
  /** Answers of CreateFleet by ClientToken, for idempotent replays. */
  readonly fleetsByToken = new Map<string, { fingerprint: string; body: string }>();
  /** EventBridge events (state changes, spot signals) not yet taken by the test. */
  readonly outbox: Ec2EventOutbox;
  /** Spot instances warned of an interruption, with the `Date.now()` at which EC2 terminates them. */
  readonly spotInterruptions = new Map<string, number>();
  /**
   * Whether instances wait in `pending` and `shutting-down` until the test moves them on. When
   * false, each launch and shutdown passes through both states at once (and emits both events).
   */
  readonly manualLifecycle: boolean;
  /** Launch sequence numbers: the pagination cursor, stable when instances are forgotten. */
  private readonly launchSequence = new Map<string, number>();
  private counter = 0;
  private launches = 0;

  /**
   * @param region the region the world pretends to be
   * @param launchState the state CreateFleet leaves new instances in; `pending` makes the whole
   *   lifecycle manual (see {@link manualLifecycle})
   */
  constructor(
    readonly region: string,
    launchState: 'pending' | 'running' = 'running',
  ) {
    this.manualLifecycle = launchState === 'pending';
    this.outbox = new Ec2EventOutbox(region, this.accountId);
  }

  /** A fresh id in EC2's shape: prefix + 17 hex digits (deterministic, so failures reproduce). */
  newId(prefix: string): string {
    this.counter += 1;
    const bits = (BigInt(this.counter) * 0x9e3779b97f4a7c15n) & ((1n << 68n) - 1n);
    return `${prefix}-${bits.toString(16).padStart(17, '0')}`;
  }

  /** The Availability Zone of a subnet: as configured, else the region's first zone. */
  zoneOf(subnetId: string): string {
    return this.subnetZones.get(subnetId) ?? `${this.region}a`;
  }

  spotPrice(instanceType: string): number {
    return this.spotPrices.get(instanceType) ?? 0.1;
  }

  /**
   * Adds a just-launched instance and emits its `pending` event; unless the lifecycle is manual it
   * goes straight on to `running` (a second event), as EC2's own launch does in a moment.
   */
  addInstance(instance: EmulatedInstance): void {
    instance.state = 'pending';
    this.launches += 1;
    this.instances.set(instance.instanceId, instance);
    this.launchSequence.set(instance.instanceId, this.launches);
    this.outbox.record(instance.instanceId, instance.state);
    if (!this.manualLifecycle) this.transition(instance, 'running');
  }

  /**
   * Moves an instance to `state` and emits one state-change event; an instance already in `state`
   * does not change and emits nothing. A `reasonCode` replaces the instance's state reason.
   * @returns whether the state changed
   */
  transition(instance: EmulatedInstance, state: InstanceStateName, reasonCode?: string): boolean {
    if (reasonCode !== undefined) instance.stateReasonCode = reasonCode;
    if (instance.state === state) return false;
    instance.state = state;
    this.outbox.record(instance.instanceId, instance.state);
    return true;
  }

  /**
   * Starts a shutdown that ends in termination (TerminateInstances, or the OS with shutdown
   * behaviour `terminate`): `shutting-down`, then `terminated` at once unless the lifecycle is manual.
   */
  beginShutdown(instance: EmulatedInstance, reasonCode: string): void {
    this.transition(instance, 'shutting-down', reasonCode);
    if (!this.manualLifecycle) this.transition(instance, 'terminated');
  }

  /** Drops instances from the world (DescribeInstances stops listing them). */
  forget(instanceIds: readonly string[]): void {
    for (const id of instanceIds) {
      this.instances.delete(id);
      this.launchSequence.delete(id);
      this.spotInterruptions.delete(id);
    }
  }

  /** How many instances were ever launched, forgotten ones included. */
  get launchCount(): number {
    return this.launches;
  }

  /** The launch sequence number of an instance (1 for the first ever launched). */
  sequenceOf(instanceId: string): number {
    return this.launchSequence.get(instanceId) ?? 0;
  }

  /** Looks instances up by id, answering EC2's errors for malformed and unknown ids. */
  findInstances(ids: string[]): EmulatedInstance[] {
    const malformed = ids.find((id) => !/^i-[0-9a-f]{8}([0-9a-f]{9})?$/.test(id));
    if (malformed !== undefined)
      throw new Ec2ApiError('InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
    const missing = ids.filter((id) => !this.instances.has(id));
    if (missing.length === 1) {
      throw new Ec2ApiError('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    }
    if (missing.length > 1) {
      throw new Ec2ApiError(
        'InvalidInstanceID.NotFound',
        `The instance IDs '${missing.join(', ')}' do not exist`,
      );
    }
    return ids.map((id) => this.instances.get(id) as EmulatedInstance);
  }
}

/** The `stateReason.message` EC2 sends with each reason code the emulator uses. */
const STATE_REASON_MESSAGES: Record<string, string> = {
  'Client.UserInitiatedShutdown': 'Client.UserInitiatedShutdown: User initiated shutdown',
  'Client.InstanceInitiatedShutdown': 'Client.InstanceInitiatedShutdown: Instance initiated shutdown',
  'Server.SpotInstanceTermination': 'Server.SpotInstanceTermination: Spot instance termination',
  'Server.InternalError': 'Server.InternalError: Internal error on launch',
};

function stateXml(name: string, state: InstanceStateName): string {
  return node(name, leaf('code', INSTANCE_STATE_CODES[state]), leaf('name', state));
}

const VPC_ID = 'vpc-00000000000000e01';

/**
 * The values one filter reads from an instance (an empty list never matches). The names are those
 * the DescribeInstances reference lists, except `tag-value`, which EC2 still accepts.
 */
function filterValues(instance: EmulatedInstance, filterName: string): string[] {
  if (filterName.startsWith('tag:')) {
    const value = instance.tags[filterName.slice(4)];
    return value === undefined ? [] : [value];
  }
  switch (filterName) {
    case 'tag-key':
      return Object.keys(instance.tags);
    case 'tag-value':
      return Object.values(instance.tags);
    case 'instance-state-name':
      return [instance.state];
    case 'instance-state-code':
      return [String(INSTANCE_STATE_CODES[instance.state])];
    case 'instance-id':
      return [instance.instanceId];
    case 'instance-type':
      return [instance.instanceType];
    case 'subnet-id':
      return [instance.subnetId];
    case 'availability-zone':
      return [instance.availabilityZone];
    case 'instance-lifecycle':
      return instance.market === 'spot' ? ['spot'] : [];
    case 'reservation-id':
      return [instance.reservationId];
    case 'image-id':
      return [instance.imageId];
    case 'state-reason-code':
      return instance.stateReasonCode === undefined ? [] : [instance.stateReasonCode];
    case 'client-token':
      return instance.clientToken === undefined ? [] : [instance.clientToken];
    case 'private-ip-address':
      return [instance.privateIpAddress];
    case 'vpc-id':
      return [VPC_ID];
    case 'owner-id':
      return [ACCOUNT_ID];
    default:
      // EC2 rejects unknown filter names rather than ignoring them; so do we, loudly.
      throw new Ec2ApiError('InvalidParameterValue', `The filter '${filterName}' is invalid`);
  }
}

function instanceXml(instance: EmulatedInstance): string {
  const reason = instance.stateReasonCode;
  return (
    leaf('instanceId', instance.instanceId) +
    leaf('imageId', instance.imageId) +
    stateXml('instanceState', instance.state) +
    leaf('privateDnsName', `ip-${instance.privateIpAddress.replace(/\./g, '-')}.ec2.internal`) +
    leaf('dnsName', '') +
    leaf('reason', reason === 'Client.UserInitiatedShutdown' ? 'User initiated' : '') +
    leaf('amiLaunchIndex', 0) +
    '<productCodes/>' +
    leaf('instanceType', instance.instanceType) +
    leaf('launchTime', instance.launchTime.toISOString()) +
    node(
      'placement',
      leaf('availabilityZone', instance.availabilityZone),
      leaf('groupName', ''),
      leaf('tenancy', 'default'),
    ) +
    node('monitoring', leaf('state', 'disabled')) +
    leaf('subnetId', instance.subnetId) +
    leaf('vpcId', VPC_ID) +
    leaf('privateIpAddress', instance.privateIpAddress) +
    '<groupSet/>' +
    (reason
      ? node('stateReason', leaf('code', reason), leaf('message', STATE_REASON_MESSAGES[reason] ?? reason))
      : '') +
    leaf('architecture', 'x86_64') +
    leaf('rootDeviceType', 'ebs') +
    leaf('rootDeviceName', '/dev/xvda') +
    leaf('instanceLifecycle', instance.market === 'spot' ? 'spot' : undefined) +
    tagSet(instance.tags)
  );
}

/** DescribeInstances: ids, filters (AND across filters, OR across values), MaxResults paging. */
export function describeInstances(world: Ec2World, params: QueryParams): string {
  const ids = listParam(params, 'InstanceId');
  const filters = structListParam(params, 'Filter').map((f) => ({
    name: requireParam(f, 'Name', 'Filter.N.Name'),
    values: listParam(f, 'Value'),
  }));
  const maxResults = params.MaxResults === undefined ? undefined : Number(params.MaxResults);
  if (maxResults !== undefined) {
    if (ids.length > 0) {
      throw new Ec2ApiError(
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    }
    if (!Number.isInteger(maxResults) || maxResults < 5 || maxResults > 1000) {
      throw new Ec2ApiError(
        'InvalidParameterValue',
        `Value ( ${params.MaxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
      );
    }
  }
  let matches = ids.length > 0 ? world.findInstances(ids) : [...world.instances.values()];
  matches = matches.filter((instance) =>
    filters.every((f) =>
      filterValues(instance, f.name).some((v) => f.values.some((p) => matchesFilterValue(p, v))),
    ),
  );
  // A cursor, not an offset: instances launched or forgotten between pages neither repeat nor vanish.
  const after = params.NextToken ? decodeCursorToken(params.NextToken) : 0;
  const rest = matches.filter((instance) => world.sequenceOf(instance.instanceId) > after);
  const page = maxResults === undefined ? rest : rest.slice(0, maxResults);
  const nextToken =
    page.length < rest.length
      ? encodeCursorToken(world.sequenceOf(page[page.length - 1].instanceId))
      : undefined;
  // Instances launched together share a reservation; keep the page's order within each.
  const reservations = new Map<string, EmulatedInstance[]>();
  for (const instance of page) {
    const list = reservations.get(instance.reservationId) ?? [];
    list.push(instance);
    reservations.set(instance.reservationId, list);
  }
  return (
    itemList(
      'reservationSet',
      [...reservations.entries()],
      ([reservationId, instances]) =>
        leaf('reservationId', reservationId) +
        leaf('ownerId', world.accountId) +
        '<groupSet/>' +
        itemList('instancesSet', instances, instanceXml),
    ) + leaf('nextToken', nextToken)
  );
}

/**
 * TerminateInstances: all or nothing (one unknown id fails the whole call, as in EC2). The answer
 * says `shutting-down`, as EC2's does; unless the world's lifecycle is manual the emulator then
 * records `terminated` at once, since most tests do not want to wait for a shutdown. Terminating a
 * terminated or shutting-down instance changes nothing and succeeds.
 */
export function terminateInstances(world: Ec2World, params: QueryParams): string {
  const ids = listParam(params, 'InstanceId');
  if (ids.length === 0) requireParam(params, 'InstanceId.1', 'InstanceId');
  const changes = world.findInstances(ids).map((instance) => {
    const previous = instance.state;
    const current: InstanceStateName = previous === 'terminated' ? 'terminated' : 'shutting-down';
    if (previous !== 'terminated' && previous !== 'shutting-down') {
      world.beginShutdown(instance, 'Client.UserInitiatedShutdown');
    }
    return { id: instance.instanceId, previous, current };
  });
  return itemList(
    'instancesSet',
    changes,
    (c) =>
      leaf('instanceId', c.id) + stateXml('currentState', c.current) + stateXml('previousState', c.previous),
  );
}

/** CreateTags: instance ids must exist; other resource ids are accepted without a check. */
export function createTags(world: Ec2World, params: QueryParams): string {
  const resourceIds = listParam(params, 'ResourceId');
  if (resourceIds.length === 0) requireParam(params, 'ResourceId.1', 'ResourceId');
  const tags = structListParam(params, 'Tag').map((t) => ({
    key: requireParam(t, 'Key', 'Tag.N.Key'),
    value: t.Value ?? '',
  }));
  if (tags.length === 0) requireParam(params, 'Tag.1.Key', 'Tag');
  tags.forEach((t) => assertUserTagKey(t.key));
  const instances = world.findInstances(resourceIds.filter((id) => id.startsWith('i-')));
  for (const instance of instances) {
    for (const t of tags) instance.tags[t.key] = t.value;
  }
  return leaf('return', true);
}
