/**
 * A simulated deployment in virtual time: the local cloud (dynalite, EC2, SSM/Secrets Manager,
 * GitHub with its job scheduler), the three built Lambdas in containers that can be killed at any
 * call, runner instances that boot, read their handoff as the boot script does, connect, run one
 * job and shut down, and the EventBridge schedules and state-change events that drive the
 * Lambdas. Time jumps from event to event; between jumps everything runs for real on loopback.
 * Used by the crash-table tests and by `npm run bench` (the lifecycle day).
 */
import { DeleteItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ContainerPool } from './containers';
import type { StateChangeEvent } from './ec2-events';
import type { Interceptor, KilledCall } from './gate';
import type { OutboxDelivery } from './github-emulator/api-types';
import { apiGatewayEvent, LocalCloud, LocalCloudOptions, startLocalCloud } from './local-cloud';
import { VirtualClock } from './virtual-clock';

/** How a runner instance's boot goes. */
export type BootOutcome = 'ok' | 'dies' | 'hangs';

/** A seeded PRNG (mulberry32): the same seed replays the same day. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of a world. */
export interface WorldOptions {
  readonly cloud?: LocalCloudOptions;
  readonly seed?: number;
  /** Time from launch to the OS running the boot script. @default 40–90 s */
  readonly bootDelayMs?: (random: () => number) => number;
  /** @default always 'ok' */
  readonly bootOutcome?: (instanceId: string, random: () => number) => BootOutcome;
  /** Kills the webhook container at some call of this delivery. @default never */
  readonly killWebhook?: (delivery: OutboxDelivery, random: () => number) => Interceptor | undefined;
  /** Kills the retry container at some call of this run. @default never */
  readonly killRetry?: (random: () => number) => Interceptor | undefined;
  /** When set, a call killed in flight lands this long (virtual) after the kill. @default never on its own */
  readonly landLateAfterMs?: (random: () => number) => number;
  /** @default 60 s */
  readonly retryEveryMs?: number;
  /** @default 120 s */
  readonly reconcileEveryMs?: number;
}

/** One queued job of the simulation. */
export interface SimJobSpec {
  readonly labels: string[];
  readonly repository?: string;
  /** How long the job runs once a runner takes it. */
  readonly durationMs: number;
  /** Cancel it this long after it was queued, if it is still queued then. */
  readonly cancelAfterMs?: number;
}

interface ScheduledEvent {
  readonly at: number;
  readonly seq: number;
  readonly what: string;
  readonly run: () => Promise<void> | void;
}

interface InstanceLife {
  readonly launchedAt: number;
  readonly bootDelayMs: number;
  onlineAt?: number;
  endedAt?: number;
  busyMs: number;
  busySince?: number;
  outcome?: BootOutcome;
}

const HANDOFF_POLL_MS = 5_000;
const HANDOFF_WAIT_MS = 120_000; // the boot script's JIT_TIMEOUT_SECONDS

/** What the simulation counted. */
export interface WorldFigures {
  jobs: number;
  ran: number;
  cancelled: number;
  lost: number;
  duplicates: number;
  leakedInstances: number;
  leakedRegistrations: number;
  leakedHandoffs: number;
  instances: number;
  idleInstanceMinutesPerJob: number;
  queueP50s: number;
  queueP95s: number;
  webhookKills: number;
  retryKills: number;
  failedDeliveries: number;
  redelivered: number;
  hungGitHubCalls: number;
}

/** A simulated deployment. */
export class World {
  /** Starts the local cloud and the Lambdas' containers under a virtual clock. */
  static async create(options: WorldOptions = {}): Promise<World> {
    const clock = new VirtualClock();
    clock.install();
    const cloud = await startLocalCloud({ ec2LaunchState: 'pending', ...options.cloud });
    return new World(cloud, clock, options);
  }

