// Workflow jobs and the scheduler that hands them to runners the way GitHub does: a queued job goes
// to any online, idle runner whose labels include all of the job's labels and whose scope reaches
// the job's repository. Nothing binds a JIT runner to the job it was created for, so a runner can
// take another job ("stolen") and leave its own job waiting. No timers: every transition happens
// synchronously when the test queues a job, connects a runner or frees one, at the server clock.
import { randomBytes, randomInt } from 'node:crypto';
import {
  isoSeconds,
  runnerGroupName,
  scopeKey,
  type EmulatedInstallation,
  type EmulatedRunner,
  type EmulatorState,
} from './state';

/** A job's lifecycle phase, as GitHub reports it in `status`. */
export type JobStatus = 'queued' | 'in_progress' | 'completed' | 'waiting';

/** How a job ended, as GitHub reports it in `conclusion` (the subset the emulator produces). */
export type JobConclusion = 'success' | 'failure' | 'cancelled';

/** A workflow job. Timestamps are ISO 8601 with whole seconds, as GitHub writes them. */
export interface EmulatedJob {
  /** Job id (also its check run id), above 2^32 like GitHub's. */
  readonly id: number;
  /** Workflow run id. */
  readonly runId: number;
  /** Attempt of the run, 1 unless re-run. */
  readonly runAttempt: number;
  /** `owner/repo`, as the test spelled it. */
  readonly repository: string;
  /** Installation whose app receives the job's webhook events. */
  readonly installationId: number;
  /** The job's `runs-on` labels, in order. */
  readonly labels: readonly string[];
  /** Lifecycle phase. */
  status: JobStatus;
  /** Outcome once completed, else null. */
  conclusion: JobConclusion | null;
  /** Runner the job was assigned to; null while queued (and if it never got one). */
  runnerId: number | null;
  /** Name of that runner. */
  runnerName: string | null;
  /** That runner's group id. */
  runnerGroupId: number | null;
  /** That runner's group name. */
  runnerGroupName: string | null;
  /** When the job was queued. */
  readonly createdAt: string;
  /**
   * When a runner started it. GitHub's schema makes this a non-null string: while queued it holds
   * the queue time, and it moves to the assignment time when the job goes in progress.
   */
  startedAt: string;
  /** When it completed, else null. */
  completedAt: string | null;
  /** Job name (`jobs.<id>.name`). */
  readonly name: string;
  /** Workflow name. */
  readonly workflowName: string;
  /** Branch the run is for. */
  readonly headBranch: string;
  /** Commit the run is for. */
  readonly headSha: string;
  /**
   * The job this one re-runs (same name, labels and run, the previous execution), or null for a
   * job of the run's first execution. Not in GitHub's JSON: GitHub links them by name and attempt.
   */
  readonly rerunOf: number | null;
}

/** What a test gives to queue a job. */
export interface QueueJobInput {
  /** `owner/repo`. */
  readonly repository: string;
  /** The job's `runs-on` labels (at least one). */
  readonly labels: readonly string[];
  /** Installation receiving the events. @default the only installation that covers `repository` */
  readonly installationId?: number;
  /** Workflow run id; jobs of one run share its commit. @default a fresh run */
  readonly runId?: number;
  /** @default 1 */
  readonly runAttempt?: number;
  /** @default 'build' */
  readonly name?: string;
  /** @default 'CI' */
  readonly workflowName?: string;
  /** @default 'main' */
  readonly headBranch?: string;
  /** @default the run's commit, random for a fresh run */
  readonly headSha?: string;
}

/** Receives each job transition, in order; the emulator turns them into `workflow_job` events. */
export type JobEventSink = (action: 'queued' | 'in_progress' | 'completed', job: EmulatedJob) => void;

/** Whether a runner's labels include every label of the job, compared case-insensitively as GitHub does. */
export function labelsSatisfy(runnerLabels: readonly string[], jobLabels: readonly string[]): boolean {
  const have = new Set(runnerLabels.map((l) => l.toLowerCase()));
  return jobLabels.every((l) => have.has(l.toLowerCase()));
}

/** Whether a runner's registration scope reaches a repository: its owner's org, or the repository itself. */
export function scopeServesRepository(runner: EmulatedRunner, repository: string): boolean {
  const [owner] = repository.split('/');
  return runner.scopeKind === 'org'
    ? scopeKey(runner.scope) === scopeKey(owner)
    : scopeKey(runner.scope) === scopeKey(repository);
}

