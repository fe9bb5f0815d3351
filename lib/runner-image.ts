import * as cdk from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import { Construct, DependencyGroup, type IDependable } from 'constructs';
import { RunnerArchitecture } from '../lambda/core/runner-config';
import { RunnerImageComponent, contentVersion } from './runner-image-components';
import { seedAmiParameter, startBuildOnDeploy } from './runner-image-first-deploy';
import { RunnerPackage } from './runner-image-package';
import {
  UbuntuVersion,
  buildSubnet,
  canonicalAmiParameter,
  pascal,
  recipeComponents,
} from './runner-image-recipe';
import { acknowledge } from './acknowledge';

export { RunnerImageComponent } from './runner-image-components';
export { RunnerPackage, DEFAULT_RUNNER_RELEASE } from './runner-image-package';
export type { RunnerChecksums, RunnerRelease, RunnerUrls, RunnerS3Location } from './runner-image-package';

export { canonicalAmiParameter } from './runner-image-recipe';
export type { UbuntuVersion } from './runner-image-recipe';

/** Image settings users pass through `EphemeralRunnersProps.image`. */
export interface RunnerImageOptions {
  /**
   * Ubuntu LTS release of the image (and of the stock AMI used before the first image exists).
   * @default '24.04'
   */
  readonly ubuntuVersion?: UbuntuVersion;
  /**
   * The runner version and where its tarballs come from; every tarball is checked against its SHA-256.
   * @default RunnerPackage.github() - the version this library pins, from GitHub's releases
   */
  readonly runnerPackage?: RunnerPackage;
  /**
   * Docker images to pull into the image, so that jobs using them start without a download.
   * @default - none
   */
  readonly prePulledDockerImages?: string[];
  /**
   * Your own components, run after the built-in ones in this order.
   * @default - none
   */
  readonly components?: RunnerImageComponent[];
  /**
   * When the pipeline rebuilds the image (picking up Ubuntu's updates), as an Image Builder cron expression.
   * @default 'cron(0 4 ? * sun *)' - Sundays at 04:00 UTC
   */
  readonly scheduleExpression?: string;
  /**
   * How many images (AMIs and their snapshots) to keep per architecture; older ones are deleted.
   * @default 3
   */
  readonly imagesToKeep?: number;
  /**
   * Instance types of the build and test instances, per architecture.
   * @default - x64: m7i.large, m6i.large, m5.large; arm64: m7g.large, m6g.large
   */
  readonly buildInstanceTypes?: { readonly x64?: string[]; readonly arm64?: string[] };
  /**
   * Size of the image's root volume in GiB. A launch template using the image needs at least this much.
   * @default 30
   */
  readonly volumeSizeGiB?: number;
  /**
   * Start a build as soon as the stack is deployed and whenever the recipe changes, instead of waiting
   * for the schedule. Runners boot from stock Ubuntu (installing the runner at boot) until it finishes.
   * @default true
   */
  readonly buildOnDeploy?: boolean;
}

/** Properties of {@link RunnerImage}. */
export interface RunnerImageProps extends RunnerImageOptions {
  /** VPC the build and test instances run in; they need outbound access to Ubuntu's archive and GitHub. */
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of `vpc` for the build instances (the first selected subnet is used).
   * @default - the VPC's private subnets with egress, else its public subnets
   */
  readonly subnetSelection?: ec2.SubnetSelection;
  /** Architectures of the runner configs: one recipe and pipeline per architecture. */
  readonly architectures: RunnerArchitecture[];
  /**
   * Extra CA certificates (PEM) to trust, in the OS store and in the runner's Node.
   * @default - none
   */
  readonly extraCaCertificates?: string[];
}

/** The default Image Builder schedule: Sundays at 04:00 UTC. */
export const DEFAULT_SCHEDULE = 'cron(0 4 ? * sun *)';
const DEFAULT_BUILD_INSTANCE_TYPES: Record<RunnerArchitecture, string[]> = {
  x64: ['m7i.large', 'm6i.large', 'm5.large'],
  arm64: ['m7g.large', 'm6g.large'],
};
/** Tag on the images of this construct: what the lifecycle policy selects by. */
const IMAGE_TAG = 'ephemeral-runners:image';