  readonly webhook: ContainerPool<'webhook'>;
  readonly retry: ContainerPool<'retry'>;
  readonly reconciler: ContainerPool<'reconcile'>;
  readonly random: () => number;
  /** Every job the simulation queued, by GitHub job id. */
  readonly jobs = new Map<
    number,
    { spec: SimJobSpec; queuedAt: number; startedAt?: number; starts: number }
  >();
  /** Per-invocation notes for tests (kills, answers). */
  readonly log: string[] = [];
  /** The calls at which containers were killed, in order (a call killed in flight can land later). */
  readonly kills: KilledCall[] = [];
  /** Every delivery GitHub made, by guid, as a person redelivering from the App's settings finds it. */
  private readonly delivered = new Map<string, OutboxDelivery>();
  private readonly queue: ScheduledEvent[] = [];
  private seq = 0;
  private readonly lives = new Map<string, InstanceLife>();
  /** instance id → runner id, while its runner is connected. */
  private readonly connected = new Map<string, number>();
  private readonly cancelledByDesign = new Set<number>();
  private ticking = false;
  /** Instances seen so far, by runner name. */
  private readonly byRunner = new Map<string, string>();
  private counts = { webhookKills: 0, retryKills: 0, failedDeliveries: 0 };

  private constructor(
    readonly cloud: LocalCloud,
    readonly clock: VirtualClock,
    private readonly options: WorldOptions,
  ) {
    const pool = { env: cloud.env, Date: clock.DateClass };
    this.webhook = new ContainerPool({ handler: 'webhook', ...pool });
    this.retry = new ContainerPool({ handler: 'retry', ...pool });
    this.reconciler = new ContainerPool({ handler: 'reconcile', ...pool });
    this.random = seededRandom(options.seed ?? 1);
    // A redelivery GitHub makes (asked by the reconciler) reaches the webhook like any delivery.
    cloud.github.setRedeliveryHandler(async (listed) => {
      const original = this.delivered.get(String(listed.guid));
      if (!original) return 404;
      this.redeliveries++;
      return this.invokeWebhook(original, 'redelivery');
    });
  }

  /** Redeliveries GitHub made, as asked by the reconciler. */
  redeliveries = 0;

  now(): number {
    return this.clock.now();
  }

  /** Schedules `run` at virtual time `at`. */
  at(at: number, what: string, run: () => Promise<void> | void): void {
    const event = { at, seq: this.seq++, what, run };
    let i = this.queue.length;
    while (
      i > 0 &&
      (this.queue[i - 1].at > at || (this.queue[i - 1].at === at && this.queue[i - 1].seq > event.seq))
    )
      i--;
    this.queue.splice(i, 0, event);
  }

  /** Starts the retry and reconciler schedules (from now on, every interval). */
  startSchedules(): void {
    if (this.ticking) return;
    this.ticking = true;
    const retryEvery = this.options.retryEveryMs ?? 60_000;
    const reconcileEvery = this.options.reconcileEveryMs ?? 120_000;
    const retryTick = async () => {
      await this.runRetry();
      if (this.ticking) this.at(this.now() + retryEvery, 'retry', retryTick);
    };
    const reconcileTick = async () => {
      await this.runReconciler();
      if (this.ticking) this.at(this.now() + reconcileEvery, 'reconcile', reconcileTick);
    };
    this.at(this.now() + retryEvery, 'retry', retryTick);
    this.at(this.now() + reconcileEvery / 2, 'reconcile', reconcileTick);
  }

  /** Stops the schedules (pending ticks still run once). */
  stopSchedules(): void {
    this.ticking = false;
  }

  /** Queues a job at GitHub now (its `queued` delivery goes to the webhook at the next settle). */
  queueJob(spec: SimJobSpec): number {
    const id = this.cloud.github.queueJob({ repository: spec.repository ?? 'acme/app', labels: spec.labels });
    this.jobs.set(id, { spec, queuedAt: this.now(), starts: 0 });
    if (spec.cancelAfterMs !== undefined) {
      this.at(this.now() + spec.cancelAfterMs, `cancel ${id}`, () => {
        if (this.cloud.github.job(id)?.status === 'queued') {
          this.cancelledByDesign.add(id);
          this.cloud.github.cancelJob(id);
        }
      });
    }
    return id;
  }

  /** One invocation of the retry Lambda, as its schedule would run it. */
  async runRetry(intercept?: Interceptor): Promise<unknown> {
    const run = await this.retry.invoke(
      {},
      { getRemainingTimeInMillis: () => 50_000 },
      {
        intercept: intercept ?? this.options.killRetry?.(this.random),
      },
    );
    if (run.killed) {
      this.counts.retryKills++;
      this.noteKill(run.killed);
    }
    return run.result;
  }

