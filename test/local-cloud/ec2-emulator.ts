// A local EC2 endpoint for tests: the real @aws-sdk/client-ec2 talks to it over the EC2 Query
// protocol on 127.0.0.1. It keeps instances in memory, models spot capacity per pool, and injects
// the faults a launcher must survive (throttling, capacity, quota, latency).
import { randomUUID } from 'crypto';
import { IncomingMessage, ServerResponse } from 'http';
import { delay, FaultPlan, LocalServer, startLocalServer } from './emulator-server';
import type { Ec2Event } from './ec2-events';
import { createFleet } from './ec2-fleet';
import {
  createTags,
  describeInstances,
  EmulatedInstance,
  Ec2World,
  InstanceStateName,
  terminateInstances,
} from './ec2-instances';
import {
  defaultStatusFor,
  Ec2ApiError,
  errorXml,
  parseQuery,
  QueryParams,
  successXml,
} from './ec2-query-protocol';

export type { EmulatedInstance, InstanceStateName } from './ec2-instances';
export type {
  Ec2Event,
  RebalanceRecommendationEvent,
  SpotInterruptionWarningEvent,
  StateChangeEvent,
} from './ec2-events';
export {
  isStateChangeEvent,
  REBALANCE_RECOMMENDATION_DETAIL_TYPE,
  SPOT_INTERRUPTION_DETAIL_TYPE,
  STATE_CHANGE_DETAIL_TYPE,
} from './ec2-events';

/** How long after its interruption warning EC2 interrupts a spot instance: two minutes. */
export const SPOT_INTERRUPTION_NOTICE_MS = 120_000;

/** Options for {@link Ec2Emulator.start}. */
export interface Ec2EmulatorOptions {
  /** The region the emulator pretends to be; Availability Zones are named after it. @default 'us-east-1' */
  readonly region?: string;
  /** Seed of the throttling PRNG, so a throttled run can be replayed. @default 1 */
  readonly seed?: number;
  /**
   * The state CreateFleet leaves new instances in. `'running'` collapses EC2's transitions: a launch
   * passes through `pending` to `running`, and a shutdown through `shutting-down` to `terminated`, at
   * once (each state still emits its event). `'pending'` makes the lifecycle manual: instances stay
   * `pending` until {@link Ec2Emulator.markRunning} and `shutting-down` until
   * {@link Ec2Emulator.finishShutdown} or {@link Ec2Emulator.completeShutdowns}, so tests can act
   * while EC2 would still be booting or shutting an instance down.
   * @default 'running'
   */
  readonly launchState?: 'pending' | 'running';
}

/** One request the emulator received, in arrival order. */
export interface Ec2Call {
  /** The `Action` parameter (empty when the request had none). */
  readonly action: string;
  /** `Date.now()` when the request arrived. */
  readonly at: number;
  /** Every decoded request parameter, e.g. `{ 'InstanceId.1': 'i-...' }`. */
  readonly params: QueryParams;
}

type ActionHandler = (world: Ec2World, params: QueryParams) => string;

const ACTIONS: Record<string, ActionHandler> = {
  CreateFleet: createFleet,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  CreateTags: createTags,
};

/**
 * An in-memory EC2 region behind a loopback HTTP server.
 *
 * Implements CreateFleet (`Type=instant` only), DescribeInstances, TerminateInstances and
 * CreateTags. Every request is recorded in {@link Ec2Emulator.calls}, including failed ones. Every
 * instance state change emits an EventBridge `EC2 Instance State-change Notification`, and the spot
 * signals a test raises ({@link Ec2Emulator.warnSpotInterruption},
 * {@link Ec2Emulator.recommendRebalance}) emit theirs; the test collects them with
 * {@link Ec2Emulator.takeEvents}.
 *
 * @example
 * const ec2 = await Ec2Emulator.start();
 * const client = new EC2Client({ region: 'us-east-1', endpoint: ec2.endpoint, credentials });
 */
export class Ec2Emulator {
  /** Starts an emulator on 127.0.0.1 on a free port. */
  static async start(options: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
    const world = new Ec2World(options.region ?? 'us-east-1', options.launchState ?? 'running');
    const faults = new FaultPlan({ code: 'RequestLimitExceeded', status: 503 }, options.seed ?? 1);
    const calls: Ec2Call[] = [];
    const server = await startLocalServer((req, body, res) => handle(world, faults, calls, req, body, res));
    return new Ec2Emulator(server, world, faults, calls);
  }

