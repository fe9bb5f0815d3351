/**
 * Reads the runner configs from SSM Parameter Store (one JSON parameter per config under a path) and
 * caches them per container, so an admin's edit takes effect within the cache time, without a deploy.
 */
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { StoredRunnerConfig, storedConfigProblems } from '../core/runner-config';

/** Reports a config that could not be used; the rest still serve. */
export type InvalidConfigReporter = (parameterName: string, problems: string[]) => void;

/** A cached view of the runner configs under one SSM path. */
export class RunnerConfigSource {
  private cached?: { configs: StoredRunnerConfig[]; at: number };
  private loading?: Promise<StoredRunnerConfig[]>;

  constructor(
    private readonly ssm: SSMClient,
    private readonly path: string,
    private readonly cacheMs: number,
    private readonly onInvalid: InvalidConfigReporter,
    private readonly now: () => number = Date.now,
  ) {}

  /** The configs, from cache when fresh. Concurrent callers share one load. */
  async configs(): Promise<StoredRunnerConfig[]> {
    if (this.cached && this.now() - this.cached.at < this.cacheMs) return this.cached.configs;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** The config of a name, or undefined when it no longer exists. */
  async byName(name: string): Promise<StoredRunnerConfig | undefined> {
    return (await this.configs()).find((c) => c.name === name);
  }

  private async load(): Promise<StoredRunnerConfig[]> {
    const configs: StoredRunnerConfig[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.ssm.send(
        new GetParametersByPathCommand({
          Path: this.path,
          Recursive: false,
          NextToken: nextToken,
          MaxResults: 10,
        }),
      );
      for (const p of out.Parameters ?? []) {
        let value: unknown;
        try {
          value = JSON.parse(p.Value ?? '');
        } catch {
          this.onInvalid(p.Name ?? '?', ['not valid JSON']);
          continue;
        }
        const problems = storedConfigProblems(value);
        if (problems.length > 0) this.onInvalid(p.Name ?? '?', problems);
        else configs.push(value as StoredRunnerConfig);
      }
      nextToken = out.NextToken;
    } while (nextToken);
    configs.sort((a, b) => a.order - b.order);
    this.cached = { configs, at: this.now() };
    return configs;
  }
}
