/**
 * Runner configs: what a user declares (labels, instance types, capacity, AMI), how it is checked, and
 * how it is stored in SSM Parameter Store for the Lambdas (one JSON parameter per config).
 */
import { Duration, Fn, Size, Stack, Token, Annotations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import {
  MAX_RUNNER_LABELS,
  labelProblem,
  type RunnerArchitecture,
  type SpotStrategy,
  type StoredRunnerConfig,
} from '../lambda/core/runner-config';
import { RunnerAmi, ssmParameterArn } from './runner-ami';

/** The label every self-hosted runner carries; added to a config's labels when missing. */
export const SELF_HOSTED_LABEL = 'self-hosted';

/** One kind of runner: the labels jobs ask for, and the machines that serve them. */
export interface RunnerConfigProps {
  /** Unique name of the config: letters, digits, `.`, `_` and `-`, up to 64 characters. */
  readonly name: string;
  /**
   * The labels of the runners. A job runs on this config when all its `runs-on` labels are among these.
   * `self-hosted` is added when missing. Two configs may not have the same label set.
   */
  readonly labels: string[];
  /**
   * Instance types to spread over, most preferred first; several types of similar size let spot
   * capacity come from more pools.
   */
  readonly instanceTypes: ec2.InstanceType[];
  /**
   * CPU architecture of the instance types and the AMI.
   * @default - arm64 when the instance types are Graviton types, x64 otherwise
   */
  readonly architecture?: RunnerArchitecture;
  /**
   * How capacity is bought: `spotOnly`, `spotPreferred` (spot, falling back to on-demand when spot has
   * no capacity) or `onDemandOnly`.
   * @default 'spotPreferred'
   */
  readonly spotStrategy?: SpotStrategy;
  /**
   * Size of the encrypted gp3 root volume.
   * @default Size.gibibytes(30)
   */
  readonly rootVolumeSize?: Size;
  /**
   * The AMI the runners boot.
   * @default RunnerAmi.baked() - the image pipeline's AMI
   */
  readonly ami?: RunnerAmi;
  /**
   * Longest a job may run, from 1 minute to 5 days (GitHub's limit). The launch tags each instance
   * with an expiry, its launch time + the construct's `bootTimeout` + this + 10 minutes: an instance
   * still running after it is terminated by the reconciler, whatever its job is doing.
   * @default Duration.hours(6)
   */
  readonly maxJobRuntime?: Duration;
}

/** The config used when none is given: x64 Linux runners on a few general-purpose types. */
export const DEFAULT_RUNNER_CONFIG: RunnerConfigProps = {
  name: 'default',
  labels: [SELF_HOSTED_LABEL, 'linux', 'x64'],
  instanceTypes: ['m7i.large', 'm6i.large', 'm5.large', 'c7i.large'].map((t) => new ec2.InstanceType(t)),
};

/** A runner config after defaults and normalization. */
export interface ResolvedRunnerConfig {
  readonly name: string;
  /** The complete label set, `self-hosted` included. */
  readonly labels: string[];
  readonly instanceTypes: string[];
  readonly architecture: RunnerArchitecture;
  readonly spotStrategy: SpotStrategy;
  readonly rootVolumeSizeGiB: number;
  readonly ami: RunnerAmi;
  readonly maxJobRuntimeMinutes: number;
  /** Position in the props. */
  readonly order: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_JOB_RUNTIME = Duration.days(5); // GitHub's limit for a job on a self-hosted runner
/** Below this the expiry (launch + boot timeout + this + 10 minutes) would kill ordinary jobs. */
const MIN_JOB_RUNTIME = Duration.minutes(10);

/** An instance family: letters, a generation digit, attribute letters, an optional `-suffix` (m7i-flex, u7i-12tb, u-6tb1, mac2-m2pro). */
const INSTANCE_FAMILY = /^(?:[a-z]+[0-9]+[a-z]*(?:-[a-z0-9]+)?|u-[0-9]+tb[0-9]*)$/;
/** An instance size: nano to large, Nxlarge, metal, metal-Nxl. */
const INSTANCE_SIZE = /^(?:nano|micro|small|medium|large|[0-9]*xlarge|metal|metal-[0-9]+xl)$/;
/** Every family aws-cdk-lib names (`InstanceClass` values), lower case. */
const KNOWN_FAMILIES = new Set(Object.values(ec2.InstanceClass).map((c) => String(c).toLowerCase()));

/**
 * What is wrong with an instance type name, or undefined: the size must be one EC2 has (`m7i.lage`
 * fails), the family must be shaped like one. A well-shaped family aws-cdk-lib does not know (a new
 * one, or a typo such as `m7x`) is only warned about, by {@link unknownInstanceFamilies}.
 */
export function instanceTypeProblem(name: string): string | undefined {
  const [family, size, ...rest] = name.split('.');
  if (rest.length > 0 || size === undefined || !INSTANCE_FAMILY.test(family))
    return `"${name}" is not an instance type name such as m7i.large (family.size)`;
  if (!INSTANCE_SIZE.test(size))
    return `"${name}" has no size "${size}": sizes are nano, micro, small, medium, large, xlarge, 2xlarge ... 48xlarge, metal (did you mean ${family}.${closestSize(size)}?)`;
  return undefined;
}

/** The well-formed instance types whose family aws-cdk-lib does not know. */
export function unknownInstanceFamilies(names: readonly string[]): string[] {
  return names.filter(
    (n) =>
      !Token.isUnresolved(n) && instanceTypeProblem(n) === undefined && !KNOWN_FAMILIES.has(n.split('.')[0]),
  );
}

function closestSize(size: string): string {
  const sizes = ['nano', 'micro', 'small', 'medium', 'large', 'xlarge', '2xlarge', 'metal'];
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const kept = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = kept;
      }
    }
    return d[b.length];
  };
  return sizes.reduce((best, s) => (distance(size, s) < distance(size, best) ? s : best));
}
const SPOT_STRATEGIES: SpotStrategy[] = ['spotOnly', 'spotPreferred', 'onDemandOnly'];

