// A local EC2 endpoint for tests: the real @aws-sdk/client-ec2 talks to it over the EC2 Query
// protocol on 127.0.0.1. It keeps instances in memory, models spot capacity per pool, and injects
// the faults a launcher must survive (throttling, capacity, quota, latency).
import { randomUUID } from 'crypto';
import { IncomingMessage, ServerResponse } from 'http';
import { delay, FaultPlan, LocalServer, startLocalServer } from './emulator-server';
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

/** Options for {@link Ec2Emulator.start}. */
export interface Ec2EmulatorOptions {
  /** The region the emulator pretends to be; Availability Zones are named after it. @default 'us-east-1' */
  readonly region?: string;
  /** Seed of the throttling PRNG, so a throttled run can be replayed. @default 1 */
  readonly seed?: number;
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
 * CreateTags. Every request is recorded in {@link Ec2Emulator.calls}, including failed ones.
 *
 * @example
 * const ec2 = await Ec2Emulator.start();
 * const client = new EC2Client({ region: 'us-east-1', endpoint: ec2.endpoint, credentials });
 */
export class Ec2Emulator {
  /** Starts an emulator on 127.0.0.1 on a free port. */
  static async start(options: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
    const world = new Ec2World(options.region ?? 'us-east-1');
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

  /** Snapshots of every instance ever launched (terminated ones stay, as EC2 shows them for a while). */
  instances(): EmulatedInstance[] {
    return [...this.world.instances.values()].map((i) => ({ ...i, tags: { ...i.tags } }));
  }

  /**
   * Changes an instance's state from outside, e.g. a spot interruption:
   * `setInstanceState(id, 'terminated', 'Server.SpotInstanceTermination')`.
   */
  setInstanceState(instanceId: string, state: InstanceStateName, reasonCode?: string): void {
    const instance = this.world.instances.get(instanceId);
    if (!instance) throw new Error(`no emulated instance ${instanceId}`);
    instance.state = state;
    instance.stateReasonCode = reasonCode;
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