  /** `http://127.0.0.1:PORT`: pass as the EC2 client's `endpoint` or `AWS_ENDPOINT_URL_EC2`. */
  readonly endpoint: string;

  private constructor(
    private readonly server: LocalServer,
    private readonly world: Ec2World,
    private readonly faults: FaultPlan,
    private readonly callLog: Ec2Call[],
  ) {
    this.endpoint = server.endpoint;
  }

  /** Every request received since start (or the last {@link resetCalls}), in order. */
  get calls(): readonly Ec2Call[] {
    return this.callLog;
  }

  /** How many requests named `action` were received: the number critical-path tests assert. */
  callCount(action: string): number {
    return this.callLog.filter((c) => c.action === action).length;
  }

  /** Forgets the recorded calls (state and faults are kept). */
  resetCalls(): void {
    this.callLog.length = 0;
  }

  /** Stops the server and closes the SDK's keep-alive sockets. */
  stop(): Promise<void> {
    return this.server.close();
  }

  /**
   * Sets how many more spot instances the pool `instanceType` x `subnetId` can launch. Pools never
   * set have unlimited spot capacity. Each launched spot instance takes one unit.
   */
  setPoolCapacity(instanceType: string, subnetId: string, spotCapacity: number): void {
    this.world.spotCapacity.set(`${instanceType}|${subnetId}`, spotCapacity);
  }

  /** Sets how many more on-demand instances can launch, across all pools. @default 'unlimited' */
  setOnDemandCapacity(capacity: number | 'unlimited'): void {
    this.world.onDemandCapacity = capacity;
  }

  /** While on, CreateFleet launches nothing and reports `VcpuLimitExceeded` for every pool. */
  setVcpuQuotaExceeded(on: boolean): void {
    this.world.vcpuQuotaExceeded = on;
  }

  /** The code an empty spot pool reports in `errorSet`. @default 'InsufficientInstanceCapacity' */
  setSpotCapacityErrorCode(code: 'InsufficientInstanceCapacity' | 'UnfulfillableCapacity' | string): void {
    this.world.spotCapacityErrorCode = code;
  }

  /** Sets the spot price of an instance type (USD/hour) for price-aware strategies. @default 0.1 */
  setSpotPrice(instanceType: string, price: number): void {
    this.world.spotPrices.set(instanceType, price);
  }

  /** Places a subnet in an Availability Zone. @default `${region}a` */
  setSubnetZone(subnetId: string, availabilityZone: string): void {
    this.world.subnetZones.set(subnetId, availabilityZone);
  }

  /**
   * Makes the next `count` calls of `action` (or `'*'` for any action) fail with `code`, before any
   * state changes. The HTTP status defaults to EC2's for the code (503 for RequestLimitExceeded,
   * 500 for InternalError, else 400).
   */
  failNext(action: string, count: number, code: string, status?: number): void {
    this.faults.failNext(action, count, { code, status: status ?? defaultStatusFor(code) });
  }

  /**
   * Answers `fraction` of all calls with `RequestLimitExceeded` (HTTP 503), chosen by a seeded PRNG
   * (the start option `seed`, or `seed` here to restart it) so runs are reproducible.
   */
  setThrottleRate(fraction: number, seed?: number): void {
    this.faults.setThrottleRate(fraction, seed);
  }

  /** Delays every answer by `ms` milliseconds. */
  setLatencyMs(ms: number): void {
    this.faults.latencyMs = ms;
  }

  /**
   * Snapshots of every instance launched, in launch order. Terminated ones stay, as EC2 lists them
   * for about an hour, until {@link forgetTerminated}.
   */
  instances(): EmulatedInstance[] {
    return [...this.world.instances.values()].map((i) => ({ ...i, tags: { ...i.tags } }));
  }

  /** How many instances were ever launched, forgotten ones included: a point in launch order. */
  launchCount(): number {
    return this.world.launchCount;
  }