function archOf(instanceType: string): RunnerArchitecture | undefined {
  try {
    return new ec2.InstanceType(instanceType).architecture === ec2.InstanceArchitecture.ARM_64
      ? 'arm64'
      : 'x64';
  } catch {
    return undefined; // a name CDK cannot parse: no opinion
  }
}

/**
 * Applies the defaults to the configs and checks them. Returns the resolved configs and every problem
 * found, each naming the prop and the fix; values that are tokens are not checked.
 */
export function resolveRunnerConfigs(
  configs: RunnerConfigProps[],
  bakedImageVolumeGiB?: number,
): {
  configs: ResolvedRunnerConfig[];
  problems: string[];
} {
  const problems: string[] = [];
  const labelSets = new Map<string, string>();
  const names = new Map<string, string>();
  const resolved = configs.map((c, order): ResolvedRunnerConfig => {
    const at = `runnerConfigs[${order}]${typeof c.name === 'string' ? ` ("${c.name}")` : ''}`;
    if (!Token.isUnresolved(c.name) && !NAME.test(c.name ?? ''))
      problems.push(
        `${at}.name must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`,
      );
    const nameKey = (c.name ?? '').toLowerCase();
    if (names.has(nameKey))
      problems.push(`${at}.name is also the name of ${names.get(nameKey)}: names must be unique`);
    names.set(nameKey, at);

    const given = c.labels ?? [];
    const hasSelfHosted = given.some((l) => !Token.isUnresolved(l) && l.toLowerCase() === SELF_HOSTED_LABEL);
    // A list token (a CloudFormation list parameter, without self-hosted) gets it prepended by CloudFormation.
    const labels = Token.isUnresolved(given)
      ? Fn.split(',', Fn.join(',', [SELF_HOSTED_LABEL, Fn.join(',', given)]))
      : hasSelfHosted
        ? [...given]
        : [SELF_HOSTED_LABEL, ...given];
    if (labels.length > MAX_RUNNER_LABELS)
      problems.push(
        `${at}.labels has ${labels.length} labels (with self-hosted); GitHub allows ${MAX_RUNNER_LABELS}`,
      );
    const seen = new Set<string>();
    for (const label of labels.filter((l) => !Token.isUnresolved(l))) {
      const problem = labelProblem(label);
      if (problem) problems.push(`${at}.labels: ${problem}; GitHub would reject it`);
      if (seen.has(label.toLowerCase()))
        problems.push(`${at}.labels has "${label}" twice (labels ignore case)`);
      seen.add(label.toLowerCase());
    }
    if (!labels.some((l) => Token.isUnresolved(l))) {
      const key = [...seen].sort().join(',');
      const other = labelSets.get(key);
      if (other !== undefined)
        problems.push(
          `${at}.labels [${labels.join(', ')}] is the same label set as ${other}; GitHub could not tell them apart: add a distinguishing label to one`,
        );
      labelSets.set(key, at);
    }

    const instanceTypes = (c.instanceTypes ?? []).map((t) => t.toString());
    if (instanceTypes.length === 0)
      problems.push(`${at}.instanceTypes is empty: give at least one instance type`);
    // Checked when literal: not a token, nor one list token (a CloudFormation list parameter).
    const literalTypes = Token.isUnresolved(instanceTypes)
      ? []
      : instanceTypes.filter((t) => !Token.isUnresolved(t));
    literalTypes.forEach((t) => {
      const problem = instanceTypeProblem(t);
      if (problem) problems.push(`${at}.instanceTypes: ${problem}`);
    });
    const arches = new Set(literalTypes.map(archOf).filter((a) => a !== undefined));
    const architecture = c.architecture ?? (arches.size === 1 ? [...arches][0] : 'x64');
    if (architecture !== 'x64' && architecture !== 'arm64')
      problems.push(`${at}.architecture "${architecture}" must be "x64" or "arm64"`);
    else {
      const wrong = literalTypes.filter((t) => archOf(t) !== undefined && archOf(t) !== architecture);
      if (wrong.length > 0)
        problems.push(
          `${at}.instanceTypes ${wrong.join(', ')} are not ${architecture}: one config uses one architecture; split them into two configs`,
        );
    }

    const spotStrategy = c.spotStrategy ?? 'spotPreferred';
    if (!Token.isUnresolved(spotStrategy) && !SPOT_STRATEGIES.includes(spotStrategy))
      problems.push(`${at}.spotStrategy "${spotStrategy}" must be one of ${SPOT_STRATEGIES.join(', ')}`);

    const rootVolumeSizeGiB = (c.rootVolumeSize ?? Size.gibibytes(30)).toGibibytes();
    if (!Token.isUnresolved(rootVolumeSizeGiB) && !(rootVolumeSizeGiB >= 8 && rootVolumeSizeGiB <= 16384))
      problems.push(`${at}.rootVolumeSize ${rootVolumeSizeGiB} GiB must be between 8 GiB and 16384 GiB`);

    const maxJobRuntime = c.maxJobRuntime ?? Duration.hours(6);
    const maxJobRuntimeMinutes = Math.ceil(maxJobRuntime.toMinutes({ integral: false }));
    if (
      !maxJobRuntime.isUnresolved() &&
      !(
        maxJobRuntimeMinutes >= MIN_JOB_RUNTIME.toMinutes() &&
        maxJobRuntimeMinutes <= MAX_JOB_RUNTIME.toMinutes()
      )
    )
      problems.push(
        `${at}.maxJobRuntime ${maxJobRuntime.toHumanString()} must be between ${MIN_JOB_RUNTIME.toHumanString()} and 5 days (GitHub's limit for a job): it is a backstop that terminates the instance whatever its job is doing, not a job timeout (use the workflow's timeout-minutes for that)`,
      );

    const ami = c.ami ?? RunnerAmi.baked();
    ami.problems().forEach((p) => problems.push(`${at}.ami: ${p}`));
    if (ami.isBaked && bakedImageVolumeGiB !== undefined && rootVolumeSizeGiB < bakedImageVolumeGiB)
      problems.push(
        `${at}.rootVolumeSize ${rootVolumeSizeGiB} GiB is smaller than the baked image (image.volumeSizeGiB ${bakedImageVolumeGiB} GiB): raise it`,
      );

    return {
      name: c.name,
      labels,
      instanceTypes,
      architecture,
      spotStrategy,
      rootVolumeSizeGiB,
      ami,
      maxJobRuntimeMinutes,
      order,
    };
  });
  return { configs: resolved, problems };
}