/**
 * The next assignment GitHub would make, if any: the oldest queued job that some runner can take,
 * and among the runners that can, the lowest id. GitHub does not document which of several eligible
 * runners it picks; lowest id keeps the emulator deterministic. A job nobody can take does not hold
 * up younger jobs. `hasRunJob` excludes ephemeral runners that already had their one job.
 */
export function nextAssignment(
  jobs: Iterable<EmulatedJob>,
  runners: Iterable<EmulatedRunner>,
  hasRunJob: (runnerId: number) => boolean,
): { job: EmulatedJob; runner: EmulatedRunner } | undefined {
  const idle = [...runners]
    .filter((r) => r.status === 'online' && !r.busy && !hasRunJob(r.id))
    .sort((a, b) => a.id - b.id);
  for (const job of jobs) {
    if (job.status !== 'queued') continue;
    const runner = idle.find(
      (r) => scopeServesRepository(r, job.repository) && labelsSatisfy(r.labels, job.labels),
    );
    if (runner) return { job, runner };
  }
  return undefined;
}

// GitHub's job and run ids passed 2^32 years ago; starting above it catches int32 assumptions.
const FIRST_JOB_ID = 40_000_000_000;
const FIRST_RUN_ID = 17_000_000_000;

/** Owns job transitions; every method runs the scheduler before it returns. */
export class JobScheduler {
  private nextJobId = FIRST_JOB_ID + randomInt(1_000_000) * 100;
  private nextRunId = FIRST_RUN_ID + randomInt(1_000_000) * 100;
  private readonly runCommits = new Map<number, string>();

  /**
   * @param state the emulated GitHub's data.
   * @param nowMs the server clock.
   * @param emit receives each transition.
   */
  constructor(
    private readonly state: EmulatorState,
    private readonly nowMs: () => number,
    private readonly emit: JobEventSink,
  ) {}

  /** Queues a job (emitting `queued`), then schedules. */
  queue(input: QueueJobInput): EmulatedJob {
    if (input.labels.length === 0) throw new Error('GitHubEmulator: queueJob needs at least one label');
    const installation = this.installationFor(input.repository, input.installationId);
    const runId = input.runId ?? (this.nextRunId += 1 + randomInt(40));
    const headSha = input.headSha ?? this.runCommits.get(runId) ?? randomBytes(20).toString('hex');
    this.runCommits.set(runId, headSha);
    const job = this.create({
      runId,
      runAttempt: input.runAttempt ?? 1,
      repository: input.repository,
      installationId: installation.id,
      labels: [...input.labels],
      name: input.name ?? 'build',
      workflowName: input.workflowName ?? 'CI',
      headBranch: input.headBranch ?? 'main',
      headSha,
      rerunOf: null,
    });
    this.schedule();
    return job;
  }

  /**
   * Re-runs jobs of one workflow run as its next attempt, as a re-run request does: a new job (new
   * id, same name, labels and run, `run_attempt` one more than the run's latest) for each, all
   * queued (each emitting `queued`) before the scheduler runs. The caller checks GitHub's rules.
   */
  rerun(originals: readonly EmulatedJob[]): EmulatedJob[] {
    if (originals.length === 0) throw new Error('GitHubEmulator: nothing to re-run');
    const runId = originals[0].runId;
    if (originals.some((j) => j.runId !== runId)) {
      throw new Error('GitHubEmulator: a re-run covers the jobs of one workflow run');
    }
    const runAttempt =
      Math.max(...[...this.state.jobs.values()].filter((j) => j.runId === runId).map((j) => j.runAttempt)) +
      1;
    const jobs = originals.map((o) =>
      this.create({
        runId,
        runAttempt,
        repository: o.repository,
        installationId: o.installationId,
        labels: [...o.labels],
        name: o.name,
        workflowName: o.workflowName,
        headBranch: o.headBranch,
        headSha: o.headSha,
        rerunOf: o.id,
      }),
    );
    this.schedule();
    return jobs;
  }

  /**
   * Cancels a queued or running job (emitting `completed` / `cancelled`); a running job's ephemeral
   * runner deregisters. Returns false, emitting nothing, for a job already completed.
   */
  cancel(jobId: number): boolean {
    const job = this.requireJob(jobId);
    if (job.status === 'completed') return false;
    const runnerId = job.status === 'in_progress' ? job.runnerId : null;
    this.complete(job, 'cancelled');
    if (runnerId !== null) this.state.runners.delete(runnerId);
    this.schedule();
    return true;
  }

