/**
 * A simulated deployment in virtual time: the local cloud (dynalite, EC2, SSM/Secrets Manager,
 * GitHub with its job scheduler), the three built Lambdas in containers that can be killed at any
 * call, runner instances that boot, read their handoff as the boot script does, connect, run one
 * job and shut down, and the EventBridge schedules and state-change events that drive the
 * Lambdas. Time jumps from event to event; between jumps everything runs for real on loopback.
 * Used by the crash-table tests and by `npm run bench` (the lifecycle day).
 */
import { AttributeValue, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ContainerPool } from './containers';
import { isStateChangeEvent, type Ec2Event } from './ec2-events';
import type { Interceptor, KilledCall } from './gate';
import type { OutboxDelivery } from './github-emulator/api-types';
import { apiGatewayEvent, LocalCloud, LocalCloudOptions, startLocalCloud } from './local-cloud';
import { SimInstances } from './sim-instances';
import { seededRandom } from './emulator-server';
import { isLost, jobFigures, WorldFigures } from './world-figures';
import { parseFormattedJobKey } from '../../lambda/core/job-key';
import { INSTANCE_TAGS } from '../../lambda/core/state-schema';

export type { WorldFigures } from './world-figures';
import { VirtualClock } from './virtual-clock';

/** How a runner instance's boot goes. */
export type BootOutcome = 'ok' | 'dies' | 'hangs';

/**
 * How a first delivery fails on its way to the webhook. `5xx` and `429`: API Gateway answered that
 * without invoking the Lambda; `timeout`: the Lambda ran but GitHub stopped waiting for its answer;
 * `dropped`: the request never reached us.
 */
export type DeliveryFault = { readonly kind: '5xx' | '429' | 'timeout' | 'dropped' };

