/**
 * Which runner config serves a job: a pure function over the job's `runs-on` labels and the configs.
 */

/** The part of a runner config routing looks at. */
export interface RoutableConfig {
  readonly name: string;
  readonly labels: readonly string[];
  readonly order: number;
}

/** The outcome of routing a job. */
export type RoutingResult<C extends RoutableConfig> =
  | { readonly matched: true; readonly config: C }
  | { readonly matched: false; readonly reason: 'not-self-hosted' | 'no-config' };

const normalize = (labels: readonly string[]): Set<string> =>
  new Set(labels.map((l) => l.trim().toLowerCase()));

/**
 * Picks the config for a job. Labels compare case-insensitively (GitHub does). The job must ask for
 * `self-hosted`; a config matches when its labels contain all of the job's labels; among matches the
 * most specific (fewest labels beyond the job's) wins, ties broken by declaration order.
 */
export function routeJob<C extends RoutableConfig>(
  jobLabels: readonly string[],
  configs: readonly C[],
): RoutingResult<C> {
  const wanted = normalize(jobLabels);
  if (!wanted.has('self-hosted')) return { matched: false, reason: 'not-self-hosted' };
  let best: { config: C; extra: number } | undefined;
  for (const config of configs) {
    const offered = normalize(config.labels);
    if (![...wanted].every((l) => offered.has(l))) continue;
    const extra = offered.size - wanted.size;
    if (
      best === undefined ||
      extra < best.extra ||
      (extra === best.extra && config.order < best.config.order)
    ) {
      best = { config, extra };
    }
  }
  return best ? { matched: true, config: best.config } : { matched: false, reason: 'no-config' };
}