  /** One scheduled run of the reconciler. */
  async runReconciler(intercept?: Interceptor): Promise<unknown> {
    const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
    const run = await this.reconciler.invoke(
      event,
      { getRemainingTimeInMillis: () => 110_000 },
      { intercept },
    );
    return run.result;
  }

  /** Runs every event due by `until` (virtual ms), settling the world after each. */
  async runUntil(until: number): Promise<void> {
    await this.settle();
    while (this.queue.length > 0 && this.queue[0].at <= until) {
      const event = this.queue.shift()!;
      if (event.at > this.now()) this.clock.advanceTo(event.at);
      await event.run();
      await this.settle();
    }
    if (until > this.now()) this.clock.advanceTo(until);
  }

  /**
   * Runs until nothing is left to happen: no job queued or running at GitHub, no live instance, no
   * registration, checked every `stepMs` of virtual time, for at most `maxMs`.
   */
  async runToQuiescence(maxMs: number, stepMs = 60_000): Promise<boolean> {
    this.startSchedules();
    const end = this.now() + maxMs;
    while (this.now() < end) {
      await this.runUntil(Math.min(end, this.now() + stepMs));
      if (this.quiet()) {
        // Two more reconciler periods, so that late repairs get their chance to show.
        await this.runUntil(this.now() + 2 * (this.options.reconcileEveryMs ?? 120_000));
        if (this.quiet()) return true;
      }
    }
    return this.quiet();
  }

  private quiet(): boolean {
    const github = this.cloud.github;
    const busyJobs = github.jobs().some((j) => j.status === 'queued' || j.status === 'in_progress');
    const alive = this.cloud.ec2.summaries().some((i) => i.state === 'pending' || i.state === 'running');
    return !busyJobs && !alive && github.runners().length === 0;
  }

  /** Delivers, boots, shuts down and forwards state changes until the world stops moving. */
  async settle(): Promise<void> {
    const { github, ec2 } = this.cloud;
    for (let round = 0; round < 100; round++) {
      let moved = false;
      await github.whenIdle(); // redeliveries GitHub is making
      const deliveries = github.takeDeliveries();
      if (deliveries.length > 0) {
        moved = true;
        await Promise.all(deliveries.map((d) => this.deliver(d)));
      }
      for (const i of ec2.summaries()) {
        if (this.lives.has(i.instanceId)) continue;
        if (i.runnerName) this.byRunner.set(i.runnerName, i.instanceId);
        const bootDelayMs =
          this.options.bootDelayMs?.(this.random) ?? 40_000 + Math.floor(this.random() * 50_000);
        this.lives.set(i.instanceId, { launchedAt: this.now(), bootDelayMs, busyMs: 0 });
        this.at(this.now() + bootDelayMs, `boot ${i.instanceId}`, () => this.boot(i.instanceId));
      }
      // A runner whose registration was deleted under it exits, and its instance shuts down.
      const registered = new Set(github.runners().map((r) => r.id));
      for (const [instanceId, runnerId] of this.connected) {
        if (!registered.has(runnerId) && this.alive(instanceId)) {
          this.shutdown(instanceId);
          moved = true;
        }
      }
      for (const id of ec2.completeShutdowns()) {
        moved = true;
        this.ended(id);
      }
      const events = ec2.takeEvents();
      if (events.length > 0) {
        moved = true;
        await Promise.all(events.map((e) => this.forward(e)));
      }
      if (!moved) return;
    }
  }

  private alive(instanceId: string): boolean {
    const state = this.cloud.ec2.stateOf(instanceId);
    return state === 'pending' || state === 'running';
  }

  private shutdown(instanceId: string): void {
    if (this.cloud.ec2.stateOf(instanceId) === 'running') this.cloud.ec2.shutdownFromInstance(instanceId);
  }