/** What the store needs of each config besides the config itself. */
export interface RunnerConfigLaunchSettings {
  /** The config's launch template. */
  readonly launchTemplateId: string;
  /** The launch template version the fleet launches (the latest this deployment created). */
  readonly launchTemplateVersion: string;
  /** The subnets to spread over. */
  readonly subnetIds: string[];
}

/** Props of {@link RunnerConfigStore}. */
export interface RunnerConfigStoreProps {
  /** SSM path of the configs, beginning with `/`; each config is `{path}/{name}`. */
  readonly path: string;
  /** The configs to store. */
  readonly configs: ResolvedRunnerConfig[];
  /** The launch settings of each config, by name. */
  readonly launch: Record<string, RunnerConfigLaunchSettings>;
}

/** The runner configs in SSM Parameter Store, as JSON `StoredRunnerConfig` String parameters. */
export class RunnerConfigStore extends Construct {
  /** The parameters, by config name. */
  public readonly parameters: Record<string, ssm.StringParameter> = {};
  private readonly path: string;

  constructor(scope: Construct, id: string, props: RunnerConfigStoreProps) {
    super(scope, id);
    this.path = props.path;
    for (const config of props.configs) {
      const launch = props.launch[config.name];
      const stored: StoredRunnerConfig = {
        name: config.name,
        labels: config.labels,
        instanceTypes: config.instanceTypes,
        architecture: config.architecture,
        spotStrategy: config.spotStrategy,
        launchTemplateId: launch.launchTemplateId,
        launchTemplateVersion: launch.launchTemplateVersion,
        subnetIds: launch.subnetIds,
        maxJobRuntimeMinutes: config.maxJobRuntimeMinutes,
        order: config.order,
      };
      // Standard parameters hold 4 KB and cost nothing; ids of launch templates and subnets are short.
      const estimate = JSON.stringify({
        ...stored,
        launchTemplateId: 'x'.repeat(24),
        subnetIds: stored.subnetIds.map(() => 'x'.repeat(26)),
      }).length;
      const tier = estimate > 4000 ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD;
      if (tier === ssm.ParameterTier.ADVANCED)
        Annotations.of(this).addWarningV2(
          'cdk-ephemeral-runners:advancedParameter',
          `Runner config "${config.name}" is larger than 4 KB and needs an advanced SSM parameter ($0.05 a month); fewer or shorter labels avoid it.`,
        );
      this.parameters[config.name] = new ssm.StringParameter(this, config.name, {
        parameterName: `${props.path}/${config.name}`,
        simpleName: false,
        description: `cdk-ephemeral-runners runner config "${config.name}"`,
        stringValue: storedConfigJson(Stack.of(this), stored),
        tier,
      });
    }
  }

  /**
   * Allows a principal to read the configs the way the Lambdas do (lambda/adapters/runner-config-source):
   * `ssm:GetParametersByPath` on the path and on each config's parameter, nothing else.
   */
  public grantRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParametersByPath'],
      resourceArns: [
        ssmParameterArn(this.path),
        ...Object.values(this.parameters).map((p) => p.parameterArn),
      ],
    });
  }
}

/**
 * The stored config as JSON. A list that is a token (a CloudFormation list parameter) is joined by
 * CloudFormation (`Fn::Join`), where `toJsonString` would add a custom resource; such lists hold labels,
 * instance types or subnet ids, which have no character JSON would escape.
 */
function storedConfigJson(stack: Stack, stored: StoredRunnerConfig): string {
  const entries = Object.entries(stored).filter(([, v]) => v !== undefined);
  const isListToken = (v: unknown): v is string[] => Array.isArray(v) && Token.isUnresolved(v);
  if (!entries.some(([, v]) => isListToken(v))) return stack.toJsonString(stored);
  const fields = entries.map(
    ([k, v]) => `${JSON.stringify(k)}:${isListToken(v) ? `["${Fn.join('","', v)}"]` : stack.toJsonString(v)}`,
  );
  return `{${fields.join(',')}}`;
}