const DOCKER_IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/;

/**
 * The runner AMIs: an EC2 Image Builder pipeline per architecture (Ubuntu + Docker + the runner + the
 * CloudWatch agent + your components) that publishes each new AMI id to an SSM parameter, read by the
 * launch templates at launch time.
 *
 * Until the first image is built, the parameter holds the stock Ubuntu AMI id and the boot script
 * installs the runner at boot. The parameter is created by a custom resource only when it does not
 * exist and is never written by CloudFormation afterwards, so a stack update cannot revert it to the
 * stock AMI after Image Builder has published one.
 */
export class RunnerImage extends Construct {
  /** The runner installed in the image; pass it to `runnerBootUserData` for the first-deploy fallback. */
  public readonly runnerPackage: RunnerPackage;
  /** Size of the image's root volume in GiB: launch templates need at least this much. */
  public readonly volumeSizeGiB: number;
  /** The Ubuntu release of the image. */
  public readonly ubuntuVersion: UbuntuVersion;
  /** Role of the build and test instances. */
  public readonly buildRole: iam.IRole;
  /** Security group of the build and test instances (no ingress). */
  public readonly buildSecurityGroup: ec2.ISecurityGroup;
  /**
   * The creation of the AMI parameters: make launch templates (and anything resolving the
   * parameters) depend on it, so that a parameter exists before it is first resolved.
   */
  public readonly amiParametersCreated = new DependencyGroup();
  private readonly amiParameterSeeds = new Map<RunnerArchitecture, IDependable>();
  private readonly prefix: string;
  private readonly architectures: RunnerArchitecture[];
  private readonly pipelines = new Map<RunnerArchitecture, imagebuilder.CfnImagePipeline>();