  /** The instance is gone: a runner still connected to GitHub loses its machine. */
  private ended(instanceId: string): void {
    const life = this.lives.get(instanceId);
    if (life && life.endedAt === undefined) {
      life.endedAt = this.now();
      if (life.busySince !== undefined) life.busyMs += this.now() - life.busySince;
      life.busySince = undefined;
    }
    const runnerId = this.connected.get(instanceId);
    this.connected.delete(instanceId);
    if (runnerId !== undefined && this.cloud.github.runners().some((r) => r.id === runnerId))
      this.cloud.github.runnerLost(runnerId);
  }

  private async forward(event: StateChangeEvent): Promise<void> {
    if (event.detail.state !== 'shutting-down' && event.detail.state !== 'terminated') return;
    // EventBridge delivers the rule's matches to the reconciler; it checks the owner tag itself.
    await this.reconciler.invoke(event, { getRemainingTimeInMillis: () => 110_000 });
  }

  private async deliver(d: OutboxDelivery): Promise<void> {
    const job = (d.payload as { workflow_job: { id: number; runner_name: string | null } }).workflow_job;
    if (d.action === 'in_progress' && !this.delivered.has(d.guid)) this.started(job.id, job.runner_name);
    this.delivered.set(d.guid, d);
    const status = await this.invokeWebhook(d, 'delivery');
    this.cloud.github.recordDeliveryResult(d.guid, status);
  }

  /** One webhook invocation for a delivery; the status GitHub records (0: no answer). */
  private async invokeWebhook(d: OutboxDelivery, kind: 'delivery' | 'redelivery'): Promise<number> {
    const job = (d.payload as { workflow_job: { id: number } }).workflow_job;
    const event = await apiGatewayEvent(this.cloud, undefined, { deliveryId: d.guid, rawBody: d.body });
    const run = await this.webhook.invoke(event, undefined, {
      intercept: this.options.killWebhook?.(d, this.random),
    });
    const status = run.killed ? 0 : run.result.statusCode;
    if (run.killed) {
      this.counts.webhookKills++;
      this.noteKill(run.killed);
    }
    if (status < 200 || status >= 300) this.counts.failedDeliveries++;
    this.log.push(`${kind} ${d.action} ${job.id}: ${run.killed ? `killed at ${run.killed.target}` : status}`);
    return status;
  }

  private noteKill(kill: KilledCall): void {
    this.kills.push(kill);
    const land = kill.landLate;
    const after = this.options.landLateAfterMs;
    if (land && after)
      this.at(this.now() + after(this.random), 'land late', () =>
        land().then(
          () => undefined,
          () => undefined,
        ),
      );
  }

  /** Sends a delivery again with its guid (what "Redeliver" in the App's settings does). */
  async redeliver(guid: string): Promise<void> {
    const d = this.delivered.get(guid);
    if (!d) throw new Error(`no delivery ${guid}`);
    await this.deliver({ ...d, payload: { ...d.payload } });
    await this.settle();
  }

  /** The guids of the deliveries of one job, in order. */
  deliveriesOf(jobId: number): OutboxDelivery[] {
    return [...this.delivered.values()].filter(
      (d) => (d.payload as { workflow_job: { id: number } }).workflow_job.id === jobId,
    );
  }

  private started(jobId: number, runnerName: string | null): void {
    const sim = this.jobs.get(jobId);
    if (sim) {
      sim.starts++;
      sim.startedAt ??= this.now();
    }
    const instance = this.cloud.ec2
      .instances()
      .find((i) => i.tags['ephemeral-runners:runner-name'] === runnerName);
    const life = instance ? this.lives.get(instance.instanceId) : undefined;
    if (life) life.busySince = this.now();
    this.at(this.now() + (sim?.spec.durationMs ?? 60_000), `finish ${jobId}`, () => {
      if (this.cloud.github.job(jobId)?.status !== 'in_progress') return;
      this.cloud.github.finishJob(jobId);
      if (life && life.busySince !== undefined) {
        life.busyMs += this.now() - life.busySince;
        life.busySince = undefined;
      }
      // The runner exits after its one job; the boot script shuts the instance down.
      if (instance) this.shutdown(instance.instanceId);
    });
  }