  /** An instance's place in launch order (1 for the first ever launched; 0 once forgotten). */
  sequenceOf(instanceId: string): number {
    return this.world.sequenceOf(instanceId);
  }

  /** One instance's state, without copying the world (undefined once forgotten, or never launched). */
  stateOf(instanceId: string): InstanceStateName | undefined {
    return this.world.instances.get(instanceId)?.state;
  }

  /** Every instance's id, state and runner-name tag, in launch order, without copying the world. */
  summaries(): { instanceId: string; state: InstanceStateName; runnerName?: string }[] {
    return [...this.world.instances.values()].map((i) => ({
      instanceId: i.instanceId,
      state: i.state,
      runnerName: i.tags['ephemeral-runners:runner-name'],
    }));
  }

  /**
   * Changes an instance's state from outside, e.g. a spot interruption:
   * `setInstanceState(id, 'terminated', 'Server.SpotInstanceTermination')`. Sets the state reason
   * to `reasonCode` (none when omitted) and emits one event if the state changed; no intermediate
   * states are passed through.
   */
  setInstanceState(instanceId: string, state: InstanceStateName, reasonCode?: string): void {
    const instance = this.instance(instanceId, 'setInstanceState');
    this.world.transition(instance, state);
    instance.stateReasonCode = reasonCode;
  }

  /** Moves a `pending` instance to `running` (the boot finished), emitting its `running` event. */
  markRunning(instanceId: string): void {
    this.world.transition(this.instance(instanceId, 'markRunning', 'pending'), 'running');
  }

  /** Moves a `shutting-down` instance to `terminated`, emitting its `terminated` event. */
  finishShutdown(instanceId: string): void {
    this.world.transition(this.instance(instanceId, 'finishShutdown', 'shutting-down'), 'terminated');
  }

  /**
   * Moves every `shutting-down` instance to `terminated`, in launch order.
   * @returns the ids of the instances it terminated
   */
  completeShutdowns(): string[] {
    const shuttingDown = [...this.world.instances.values()].filter((i) => i.state === 'shutting-down');
    for (const instance of shuttingDown) this.world.transition(instance, 'terminated');
    return shuttingDown.map((i) => i.instanceId);
  }

  /**
   * The OS of a `running` instance shut itself down (`shutdown -h`, `poweroff`) and its shutdown
   * behaviour is `terminate`, as a runner's launch template sets it: `shutting-down` with state
   * reason `Client.InstanceInitiatedShutdown`, then `terminated` (at once, unless the lifecycle is
   * manual: then it waits for {@link finishShutdown} or {@link completeShutdowns} like a
   * TerminateInstances call).
   */
  shutdownFromInstance(instanceId: string): void {
    const instance = this.instance(instanceId, 'shutdownFromInstance', 'running');
    this.world.beginShutdown(instance, 'Client.InstanceInitiatedShutdown');
  }

  /**
   * EC2 is reclaiming a `running` spot instance: emits the `EC2 Spot Instance Interruption Warning`
   * (`instance-action: terminate`, a runner's interruption behaviour) and schedules the termination
   * for two minutes later by `Date.now()`; {@link completeInterruptions} carries it out once that
   * time has come. Throws for an on-demand instance, one not `running`, or one already warned.
   */
  warnSpotInterruption(instanceId: string): void {
    const instance = this.runningSpot(instanceId, 'warnSpotInterruption');
    if (this.world.spotInterruptions.has(instanceId)) {
      throw new Error(`warnSpotInterruption: instance ${instanceId} was already warned`);
    }
    this.world.outbox.recordInterruptionWarning(instanceId, instance.availabilityZone);
    this.world.spotInterruptions.set(instanceId, Date.now() + SPOT_INTERRUPTION_NOTICE_MS);
  }

  /**
   * Emits an `EC2 Instance Rebalance Recommendation` for a `running` spot instance, and nothing else:
   * the instance keeps running (an interruption may follow, or never come). Throws for an on-demand
   * instance or one not `running`.
   */
  recommendRebalance(instanceId: string): void {
    this.runningSpot(instanceId, 'recommendRebalance');
    this.world.outbox.recordRebalanceRecommendation(instanceId);
  }