  /** Completes a running job (emitting `completed`); its ephemeral runner deregisters. */
  finish(jobId: number, conclusion: JobConclusion): void {
    const job = this.requireJob(jobId);
    if (job.status !== 'in_progress') {
      throw new Error(`GitHubEmulator: job ${jobId} is ${job.status}; only a job in progress can finish`);
    }
    this.complete(job, conclusion);
    if (job.runnerId !== null) this.state.runners.delete(job.runnerId);
    this.schedule();
  }

  /**
   * A runner's machine died: its job in progress, if any, fails (emitting `completed`), and the
   * registration stays, offline, as GitHub keeps it.
   */
  runnerLost(runnerId: number): void {
    const runner = this.state.runners.get(runnerId);
    if (!runner) throw new Error(`GitHubEmulator: no runner ${runnerId}`);
    runner.status = 'offline';
    runner.busy = false;
    this.failJobOf(runnerId);
    this.schedule();
  }

  /** Fails the job a runner is running, if any (the runner vanished under it). */
  failJobOf(runnerId: number): void {
    const job = this.runningJobOf(runnerId);
    if (job) this.complete(job, 'failure');
  }

  /** A runner process starts with its JIT config: online and idle, then scheduled. */
  connect(runner: EmulatedRunner): void {
    runner.status = 'online';
    this.schedule();
  }

  /** Makes every assignment GitHub would make now, oldest queued job first. */
  schedule(): void {
    // Runner ids are never reused, so a runner named by any job has had its one job.
    const used = new Set<number | null>([...this.state.jobs.values()].map((j) => j.runnerId));
    for (;;) {
      const next = nextAssignment(this.state.jobs.values(), this.state.runners.values(), (id) =>
        used.has(id),
      );
      if (!next) return;
      const { job, runner } = next;
      used.add(runner.id);
      runner.busy = true;
      job.status = 'in_progress';
      job.runnerId = runner.id;
      job.runnerName = runner.name;
      job.runnerGroupId = runner.runnerGroupId;
      job.runnerGroupName = runnerGroupName(runner.runnerGroupId);
      job.startedAt = isoSeconds(this.nowMs());
      this.emit('in_progress', job);
    }
  }

  /** Stores a new queued job with a fresh id and emits its `queued` event (no scheduling). */
  private create(
    fields: Omit<
      EmulatedJob,
      | 'id'
      | 'status'
      | 'conclusion'
      | 'runnerId'
      | 'runnerName'
      | 'runnerGroupId'
      | 'runnerGroupName'
      | 'createdAt'
      | 'startedAt'
      | 'completedAt'
    >,
  ): EmulatedJob {
    const now = isoSeconds(this.nowMs());
    const job: EmulatedJob = {
      id: (this.nextJobId += 1 + randomInt(90)),
      ...fields,
      status: 'queued',
      conclusion: null,
      runnerId: null,
      runnerName: null,
      runnerGroupId: null,
      runnerGroupName: null,
      createdAt: now,
      startedAt: now,
      completedAt: null,
    };
    this.state.jobs.set(job.id, job);
    this.emit('queued', job);
    return job;
  }

  private runningJobOf(runnerId: number): EmulatedJob | undefined {
    return [...this.state.jobs.values()].find((j) => j.status === 'in_progress' && j.runnerId === runnerId);
  }

  private complete(job: EmulatedJob, conclusion: JobConclusion): void {
    job.status = 'completed';
    job.conclusion = conclusion;
    job.completedAt = isoSeconds(this.nowMs());
    if (job.runnerId !== null) {
      const runner = this.state.runners.get(job.runnerId);
      if (runner) runner.busy = false;
    }
    this.emit('completed', job);
  }

  private requireJob(jobId: number): EmulatedJob {
    const job = this.state.jobs.get(jobId);
    if (!job) throw new Error(`GitHubEmulator: no job ${jobId}`);
    return job;
  }

  private installationFor(repository: string, installationId: number | undefined): EmulatedInstallation {
    if (repository.split('/').length !== 2) {
      throw new Error(`GitHubEmulator: repository '${repository}' is not 'owner/repo'`);
    }
    if (installationId !== undefined) {
      const inst = this.state.installations.get(installationId);
      if (!inst || !this.state.installationCoversRepo(inst, repository)) {
        throw new Error(`GitHubEmulator: installation ${installationId} does not cover ${repository}`);
      }
      return inst;
    }
    const covering = [...this.state.installations.values()].filter((i) =>
      this.state.installationCoversRepo(i, repository),
    );
    if (covering.length !== 1) {
      throw new Error(
        `GitHubEmulator: ${covering.length} installations cover ${repository}; pass installationId to queueJob`,
      );
    }
    return covering[0];
  }
}