/** The figures of a world: {@link WorldFigures} and the delivery figures counted by the world itself. */
export type WorldRunFigures = WorldFigures & {
  /**
   * Instances launched for a job after the webhook had answered its `completed` (a late `queued`, a
   * retry or a relaunch that still launched): the deployment knew the job had ended. Goal 0.
   */
  launchedAfterCompletion: number;
  /** Of those, the ones a stopped invocation's CreateFleet made as it landed late (reaped as orphans). */
  launchedAfterCompletionLandedLate: number;
  /**
   * Instances launched for a job GitHub had completed before the deployment heard of it: a `queued`
   * and a `completed` handled at once (a job cancelled as it was queued), or a `completed` still
   * failing to be delivered. The launch cannot know; its record write is refused and it undoes itself.
   */
  launchesRacingCompletion: number;
  /** Spot interruption warnings EC2 sent (before the job started, or while it ran). */
  interrupted: number;
  /** Jobs launched anew by the interruption Lambda (warning or rebalance before the job started). */
  replaced: number;
  /** Re-runs the App asked GitHub for. */
  rerun: number;
  /** Re-run jobs that ran on on-demand instances (GitHub may give a re-run job to any runner whose labels fit). */
  rerunOnDemand: number;
  /** Re-run jobs for which an on-demand instance was launched (what the deployment decides). */
  rerunLaunchedOnDemand: number;
  /** Jobs an interruption failed while they ran that were not re-run exactly once (goal 0). */
  rerunNotOnce: number;
  /** Re-run jobs that carried a binding label (only their own runner can take them). */
  rerunBound: number;
  /** Of those, the ones that ran on on-demand instances (goal: all). */
  rerunBoundOnDemand: number;
  /** EC2 events EventBridge lost (interruption warnings, rebalance recommendations, state changes). */
  ec2EventsLost: number;
  /** Interruption Lambda invocations stopped at a call (Lambda retried them). */
  interruptKills: number;
  /** Scheduled reconciler runs stopped at a call. */
  reconcilerKills: number;
  /** `in_progress` deliveries whose runner was launched for another job. */
  stolen: number;
  /** Replacements launched for jobs whose runner another job took. */
  stolenReplaced: number;
};

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
  /**
   * Fails a first delivery (never a redelivery: the reconciler's redelivery must be able to repair
   * it). @default every delivery reaches the webhook
   */
  readonly deliveryFault?: (delivery: OutboxDelivery, random: () => number) => DeliveryFault | undefined;
  /**
   * When true for a settle round, that round's deliveries are handled one after another in reverse
   * order, so a `completed` can overtake its `queued`. Drawn once per round that has deliveries.
   * @default never (a round's deliveries are handled concurrently)
   */
  readonly reorder?: (random: () => number) => boolean;
  /**
   * Whether EC2 interrupts a spot instance, drawn once per spot instance as it is first seen:
   * `before-start` warns 10 s after launch (its runner has not taken a job: boots take 40 s or
   * more), `during` warns 5 s after its runner took a job; the instance goes two minutes after the
   * warning, as EC2's notice says. `rebalance` sends a rebalance recommendation 10 s after launch.
   * @default never
   */
  readonly interruptSpot?: (random: () => number) => 'before-start' | 'during' | 'rebalance' | undefined;
  /**
   * Whether EventBridge loses an EC2 event (it delivers them at best effort): an interruption
   * warning, a rebalance recommendation, or a state change. @default none is lost
   */
  readonly dropEc2Event?: (event: Ec2Event, random: () => number) => boolean;
  /**
   * Stops the interruption Lambda's container at a call. Lambda retries an asynchronous invocation
   * that failed or timed out twice, one minute and then two minutes later; so does the world.
   */
  readonly killInterrupt?: (random: () => number) => Interceptor | undefined;
  /** Stops a scheduled reconciler run's container at a call (the next run comes on schedule). */
  readonly killReconciler?: (random: () => number) => Interceptor | undefined;
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
  readonly interrupter: ContainerPool<'interrupt'>;
  readonly random: () => number;
  /** Every job the simulation queued, by GitHub job id. */
  readonly jobs = new Map<
    number,
    {
      spec: SimJobSpec;
      queuedAt: number;
      startedAt?: number;
      starts: number;
      /** The job this one re-runs (GitHub's re-run of a failed job: a new job id). */
      rerunOf?: number;
      /** The market of the instance whose runner took it. */
      market?: string;
    }
  >();
  /** Spot interruptions the world made, by kind, and the jobs a `during` interruption failed. */
  readonly interruptions = { beforeStart: 0, during: 0, rebalance: 0, failedJobs: new Set<number>() };
  /** `in_progress` deliveries whose runner was launched for another job. */
  stolen = 0;
  /** Replacements launched for jobs whose runner was taken, as the webhook answered. */
  stolenReplaced = 0;
  private readonly interruptPlans = new Map<string, 'before-start' | 'during' | 'rebalance'>();
  /** Per-invocation notes for tests (kills, answers). */
  readonly log: string[] = [];
  /** The calls at which containers were killed, in order (a call killed in flight can land later). */
  readonly kills: KilledCall[] = [];
  /** Every delivery GitHub made, by guid, as a person redelivering from the App's settings finds it. */
  private readonly delivered = new Map<string, OutboxDelivery>();
  private readonly queue: ScheduledEvent[] = [];
  private seq = 0;
  /** The runner instances: boot, handoff, connect, one job, shutdown. */
  readonly instances: SimInstances;
  private readonly cancelledByDesign = new Set<number>();
  private ticking = false;
  private counts = {
    webhookKills: 0,
    retryKills: 0,
    interruptKills: 0,
    reconcilerKills: 0,
    ec2EventsLost: 0,
    failedDeliveries: 0,
    launchedAfterCompletion: 0,
    launchesRacingCompletion: 0,
  };
  /**
   * For each job whose `completed` the webhook answered 2xx: how many instances had been launched
   * when it answered. An instance of that job later in launch order was launched although the
   * deployment had recorded the job's end.
   */
  private readonly completionHeard = new Map<number, number>();
  /** Instances already looked at for {@link WorldRunFigures.launchedAfterCompletion}. */
  private readonly seenInstances = new Set<string>();
  /** Redeliveries GitHub made, by guid (a test checks that a failure was redelivered exactly once). */
  readonly redeliveriesByGuid = new Map<string, number>();
  /** The instances launched for a job GitHub had already completed, as they were first seen. */
  readonly launchesAfterCompletion: { jobId: number; instanceId: string; at: number }[] = [];

  /**
   * Of {@link launchesAfterCompletion}, those a stopped invocation's late-landing CreateFleet made:
   * nothing of the deployment decided them (the reconciler reaps them as orphans).
   */
  get launchesAfterCompletionLandedLate(): number {
    return this.launchesAfterCompletion.filter((l) => this.landedLate.has(l.instanceId)).length;
  }

  private constructor(
    readonly cloud: LocalCloud,
    readonly clock: VirtualClock,
    private readonly options: WorldOptions,
  ) {
    const pool = { env: cloud.env, Date: clock.DateClass };
    this.webhook = new ContainerPool({ handler: 'webhook', ...pool });
    this.retry = new ContainerPool({ handler: 'retry', ...pool });
    this.reconciler = new ContainerPool({ handler: 'reconcile', ...pool });
    this.interrupter = new ContainerPool({ handler: 'interrupt', ...pool });
    this.random = seededRandom(options.seed ?? 1);
    this.instances = new SimInstances(
      cloud,
      () => this.now(),
      this.random,
      (at, what, run) => this.at(at, what, run),
      options,
    );
    // A redelivery GitHub makes (asked by the reconciler) reaches the webhook like any delivery.
    cloud.github.setRedeliveryHandler(async (listed) => {
      const original = this.delivered.get(String(listed.guid));
      if (!original) return 404;
      this.redeliveries++;
      this.redeliveriesByGuid.set(original.guid, (this.redeliveriesByGuid.get(original.guid) ?? 0) + 1);
      return this.countFailure(await this.invokeWebhook(original, 'redelivery'));
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
    if (spec.cancelAfterMs !== undefined)
      this.at(this.now() + spec.cancelAfterMs, `cancel ${id}`, () => void this.cancelQueued(id));
    return id;
  }

  /**
   * Cancels a job now if it is still queued at GitHub (its `completed` joins the outbox behind its
   * `queued` when called before the next settle). A cancelled job counts as cancelled, not lost.
   * Returns whether it was cancelled.
   */
  cancelQueued(jobId: number): boolean {
    if (this.cloud.github.job(jobId)?.status !== 'queued') return false;
    this.cancelledByDesign.add(jobId);
    this.cloud.github.cancelJob(jobId);
    return true;
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
      { intercept: intercept ?? this.options.killReconciler?.(this.random) },
    );
    if (run.killed) {
      this.counts.reconcilerKills++;
      this.noteKill(run.killed);
    }
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
        if (this.options.reorder?.(this.random)) {
          // Sequential, so that the reversed order is the order the webhook sees them in.
          for (const d of deliveries.reverse()) await this.deliver(d);
        } else await Promise.all(deliveries.map((d) => this.deliver(d)));
      }
      // Before anything below can complete a job: a launch seen here happened before this point.
      this.noteLaunches();
      this.instances.trackLaunches();
      if (this.instances.exitDeregistered()) moved = true;
      for (const id of ec2.completeShutdowns()) {
        moved = true;
        this.instances.ended(id);
      }
      const events = ec2.takeEvents();
      if (events.length > 0) {
        moved = true;
        await Promise.all(events.map((e) => this.forward(e)));
      }
      if (!moved) return;
    }
  }

  private async forward(event: Ec2Event, retry = 0): Promise<void> {
    if (retry === 0 && this.options.dropEc2Event?.(event, this.random)) {
      this.counts.ec2EventsLost++;
      return;
    }
    const failed = isStateChangeEvent(event)
      ? await this.toReconciler(event)
      : await this.toInterrupter(event);
    // Lambda's retries of an asynchronous invocation that failed: after one minute, then two.
    if (failed && retry < 2)
      this.at(this.now() + (retry + 1) * 60_000, `async retry ${retry + 1}`, () =>
        this.forward(event, retry + 1),
      );
  }

  /** The interruption rule's matches go to the interruption Lambda; whether the invocation failed. */
  private async toInterrupter(event: Ec2Event): Promise<boolean> {
    const run = await this.interrupter
      .invoke(
        event,
        { getRemainingTimeInMillis: () => 60_000 },
        { intercept: this.options.killInterrupt?.(this.random) },
      )
      .catch((e: Error) => void this.asyncErrors.push(`interrupt: ${e.message}`));
    if (!run) return true;
    if (run.killed) {
      this.counts.interruptKills++;
      this.noteKill(run.killed);
      return true;
    }
    this.interruptionResults.push(run.result.result);
    return false;
  }

  /** EventBridge delivers the state-change rule's matches to the reconciler (it checks the owner tag). */
  private async toReconciler(event: Ec2Event & { detail: { state: string } }): Promise<boolean> {
    if (event.detail.state !== 'shutting-down' && event.detail.state !== 'terminated') return false;
    const run = await this.reconciler
      .invoke(event, { getRemainingTimeInMillis: () => 110_000 })
      .catch((e: Error) => void this.asyncErrors.push(`reconcile (state change): ${e.message}`));
    return !run || run.killed !== undefined;
  }

  /** Re-run jobs an on-demand instance was launched for (counted as launches are first seen). */
  private readonly rerunJobsLaunchedOnDemand = new Set<number>();
  /** The jobs counted in `rerunNotOnce` by the last {@link figures}. */
  rerunNotOnceIds: number[] = [];

  /** Errors the event-driven invocations threw (Lambda retries them); a bug shows here. */
  readonly asyncErrors: string[] = [];

  /** What the interruption Lambda answered, in order (a test and the bench count them). */
  readonly interruptionResults: string[] = [];

  /**
   * Counts the instances not seen before that were launched for a job GitHub had already completed.
   * Launches happen in events and in settle's deliveries; completions only in events and after this
   * point of a settle round, so a job completed now was completed before the launch.
   */
  private noteLaunches(): void {
    for (const i of this.cloud.ec2.instances()) {
      if (this.seenInstances.has(i.instanceId)) continue;
      this.seenInstances.add(i.instanceId);
      this.planInterruption(i.instanceId, i.market);
      const launchedFor = Number(/\/(\d+)\/\d+$/.exec(i.tags['ephemeral-runners:job-key'] ?? '')?.[1]);
      if (i.market === 'on-demand' && this.jobs.get(launchedFor)?.rerunOf !== undefined)
        this.rerunJobsLaunchedOnDemand.add(launchedFor);
      const jobId = /\/(\d+)\/\d+$/.exec(i.tags['ephemeral-runners:job-key'] ?? '')?.[1];
      if (jobId === undefined || this.cloud.github.job(Number(jobId))?.status !== 'completed') continue;
      const heard = this.completionHeard.get(Number(jobId));
      if (heard !== undefined && this.cloud.ec2.sequenceOf(i.instanceId) > heard) {
        this.counts.launchedAfterCompletion++;
        this.launchesAfterCompletion.push({ jobId: Number(jobId), instanceId: i.instanceId, at: this.now() });
      } else this.counts.launchesRacingCompletion++;
    }
  }

  private planInterruption(instanceId: string, market: string): void {
    const plan = market === 'spot' ? this.options.interruptSpot?.(this.random) : undefined;
    if (!plan) return;
    this.interruptPlans.set(instanceId, plan);
    if (plan === 'during') return; // warned when its runner takes a job
    this.at(this.now() + 10_000, `interrupt ${instanceId}`, () => {
      if (this.cloud.ec2.stateOf(instanceId) === 'pending') this.cloud.ec2.markRunning(instanceId);
      if (this.cloud.ec2.stateOf(instanceId) !== 'running' || this.instances.isBusy(instanceId)) return;
      if (plan === 'rebalance') {
        this.interruptions.rebalance++;
        this.cloud.ec2.recommendRebalance(instanceId);
      } else this.warn(instanceId, 'beforeStart');
    });
  }

  /** EC2's two-minute notice; the instance goes when it is up. */
  private warn(instanceId: string, kind: 'beforeStart' | 'during'): void {
    if (this.cloud.ec2.stateOf(instanceId) === 'pending') this.cloud.ec2.markRunning(instanceId);
    if (this.cloud.ec2.stateOf(instanceId) !== 'running') return;
    this.interruptions[kind]++;
    this.cloud.ec2.warnSpotInterruption(instanceId);
    this.at(
      this.now() + 120_001,
      `interrupted ${instanceId}`,
      () => void this.cloud.ec2.completeInterruptions(),
    );
  }

  /** Counts a status GitHub logs as a failed attempt; returns it. */
  private countFailure(status: number): number {
    if (status < 200 || status >= 300) this.counts.failedDeliveries++;
    return status;
  }

  private async deliver(d: OutboxDelivery): Promise<void> {
    const job = (d.payload as { workflow_job: { id: number; runner_name: string | null } }).workflow_job;
    const first = !this.delivered.has(d.guid);
    if (d.action === 'queued' && first && !this.jobs.has(job.id)) this.registerRerun(job.id);
    if (d.action === 'in_progress' && first) this.started(job.id, job.runner_name);
    this.delivered.set(d.guid, d);
    const fault = first ? this.options.deliveryFault?.(d, this.random) : undefined;
    let status: number;
    if (fault?.kind === '5xx' || fault?.kind === '429') {
      status = fault.kind === '5xx' ? 502 : 429;
      this.log.push(`delivery ${d.action} ${job.id}: ${status} from API Gateway`);
    } else if (fault?.kind === 'dropped') {
      status = 0;
      this.log.push(`delivery ${d.action} ${job.id}: dropped`);
    } else {
      status = await this.invokeWebhook(d, 'delivery');
      // The Lambda did its work, but GitHub had stopped waiting: it logs no answer.
      if (fault?.kind === 'timeout') {
        status = 0;
        this.log.push(`delivery ${d.action} ${job.id}: GitHub timed out`);
      }
    }
    this.cloud.github.recordDeliveryResult(d.guid, this.countFailure(status));
  }

  /** One webhook invocation for a delivery; the status the webhook answered (0: no answer). */
  private async invokeWebhook(d: OutboxDelivery, kind: 'delivery' | 'redelivery'): Promise<number> {
    const job = (d.payload as { workflow_job: { id: number } }).workflow_job;
    const event = await apiGatewayEvent(this.cloud, undefined, { deliveryId: d.guid, rawBody: d.body });
    const run = await this.webhook.invoke(event, undefined, {
      intercept: this.options.killWebhook?.(d, this.random),
    });
    const status = run.killed ? 0 : run.result.statusCode;
    if (!run.killed && d.action === 'in_progress' && run.result.body.includes('"runner":"stolen-replaced"'))
      this.stolenReplaced++;
    if (d.action === 'completed' && status >= 200 && status < 300 && !this.completionHeard.has(job.id))
      this.completionHeard.set(job.id, this.cloud.ec2.launchCount());
    if (run.killed) {
      this.counts.webhookKills++;
      this.noteKill(run.killed);
    }
    this.log.push(`${kind} ${d.action} ${job.id}: ${run.killed ? `killed at ${run.killed.target}` : status}`);
    return status;
  }

  /** A job GitHub queued by a re-run: it runs as long as the job it re-runs. */
  private registerRerun(jobId: number): void {
    const rerunOf = this.cloud.github.job(jobId)?.rerunOf ?? undefined;
    const original = rerunOf !== undefined ? this.jobs.get(rerunOf) : undefined;
    if (!original || rerunOf === undefined) return;
    this.jobs.set(jobId, {
      spec: { ...original.spec, cancelAfterMs: undefined },
      queuedAt: this.now(),
      starts: 0,
      rerunOf,
    });
  }

  private noteKill(kill: KilledCall): void {
    this.kills.push(kill);
    const land = kill.landLate;
    const after = this.options.landLateAfterMs;
    if (land && after)
      this.at(this.now() + after(this.random), 'land late', async () => {
        const before = new Set(this.cloud.ec2.instances().map((i) => i.instanceId));
        await land().catch(() => undefined);
        // An instance that appeared as a stopped invocation's CreateFleet landed (nobody records it).
        for (const i of this.cloud.ec2.instances())
          if (!before.has(i.instanceId)) this.landedLate.add(i.instanceId);
      });
  }

  /** Instances launched by a stopped invocation's CreateFleet that landed late. */
  private readonly landedLate = new Set<string>();

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
    const instanceId = this.instances.busy(runnerName);
    const launchedFor = /-(\d+)-\d+-\d+-[0-9a-f]{6}$/.exec(runnerName ?? '')?.[1];
    if (launchedFor !== undefined && Number(launchedFor) !== jobId) this.stolen++;
    if (sim && instanceId && sim.rerunOf !== undefined)
      sim.market = this.cloud.ec2.instances().find((i) => i.instanceId === instanceId)?.market;
    if (instanceId && this.interruptPlans.get(instanceId) === 'during')
      this.at(this.now() + 5_000, `interrupt ${instanceId}`, () => {
        if (this.cloud.github.job(jobId)?.status !== 'in_progress') return;
        this.interruptions.failedJobs.add(jobId);
        this.warn(instanceId, 'during');
      });
    this.at(this.now() + (sim?.spec.durationMs ?? 60_000), `finish ${jobId}`, () => {
      if (this.cloud.github.job(jobId)?.status !== 'in_progress') return;
      this.cloud.github.finishJob(jobId);
      // The runner exits after its one job; the boot script shuts the instance down.
      if (instanceId) this.instances.jobDone(instanceId);
    });
  }

  /** The figures of the run so far. */
  async figures(): Promise<WorldRunFigures> {
    const { github, ec2 } = this.cloud;
    const counted = jobFigures(this.jobs, this.cancelledByDesign);
    const idleMs = this.instances.idleMs(this.now());
    // JIT configs left behind; a voided slot (a tombstone without one) expires by TTL.
    const handoffs = await this.scanAll('begins_with(pk, :arn) AND attribute_exists(jitConfig)', {
      ':arn': { S: 'arn:' },
    });
    return {
      ...counted,
      leakedInstances: ec2.summaries().filter((i) => i.state === 'pending' || i.state === 'running').length,
      leakedRegistrations: github.runners().length,
      leakedHandoffs: handoffs.length,
      instances: this.instances.count,
      idleInstanceMinutesPerJob: Math.round((idleMs / 60_000 / Math.max(1, this.jobs.size)) * 100) / 100,
      ...this.counts,
      redelivered: this.redeliveries,
      hungGitHubCalls: github.hungRequests,
      ...this.interruptionFigures(),
      launchedAfterCompletionLandedLate: this.launchesAfterCompletionLandedLate,
    };
  }

  /** Every item of the state table matching `filter`, over all pages (a Scan page stops at 1 MB). */
  private async scanAll(
    filter: string,
    values: Record<string, AttributeValue>,
  ): Promise<Record<string, AttributeValue>[]> {
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.cloud.dynamo.client.send(
        new ScanCommand({
          TableName: this.cloud.tableName,
          FilterExpression: filter,
          ExpressionAttributeValues: values,
          ExclusiveStartKey: start,
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** The jobs counted lost: never taken by a runner, and not cancelled by the simulation. */
  lostJobIds(): number[] {
    return [...this.jobs].filter(([id, sim]) => isLost(id, sim, this.cancelledByDesign)).map(([id]) => id);
  }

  /**
   * What exists about one job, for finding why it was lost: the simulation's view, GitHub's job and
   * run, the state table's items of the job, the instances launched for it, and the world's notes.
   */
  async postMortem(jobId: number): Promise<Record<string, unknown>> {
    const { github, ec2 } = this.cloud;
    const gh = github.job(jobId);
    const items = await this.scanAll('contains(pk, :id)', { ':id': { S: `#${jobId}#` } });
    return {
      jobId,
      sim: this.jobs.get(jobId),
      github: gh,
      run: gh && github.run(gh.runId),
      items,
      instances: ec2
        .instances()
        .filter((i) => parseFormattedJobKey(i.tags[INSTANCE_TAGS.jobKey] ?? '')?.jobId === jobId)
        .map((i) => ({ id: i.instanceId, state: i.state, tags: i.tags })),
      log: this.log.filter((l) => l.includes(String(jobId))),
    };
  }

  private interruptionFigures() {
    const { github } = this.cloud;
    const reruns = new Map<number, number>();
    let rerunOnDemand = 0;
    let rerunBound = 0;
    let rerunBoundOnDemand = 0;
    for (const sim of this.jobs.values()) {
      if (sim.rerunOf === undefined) continue;
      reruns.set(sim.rerunOf, (reruns.get(sim.rerunOf) ?? 0) + 1);
      if (sim.market === 'on-demand') rerunOnDemand++;
      if (sim.spec.labels.some((l) => l.startsWith('bind-'))) {
        rerunBound++;
        if (sim.market === 'on-demand') rerunBoundOnDemand++;
      }
    }
    const rerunLaunchedOnDemand = this.rerunJobsLaunchedOnDemand.size;
    const failed = [...this.interruptions.failedJobs].filter(
      (id) => github.job(id)?.conclusion === 'failure',
    );
    this.rerunNotOnceIds = failed.filter((id) => reruns.get(id) !== 1);
    return {
      interrupted: this.interruptions.beforeStart + this.interruptions.during,
      replaced: this.interruptionResults.filter((r) => r.startsWith('replaced: relaunched')).length,
      rerun: github.rerunRequests.filter((r) => r.by === 'app').length,
      rerunOnDemand,
      rerunLaunchedOnDemand,
      rerunNotOnce: failed.filter((id) => reruns.get(id) !== 1).length,
      rerunBound,
      rerunBoundOnDemand,
      stolen: this.stolen,
      stolenReplaced: this.stolenReplaced,
    };
  }

  async stop(): Promise<void> {
    this.ticking = false;
    await Promise.all([
      this.webhook.stop(),
      this.retry.stop(),
      this.reconciler.stop(),
      this.interrupter.stop(),
    ]);
    await this.cloud.stop();
    this.clock.uninstall();
  }
}