  /** The interruptions warned of and not yet carried out, with when EC2 terminates each (`Date.now()` ms). */
  pendingInterruptions(): { instanceId: string; terminateAt: number }[] {
    return [...this.world.spotInterruptions].map(([instanceId, terminateAt]) => ({
      instanceId,
      terminateAt,
    }));
  }

  /**
   * Interrupts every warned spot instance whose two minutes have passed (`Date.now()`): `shutting-down`
   * with state reason `Server.SpotInstanceTermination`, then `terminated` as the lifecycle does (at
   * once, or at {@link completeShutdowns} when it is manual), each state with its event. An instance
   * already shutting down or terminated in the meantime is left alone.
   * @returns the ids of the instances it interrupted, in warning order
   */
  completeInterruptions(): string[] {
    const now = Date.now();
    const interrupted: string[] = [];
    for (const [instanceId, terminateAt] of this.world.spotInterruptions) {
      if (terminateAt > now) continue;
      this.world.spotInterruptions.delete(instanceId);
      const instance = this.world.instances.get(instanceId);
      if (!instance || instance.state === 'shutting-down' || instance.state === 'terminated') continue;
      this.world.beginShutdown(instance, 'Server.SpotInstanceTermination');
      interrupted.push(instanceId);
    }
    return interrupted;
  }

  /**
   * Removes and returns the events emitted since the last call (state changes and spot signals), in
   * emission order. Real EventBridge delivery is unordered and at least once: see
   * {@link StateChangeEvent}; {@link isStateChangeEvent} picks out the state changes.
   */
  takeEvents(): Ec2Event[] {
    return this.world.outbox.take();
  }

  /**
   * Drops every `terminated` instance from the world, as EC2 does about an hour after termination:
   * DescribeInstances stops listing them and their ids become `InvalidInstanceID.NotFound`.
   * @returns the ids it dropped
   */
  forgetTerminated(): string[] {
    const ids = [...this.world.instances.values()]
      .filter((i) => i.state === 'terminated')
      .map((i) => i.instanceId);
    this.world.forget(ids);
    return ids;
  }

  /** The `running` spot instance `instanceId`, which `method` needs. */
  private runningSpot(instanceId: string, method: string): EmulatedInstance {
    const instance = this.instance(instanceId, method, 'running');
    if (instance.market !== 'spot') {
      throw new Error(`${method}: instance ${instanceId} is on-demand; EC2 interrupts only spot instances`);
    }
    return instance;
  }

  /** The live instance `instanceId`, which `method` needs to be in state `expected` (if given). */
  private instance(instanceId: string, method: string, expected?: InstanceStateName): EmulatedInstance {
    const instance = this.world.instances.get(instanceId);
    if (!instance) throw new Error(`${method}: no emulated instance ${instanceId}`);
    if (expected !== undefined && instance.state !== expected) {
      const hint = expected === 'running' ? '' : " (start the emulator with launchState: 'pending')";
      throw new Error(
        `${method}: instance ${instanceId} is ${instance.state}, not ${expected}; ` +
          `${method} moves only ${expected} instances${hint}`,
      );
    }
    return instance;
  }
}

async function handle(
  world: Ec2World,
  faults: FaultPlan,
  calls: Ec2Call[],
  req: IncomingMessage,
  body: string,
  res: ServerResponse,
): Promise<void> {
  const params = parseQuery(req.url, body);
  const action = params.Action ?? '';
  calls.push({ action, at: Date.now(), params });
  await delay(faults.latencyMs);
  const requestId = randomUUID();
  const send = (status: number, xml: string) => {
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
    res.end(xml);
  };
  try {
    if (!action) throw new Ec2ApiError('MissingAction', 'The request must contain the parameter Action');
    const handler = ACTIONS[action];
    if (!handler) {
      throw new Ec2ApiError('InvalidAction', `The action ${action} is not valid for this web service.`);
    }
    const fault = faults.next(action);
    if (fault) throw new Ec2ApiError(fault.code, `Injected ${fault.code} for ${action}`, fault.status);
    if (params.DryRun === 'true') {
      throw new Ec2ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.');
    }
    send(200, successXml(action, requestId, handler(world, params)));
  } catch (err) {
    if (!(err instanceof Ec2ApiError)) throw err;
    send(err.status, errorXml(err.code, err.message, requestId));
  }
}
