/**
 * The runner instances of the simulated world: each boots after a delay (or dies, or hangs), reads
 * its own handoff as the boot script does (DeleteItem, polled for up to 120 s), connects its runner
 * to GitHub with the JIT config, runs one job and shuts down; a runner whose registration is
 * deleted under it exits. Keeps each instance's life for the idle figure.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import type { LocalCloud } from './local-cloud';
import type { BootOutcome, WorldOptions } from './world';

const HANDOFF_POLL_MS = 5_000;
const HANDOFF_WAIT_MS = 120_000; // the boot script's JIT_TIMEOUT_SECONDS

interface InstanceLife {
  readonly launchedAt: number;
  readonly bootDelayMs: number;
  onlineAt?: number;
  endedAt?: number;
  busyMs: number;
  busySince?: number;
  outcome?: BootOutcome;
}

type Schedule = (at: number, what: string, run: () => Promise<void> | void) => void;

/** The simulated instances of one world. */
export class SimInstances {
  private readonly lives = new Map<string, InstanceLife>();
  /** instance id → runner id, while its runner is connected. */
  private readonly connected = new Map<string, number>();
  private readonly byRunner = new Map<string, string>();

  constructor(
    private readonly cloud: LocalCloud,
    private readonly now: () => number,
    private readonly random: () => number,
    private readonly at: Schedule,
    private readonly options: Pick<WorldOptions, 'bootDelayMs' | 'bootOutcome'>,
  ) {}

  /** Instances launched so far. */
  get count(): number {
    return this.lives.size;
  }

  /** Picks up instances launched since the last call and schedules their boot. */
  trackLaunches(): void {
    for (const i of this.cloud.ec2.summaries()) {
      if (this.lives.has(i.instanceId)) continue;
      if (i.runnerName) this.byRunner.set(i.runnerName, i.instanceId);
      const bootDelayMs =
        this.options.bootDelayMs?.(this.random) ?? 40_000 + Math.floor(this.random() * 50_000);
      this.lives.set(i.instanceId, { launchedAt: this.now(), bootDelayMs, busyMs: 0 });
      this.at(this.now() + bootDelayMs, `boot ${i.instanceId}`, () => this.boot(i.instanceId));
    }
  }

  /** A runner whose registration was deleted under it exits, and its instance shuts down. */
  exitDeregistered(): boolean {
    const registered = new Set(this.cloud.github.runners().map((r) => r.id));
    let moved = false;
    for (const [instanceId, runnerId] of this.connected) {
      if (!registered.has(runnerId) && this.alive(instanceId)) {
        this.shutdown(instanceId);
        moved = true;
      }
    }
    return moved;
  }

  /** The runner named `runnerName` took a job; returns its instance. */
  busy(runnerName: string | null): string | undefined {
    const instanceId = runnerName ? this.byRunner.get(runnerName) : undefined;
    const life = instanceId ? this.lives.get(instanceId) : undefined;
    if (life) life.busySince = this.now();
    return instanceId;
  }

  /** Whether the instance's runner is running a job. */
  isBusy(instanceId: string): boolean {
    return this.lives.get(instanceId)?.busySince !== undefined;
  }

  /** The instance's job ended: its runner exits and the boot script shuts the instance down. */
  jobDone(instanceId: string): void {
    const life = this.lives.get(instanceId);
    if (life && life.busySince !== undefined) {
      life.busyMs += this.now() - life.busySince;
      life.busySince = undefined;
    }
    this.shutdown(instanceId);
  }

  /** Instance-minutes spent neither booting nor running a job, in ms, up to `end`. */
  idleMs(end: number): number {
    let idle = 0;
    for (const life of this.lives.values()) {
      const lifetime = (life.endedAt ?? end) - life.launchedAt;
      const boot =
        life.onlineAt !== undefined ? life.onlineAt - life.launchedAt : Math.min(lifetime, life.bootDelayMs);
      const busy = life.busyMs + (life.busySince !== undefined ? end - life.busySince : 0);
      idle += Math.max(0, lifetime - boot - busy);
    }
    return idle;
  }

  private alive(instanceId: string): boolean {
    const state = this.cloud.ec2.stateOf(instanceId);
    return state === 'pending' || state === 'running';
  }

  private shutdown(instanceId: string): void {
    if (this.cloud.ec2.stateOf(instanceId) === 'running') this.cloud.ec2.shutdownFromInstance(instanceId);
  }

  /** The instance is gone: a runner still connected to GitHub loses its machine. */
  ended(instanceId: string): void {
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
}