  constructor(scope: Construct, id: string, props: RunnerImageProps) {
    super(scope, id);
    this.architectures = [...new Set(props.architectures)];
    if (this.architectures.length === 0)
      throw new Error('RunnerImage: architectures must name at least one architecture');
    this.runnerPackage = props.runnerPackage ?? RunnerPackage.github();
    this.ubuntuVersion = props.ubuntuVersion ?? '24.04';
    this.volumeSizeGiB = props.volumeSizeGiB ?? 30;
    if (!Number.isInteger(this.volumeSizeGiB) || this.volumeSizeGiB < 8) {
      throw new Error(
        `RunnerImage: volumeSizeGiB must be a whole number of at least 8, got ${this.volumeSizeGiB}`,
      );
    }
    const imagesToKeep = props.imagesToKeep ?? 3;
    if (!Number.isInteger(imagesToKeep) || imagesToKeep < 1) {
      throw new Error(`RunnerImage: imagesToKeep must be a whole number of at least 1, got ${imagesToKeep}`);
    }
    for (const image of props.prePulledDockerImages ?? []) {
      if (!DOCKER_IMAGE.test(image))
        throw new Error(`RunnerImage: prePulledDockerImages has an invalid image reference "${image}"`);
    }
    this.prefix = cdk.Names.uniqueResourceName(this, { maxLength: 60, separator: '-' });

    const sg = new ec2.SecurityGroup(this, 'BuildSecurityGroup', {
      vpc: props.vpc,
      allowAllOutbound: true,
      description: 'Image Builder build and test instances of the ephemeral runner image (no ingress)',
    });
    this.buildSecurityGroup = sg;
    const role = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Image Builder build and test instances of the ephemeral runner image',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
      ],
    });
    this.buildRole = role;
    acknowledgeManagedPolicies(
      role,
      ['EC2InstanceProfileForImageBuilder', 'AmazonSSMManagedInstanceCore'],
      'The policies Image Builder documents for build instances: AWSTOE and the SSM agent run the components.',
    );
    this.runnerPackage.grantRead(role);
    const profile = new iam.InstanceProfile(this, 'BuildInstanceProfile', { role });
    const subnetId = buildSubnet(props.vpc, props.subnetSelection);

    const components = recipeComponents(this, {
      ...props,
      prefix: this.prefix,
      runnerPackage: this.runnerPackage,
    });
    const lifecycleRole = new iam.Role(this, 'LifecycleRole', {
      assumedBy: new iam.ServicePrincipal('imagebuilder.amazonaws.com'),
      description: 'Image Builder lifecycle policy deleting old ephemeral runner images',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/EC2ImageBuilderLifecycleExecutionPolicy'),
      ],
    });
    acknowledgeManagedPolicies(
      lifecycleRole,
      ['service-role/EC2ImageBuilderLifecycleExecutionPolicy'],
      'The policy Image Builder documents for lifecycle policies; it deletes only images Image Builder made.',
    );

    for (const arch of this.architectures) {
      const name = `${this.prefix}-${arch}`;
      const archComponents = components(arch);
      const recipeSpec = {
        parentImage: `ssm:${canonicalAmiParameter(this.ubuntuVersion, arch)}`,
        components: archComponents.map((c) => ({ componentArn: c.arn, parameters: c.parameters })),
        versions: archComponents.map((c) => c.version),
        volumeSizeGiB: this.volumeSizeGiB,
      };
      const recipeVersion = contentVersion(JSON.stringify(cdk.Stack.of(this).resolve(recipeSpec)));
      const recipe = new imagebuilder.CfnImageRecipe(this, `Recipe${pascal(arch)}`, {
        name,
        version: recipeVersion,
        description: `Ubuntu ${this.ubuntuVersion} ${arch} with Docker and GitHub Actions runner ${this.runnerPackage.version}`,
        parentImage: recipeSpec.parentImage,
        components: archComponents.map((c) => {
          const parameters = Object.entries(c.parameters).map(([n, v]) => ({ name: n, value: [v] }));
          return { componentArn: c.arn, parameters: parameters.length > 0 ? parameters : undefined };
        }),
        blockDeviceMappings: [
          {
            deviceName: '/dev/sda1',
            ebs: {
              volumeSize: this.volumeSizeGiB,
              volumeType: 'gp3',
              deleteOnTermination: true,
              encrypted: true,
            },
          },
        ],
        additionalInstanceConfiguration: { systemsManagerAgent: { uninstallAfterBuild: false } },
      });
      const infrastructure = new imagebuilder.CfnInfrastructureConfiguration(
        this,
        `Infrastructure${pascal(arch)}`,
        {
          name,
          description: `Build and test instances of the ${arch} ephemeral runner image`,
          instanceProfileName: profile.instanceProfileName,
          instanceTypes: props.buildInstanceTypes?.[arch] ?? DEFAULT_BUILD_INSTANCE_TYPES[arch],
          subnetId,
          securityGroupIds: [sg.securityGroupId],
          instanceMetadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
          terminateInstanceOnFailure: true,
          resourceTags: { [IMAGE_TAG]: name },
        },
      );
      const distribution = new imagebuilder.CfnDistributionConfiguration(
        this,
        `Distribution${pascal(arch)}`,
        {
          name,
          description: `Publishes the ${arch} ephemeral runner AMI id to ${this.amiParameterName(arch)}`,
          distributions: [
            {
              region: cdk.Stack.of(this).region,
              // A JSON pass-through in CloudFormation's schema: its keys are PascalCase.
              amiDistributionConfiguration: {
                Name: `${name}-{{ imagebuilder:buildDate }}`,
                Description: `Ephemeral GitHub Actions runner (${arch}), runner ${this.runnerPackage.version}`,
                AmiTags: { [IMAGE_TAG]: name },
              },
              ssmParameterConfigurations: [
                { parameterName: this.amiParameterName(arch), dataType: 'aws:ec2:image' },
              ],
            },
          ],
        },
      );
      const pipeline = new imagebuilder.CfnImagePipeline(this, `Pipeline${pascal(arch)}`, {
        name,
        description: `Builds the ${arch} ephemeral runner image`,
        imageRecipeArn: recipe.attrArn,
        infrastructureConfigurationArn: infrastructure.attrArn,
        distributionConfigurationArn: distribution.attrArn,
        schedule: {
          scheduleExpression: props.scheduleExpression ?? DEFAULT_SCHEDULE,
          // Rebuild on schedule even when nothing in the recipe changed: Ubuntu's updates did.
          pipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY',
        },
        imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 90 },
        imageTags: { [IMAGE_TAG]: name },
        enhancedImageMetadataEnabled: true,
        status: 'ENABLED',
      });
      this.pipelines.set(arch, pipeline);
      new imagebuilder.CfnLifecyclePolicy(this, `Lifecycle${pascal(arch)}`, {
        name,
        description: `Keeps the ${imagesToKeep} newest ${arch} ephemeral runner images`,
        executionRole: lifecycleRole.roleArn,
        resourceType: 'AMI_IMAGE',
        policyDetails: [
          {
            action: { type: 'DELETE', includeResources: { amis: true, snapshots: true } },
            filter: { type: 'COUNT', value: imagesToKeep },
          },
        ],
        resourceSelection: { tagMap: { [IMAGE_TAG]: name } },
      });
      const seed = seedAmiParameter(
        this,
        arch,
        { name: this.amiParameterName(arch), arn: this.amiParameterArn(arch) },
        this.ubuntuVersion,
      );
      this.amiParametersCreated.add(seed);
      this.amiParameterSeeds.set(arch, seed);
      if (props.buildOnDeploy ?? true) {
        // The token (at most 36 characters) changes with the recipe: a new recipe starts a new build.
        startBuildOnDeploy(this, arch, pipeline.attrArn, contentVersion(`${name}-${recipeVersion}`));
      }
    }
  }

  /**
   * SSM parameter name holding the current AMI id for an architecture; launch templates use ImageId
   * `resolve:ssm:<name>` (resolved by EC2 at launch time). It lies under `/imagebuilder/`, the only
   * path Image Builder's service-linked role may write.
   */
  public amiParameterName(arch: RunnerArchitecture): string {
    return `/imagebuilder/ephemeral-runners/${this.prefix}/${arch}`;
  }

  /** The creation of the AMI parameter of one architecture (see {@link amiParametersCreated}). */
  public amiParameterCreated(arch: RunnerArchitecture): IDependable {
    const seed = this.amiParameterSeeds.get(arch);
    if (!seed) throw new Error(`RunnerImage has no ${arch} pipeline: add ${arch} to its architectures`);
    return seed;
  }

  /** ARN of {@link amiParameterName}. */
  public amiParameterArn(arch: RunnerArchitecture): string {
    return cdk.Stack.of(this).formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: this.amiParameterName(arch).slice(1),
    });
  }

  /**
   * Lets `grantee` read the AMI parameters. EC2 resolves `resolve:ssm:` with the permissions of whoever
   * calls CreateFleet / RunInstances, so the launching role needs this.
   */
  public grantAmiParameterRead(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ssm:GetParameters', 'ssm:GetParameter'],
      resourceArns: this.architectures.map((a) => this.amiParameterArn(a)),
    });
  }

  /** ARN of the image pipeline of an architecture. */
  public pipelineArn(arch: RunnerArchitecture): string {
    const pipeline = this.pipelines.get(arch);
    if (!pipeline) throw new Error(`RunnerImage has no ${arch} pipeline: add ${arch} to its architectures`);
    return pipeline.attrArn;
  }
}

function acknowledgeManagedPolicies(role: iam.IRole, policies: string[], reason: string): void {
  for (const policy of policies) {
    acknowledge(role, {
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`,
      reason,
    });
  }
}