  private async boot(instanceId: string): Promise<void> {
    if (this.cloud.ec2.stateOf(instanceId) !== 'pending') return; // terminated before it booted
    this.cloud.ec2.markRunning(instanceId);
    const life = this.lives.get(instanceId)!;
    life.outcome = this.options.bootOutcome?.(instanceId, this.random) ?? 'ok';
    if (life.outcome === 'dies') return this.shutdown(instanceId);
    if (life.outcome === 'hangs') return;
    await this.pollHandoff(instanceId, this.now());
  }

  /** What the boot script does: DeleteItem of its own handoff, polled for up to 120 s. */
  private async pollHandoff(instanceId: string, since: number): Promise<void> {
    if (!this.alive(instanceId)) return;
    const out = await this.cloud.dynamo.client.send(
      new DeleteItemCommand({
        TableName: this.cloud.tableName,
        Key: { pk: { S: `${this.cloud.env.INSTANCE_ARN_PREFIX}${instanceId}` } },
        ReturnValues: 'ALL_OLD',
      }),
    );
    const jit = out.Attributes?.jitConfig?.S;
    if (jit) {
      const runner = this.cloud.github.connectRunner(jit);
      if (!runner) return this.shutdown(instanceId); // its registration is gone: the runner cannot start
      this.connected.set(instanceId, runner.id);
      this.lives.get(instanceId)!.onlineAt = this.now();
      return;
    }
    if (this.now() - since >= HANDOFF_WAIT_MS) return this.shutdown(instanceId);
    this.at(this.now() + HANDOFF_POLL_MS, `poll ${instanceId}`, () => this.pollHandoff(instanceId, since));
  }

  /** The figures of the run so far. */
  async figures(): Promise<WorldFigures> {
    const { github, ec2 } = this.cloud;
    let ran = 0;
    let lost = 0;
    let duplicates = 0;
    const queueSeconds: number[] = [];
    for (const [id, sim] of this.jobs) {
      if (sim.starts > 1) duplicates++;
      if (sim.startedAt !== undefined) {
        ran++;
        queueSeconds.push((sim.startedAt - sim.queuedAt) / 1000);
      } else if (!this.cancelledByDesign.has(id)) lost++; // never ran, and nobody cancelled it
    }
    const end = this.now();
    let idleMs = 0;
    for (const life of this.lives.values()) {
      const lifetime = (life.endedAt ?? end) - life.launchedAt;
      const boot =
        life.onlineAt !== undefined ? life.onlineAt - life.launchedAt : Math.min(lifetime, life.bootDelayMs);
      const busy = life.busyMs + (life.busySince !== undefined ? end - life.busySince : 0);
      idleMs += Math.max(0, lifetime - boot - busy);
    }
    const handoffs = await this.cloud.dynamo.client.send(
      new ScanCommand({
        TableName: this.cloud.tableName,
        // JIT configs left behind; a voided slot (a tombstone without one) expires by TTL.
        FilterExpression: 'begins_with(pk, :arn) AND attribute_exists(jitConfig)',
        ExpressionAttributeValues: { ':arn': { S: 'arn:' } },
      }),
    );
    queueSeconds.sort((a, b) => a - b);
    const q = (p: number) =>
      queueSeconds.length
        ? queueSeconds[Math.min(queueSeconds.length - 1, Math.floor(p * queueSeconds.length))]
        : 0;
    return {
      jobs: this.jobs.size,
      ran,
      cancelled: this.cancelledByDesign.size,
      lost,
      duplicates,
      leakedInstances: ec2.summaries().filter((i) => i.state === 'pending' || i.state === 'running').length,
      leakedRegistrations: github.runners().length,
      leakedHandoffs: handoffs.Count ?? 0,
      instances: this.lives.size,
      idleInstanceMinutesPerJob: Math.round((idleMs / 60_000 / Math.max(1, this.jobs.size)) * 100) / 100,
      queueP50s: Math.round(q(0.5)),
      queueP95s: Math.round(q(0.95)),
      ...this.counts,
      redelivered: this.redeliveries,
      hungGitHubCalls: github.hungRequests,
    };
  }

  async stop(): Promise<void> {
    this.ticking = false;
    await Promise.all([this.webhook.stop(), this.retry.stop(), this.reconciler.stop()]);
    await this.cloud.stop();
    this.clock.uninstall();
  }
}
