/**
 * Which AMI a runner config boots: the one baked by the image pipeline, a fixed AMI, or whatever an
 * SSM parameter names at launch time.
 */
import { Aws, Token } from 'aws-cdk-lib';
import type { RunnerArchitecture } from '../lambda/core/runner-config';

/** Root device of Ubuntu AMIs, which the baked image is. */
const UBUNTU_ROOT_DEVICE = '/dev/sda1';

/** Options of a custom AMI. */
export interface CustomAmiOptions {
  /**
   * Device name of the AMI's root volume, which the runner config's root volume size applies to
   * (Amazon Linux uses `/dev/xvda`).
   * @default '/dev/sda1' (Ubuntu)
   */
  readonly rootDeviceName?: string;
}

/** What a launch template needs to know of an AMI. */
export interface RunnerAmiConfig {
  /** `ami-...` or `resolve:ssm:<parameter>`, which EC2 resolves at each launch. */
  readonly imageId: string;
  /** Device name of the root volume. */
  readonly rootDeviceName: string;
  /**
   * ARN of the SSM parameter resolved at launch; launching needs `ssm:GetParameters` on it.
   * @default - none: a fixed AMI id
   */
  readonly parameterArn?: string;
  /**
   * True when the AMI is the account's own (the image pipeline's): IAM can then require `ec2:Owner`.
   * @default false
   */
  readonly ownImage?: boolean;
}

/**
 * The AMI of a runner config. Launch templates name SSM-held AMIs as `resolve:ssm:<name>`, which EC2
 * resolves at each launch (CreateFleet of type `instant` supports it), so a newly baked or published AMI
 * is used without a redeploy.
 */
export abstract class RunnerAmi {
  /** The AMI baked by this construct's image pipeline (one per architecture). */
  public static baked(): RunnerAmi {
    return new BakedAmi();
  }

  /** A fixed AMI, for example `ami-0123456789abcdef0`, in the stack's region. */
  public static fromAmiId(amiId: string, options: CustomAmiOptions = {}): RunnerAmi {
    return new FixedAmi(amiId, options.rootDeviceName ?? UBUNTU_ROOT_DEVICE);
  }

  /**
   * The AMI whose id an SSM parameter holds at launch time (yours, or a public one such as
   * `/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id`). A token name
   * must begin with `/`.
   */
  public static fromSsmParameter(parameterName: string, options: CustomAmiOptions = {}): RunnerAmi {
    return new SsmAmi(parameterName, options.rootDeviceName ?? UBUNTU_ROOT_DEVICE);
  }

  /** True for {@link RunnerAmi.baked}: the construct must create the image pipeline. */
  public abstract readonly isBaked: boolean;

  /**
   * Resolves the AMI for one architecture.
   * @param bakedParameterName the image pipeline's AMI parameter for the architecture, for baked AMIs
   */
  public abstract bind(architecture: RunnerArchitecture, bakedParameterName?: string): RunnerAmiConfig;

  /** Problems of this AMI reference; tokens are not checked. */
  public problems(): string[] {
    return [];
  }
}

class BakedAmi extends RunnerAmi {
  public readonly isBaked = true;
  public bind(architecture: RunnerArchitecture, bakedParameterName?: string): RunnerAmiConfig {
    if (bakedParameterName === undefined) throw new Error(`no baked AMI parameter for ${architecture}`);
    return { ...ssmAmi(bakedParameterName, UBUNTU_ROOT_DEVICE), ownImage: true };
  }
}

class FixedAmi extends RunnerAmi {
  public readonly isBaked = false;
  constructor(
    private readonly amiId: string,
    private readonly rootDeviceName: string,
  ) {
    super();
  }
  public bind(): RunnerAmiConfig {
    return { imageId: this.amiId, rootDeviceName: this.rootDeviceName };
  }
  public problems(): string[] {
    return Token.isUnresolved(this.amiId) || /^ami-[0-9a-f]{8,17}$/.test(this.amiId)
      ? []
      : [`"${this.amiId}" is not an AMI id (ami-0123456789abcdef0)`];
  }
}

class SsmAmi extends RunnerAmi {
  public readonly isBaked = false;
  constructor(
    private readonly parameterName: string,
    private readonly rootDeviceName: string,
  ) {
    super();
  }
  public bind(): RunnerAmiConfig {
    return ssmAmi(this.parameterName, this.rootDeviceName);
  }
  public problems(): string[] {
    const name = this.parameterName;
    if (Token.isUnresolved(name) || name.startsWith('arn:')) return [];
    return /^\/?[A-Za-z0-9_./-]+$/.test(name) && (name.startsWith('/') || !name.includes('/'))
      ? []
      : [`"${name}" is not an SSM parameter name (names with "/" must begin with "/")`];
  }
}

function ssmAmi(parameterName: string, rootDeviceName: string): RunnerAmiConfig {
  return {
    imageId: `resolve:ssm:${parameterName}`,
    rootDeviceName,
    parameterArn: ssmParameterArn(parameterName),
  };
}

/**
 * ARN of an SSM parameter given by name (or ARN). Public parameters (`/aws/service/...`) have no account
 * in their ARN. Built from pseudo parameters, so the ARN is the same whatever the stack's environment.
 */
export function ssmParameterArn(parameterName: string): string {
  if (!Token.isUnresolved(parameterName) && parameterName.startsWith('arn:')) return parameterName;
  const isPublic = !Token.isUnresolved(parameterName) && parameterName.startsWith('/aws/service/');
  const account = isPublic ? '' : Aws.ACCOUNT_ID;
  const separator = Token.isUnresolved(parameterName) || parameterName.startsWith('/') ? '' : '/';
  return `arn:${Aws.PARTITION}:ssm:${Aws.REGION}:${account}:parameter${separator}${parameterName}`;
}
