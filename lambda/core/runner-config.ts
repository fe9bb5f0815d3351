/**
 * The runner configuration as the construct stores it in SSM Parameter Store (one JSON parameter per
 * config under `{configPath}/{name}`) and as the Lambdas read it. Shared by `lib/` (which writes it)
 * and `lambda/` (which reads it), so the two can never disagree on its shape.
 */

/** How a runner config buys capacity. */
export type SpotStrategy = 'spotOnly' | 'spotPreferred' | 'onDemandOnly';

/** CPU architecture of a runner config's instances. */
export type RunnerArchitecture = 'x64' | 'arm64';

/** One runner config, as stored in SSM and read by the Lambdas. */
export interface StoredRunnerConfig {
  /** Unique name of the config; also the last segment of its parameter name. */
  readonly name: string;
  /** The complete label set a runner of this config registers with (`self-hosted` included). */
  readonly labels: string[];
  /** Instance types to diversify across, most preferred first. */
  readonly instanceTypes: string[];
  /** CPU architecture of the instance types and the AMI. */
  readonly architecture: RunnerArchitecture;
  /** Spot, spot with on-demand fallback, or on-demand. */
  readonly spotStrategy: SpotStrategy;
  /** Launch template the fleet launches from (AMI, user data, role, security group, volume). */
  readonly launchTemplateId: string;
  /**
   * The launch template version to launch. CloudFormation adds a version on every change but never
   * moves the template's default version, so the construct stores the latest version it deployed.
   * @default '$Latest'
   */
  readonly launchTemplateVersion?: string;
  /** Subnets to spread the fleet across. */
  readonly subnetIds: string[];
  /** Longest a job may run before the instance is considered stuck, in minutes. */
  readonly maxJobRuntimeMinutes: number;
  /** Position of the config in the construct's props: breaks routing ties. */
  readonly order: number;
}

/** Maximum labels GitHub accepts on one runner. */
export const MAX_RUNNER_LABELS = 100;

/** Maximum length of one runner label that GitHub accepts. */
export const MAX_LABEL_LENGTH = 256;

/**
 * Why a label would be rejected by GitHub, or undefined when it is acceptable.
 * GitHub rejects empty labels, labels with commas (the runner's label separator) or whitespace,
 * and labels longer than 256 characters.
 */
export function labelProblem(label: string): string | undefined {
  if (label.length === 0) return 'a label cannot be empty';
  if (label.length > MAX_LABEL_LENGTH)
    return `label "${label.slice(0, 20)}…" is longer than ${MAX_LABEL_LENGTH} characters`;
  if (/[,\s]/.test(label)) return `label "${label}" contains a comma or whitespace`;
  return undefined;
}

/**
 * Checks one stored config read back from SSM (an admin may have edited it by hand) and returns the
 * problems found; an empty list means the config is usable.
 */
export function storedConfigProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return ['config is not a JSON object'];
  const c = value as Record<string, unknown>;
  const problems: string[] = [];
  const isStringArray = (v: unknown): v is string[] =>
    Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof c.name !== 'string' || c.name === '') problems.push('name must be a non-empty string');
  if (!isStringArray(c.labels) || c.labels.length === 0)
    problems.push('labels must be a non-empty list of strings');
  else {
    if (c.labels.length > MAX_RUNNER_LABELS)
      problems.push(`labels has more than ${MAX_RUNNER_LABELS} entries`);
    for (const l of c.labels) {
      const p = labelProblem(l);
      if (p) problems.push(p);
    }
  }
  if (!isStringArray(c.instanceTypes) || c.instanceTypes.length === 0)
    problems.push('instanceTypes must be a non-empty list of strings');
  if (c.architecture !== 'x64' && c.architecture !== 'arm64')
    problems.push('architecture must be x64 or arm64');
  if (!['spotOnly', 'spotPreferred', 'onDemandOnly'].includes(c.spotStrategy as string))
    problems.push('spotStrategy must be spotOnly, spotPreferred or onDemandOnly');
  if (typeof c.launchTemplateId !== 'string' || c.launchTemplateId === '')
    problems.push('launchTemplateId must be a non-empty string');
  if (
    c.launchTemplateVersion !== undefined &&
    (typeof c.launchTemplateVersion !== 'string' || c.launchTemplateVersion === '')
  )
    problems.push('launchTemplateVersion must be a non-empty string when given');
  if (!isStringArray(c.subnetIds) || c.subnetIds.length === 0)
    problems.push('subnetIds must be a non-empty list of strings');
  if (typeof c.maxJobRuntimeMinutes !== 'number' || !(c.maxJobRuntimeMinutes > 0))
    problems.push('maxJobRuntimeMinutes must be a positive number');
  if (typeof c.order !== 'number') problems.push('order must be a number');
  return problems;
}
