/** The figures the simulated world counts. */

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

/** A job as the simulation saw it. */
export interface SimJobLife {
  readonly queuedAt: number;
  startedAt?: number;
  /** How many times a runner took it (more than one would be a job run twice). */
  starts: number;
}

/** A job is lost when no runner ever took it and nobody cancelled it. */
export function isLost(id: number, sim: SimJobLife, cancelled: ReadonlySet<number>): boolean {
  return sim.startedAt === undefined && !cancelled.has(id);
}

/** Ran, lost, run twice, cancelled, and the queue-time quantiles (virtual seconds). */
export function jobFigures(jobs: ReadonlyMap<number, SimJobLife>, cancelled: ReadonlySet<number>) {
  let ran = 0;
  let lost = 0;
  let duplicates = 0;
  const queueSeconds: number[] = [];
  for (const [id, sim] of jobs) {
    if (sim.starts > 1) duplicates++;
    if (sim.startedAt !== undefined) {
      ran++;
      queueSeconds.push((sim.startedAt - sim.queuedAt) / 1000);
    } else if (isLost(id, sim, cancelled)) lost++;
  }
  queueSeconds.sort((a, b) => a - b);
  const q = (p: number) =>
    queueSeconds.length
      ? queueSeconds[Math.min(queueSeconds.length - 1, Math.floor(p * queueSeconds.length))]
      : 0;
  return {
    jobs: jobs.size,
    ran,
    cancelled: cancelled.size,
    lost,
    duplicates,
    queueP50s: Math.round(q(0.5)),
    queueP95s: Math.round(q(0.95)),
  };
}
