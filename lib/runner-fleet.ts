/**
 * What runner instances are launched with: one launch template per runner config, the security group,
 * the instance role and profile, the runner log group; and the permissions to launch runners and to
 * terminate them.
 */
import { Aws, CfnElement, Stack, Tags, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IDependable } from 'constructs';
import type { RunnerArchitecture } from '../lambda/core/runner-config';
import { INSTANCE_TAGS } from '../lambda/core/state-schema';
import { grantEbsKeyUse, spotServiceLinkedRoleArn } from './encryption';
import type { RunnerAmiConfig } from './runner-ami';
import { runnerBootUserData } from './runner-boot';
import type { RunnerPackage } from './runner-image-package';
import type { ResolvedRunnerConfig } from './runner-configs';
import type { StateTable } from './state-table';
import { acknowledge } from './acknowledge';

/** Props of {@link RunnerFleet}. */
export interface RunnerFleetProps {
  /** The VPC of the runners. */
  readonly vpc: ec2.IVpc;
  /** The subnets the runners are launched in. */
  readonly subnetIds: string[];
  /** The runner configs, one launch template each. */
  readonly configs: ResolvedRunnerConfig[];
  /** Whether the runners' subnets are public: runners then get a public IPv4 address. */
  readonly publicSubnets: boolean;
  /** The state table holding the JIT handoffs. */
  readonly stateTable: StateTable;
  /** Value of the owner tag on every instance this deployment launches. */
  readonly ownerTag: string;
  /** How long the boot and runner logs are kept. */
  readonly logRetention: logs.RetentionDays;
  /**
   * The image pipeline's AMI parameter of an architecture, when a config uses the baked AMI.
   * @default - no config uses the baked AMI
   */
  readonly bakedAmiParameterName?: (architecture: RunnerArchitecture) => string;
  /**
   * What creates the baked AMI parameter of an architecture: launch templates of baked configs are
   * created after their architecture's (and not after the whole pipeline, nor another architecture's).
   * @default - no image pipeline
   */
  readonly bakedAmiParameterCreated?: (architecture: RunnerArchitecture) => IDependable;
  /**
   * Extra CA certificates (PEM) the boot script trusts.
   * @default - none
   */
  readonly extraCaCertificates?: string[];
  /**
   * The runner the boot script installs when the AMI has none (the stock AMI before the first bake).
   * @default - the boot script's default, the version this library pins
   */
  readonly runnerPackage?: RunnerPackage;
  /**
   * The customer-managed key the root volumes are encrypted with; launching principals get its use.
   * @default - the account's default EBS key
   */
  readonly ebsEncryptionKey?: kms.IKey;
  /**
   * A customer-managed key for the runner log group, and for the state table the handoff is read from.
   * @default - none
   */
  readonly dataEncryptionKey?: kms.IKey;
}

const arn = (service: string, resource: string, account: string = Aws.ACCOUNT_ID): string =>
  `arn:${Aws.PARTITION}:${service}:${Aws.REGION}:${account}:${resource}`;

/** Launch templates, security group, instance role and runner logs of the runners. */
export class RunnerFleet extends Construct {
  /** The launch template of each runner config, by config name. */
  public readonly launchTemplates: Record<string, ec2.LaunchTemplate> = {};
  /** The runners' security group: no ingress, all egress. */
  public readonly securityGroup: ec2.SecurityGroup;
  /** The role of the runner instances. */
  public readonly role: iam.Role;
  /** The log group of the boot script and the runner. */
  public readonly logGroup: logs.LogGroup;
  private readonly ownerTag: string;
  private readonly subnetIds: string[];
  private readonly vpcId: string;
  private readonly amiParameterArns: string[] = [];
  /** The images the configs boot, as IAM can name them (see {@link imageStatements}). */
  private readonly images: RunnerAmiConfig[] = [];
  private readonly ebsEncryptionKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: RunnerFleetProps) {
    super(scope, id);
    this.ownerTag = props.ownerTag;
    this.subnetIds = props.subnetIds;
    this.vpcId = props.vpc.vpcId;
    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'GitHub Actions runners: no ingress, all egress',
      allowAllOutbound: true,
    });
    this.ebsEncryptionKey = props.ebsEncryptionKey;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      encryptionKey: props.dataEncryptionKey,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'GitHub Actions runner instances: read their own JIT handoff, write their logs',
    });
    props.stateTable.grantOwnHandoff(this.role);
    // The boot script names every stream `{instance id}/{file}`. IAM cannot narrow a stream to the
    // calling instance: the variables holding its id (`aws:userid`, `ec2:SourceInstanceARN`) hold a ":",
    // which stream names cannot. Streams are limited to instance-named ones; nothing can read or delete.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [arn('logs', `log-group:${this.logGroup.logGroupName}:log-stream:i-*`)],
      }),
    );
    const logsId = Stack.of(this).getLogicalId(this.logGroup.node.defaultChild as CfnElement);
    acknowledge(this.role, {
      id: iam5Resource(`logs:<AWS::Region>:<AWS::AccountId>:log-group:<${logsId}>:log-stream:i-*`),
      reason:
        'Stream names begin with the instance id, which is not known before launch, and IAM has no variable holding the bare id of the calling instance; runners cannot read or delete any stream.',
    });
    // The CloudWatch agent looks its streams up before it creates them.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:DescribeLogStreams'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    // No ec2:TerminateInstances: IAM has no documented way to compare the target instance with
    // ec2:SourceInstanceARN, so a runner ends itself by shutting down (shutdown behaviour: terminate).
    props.runnerPackage?.grantRead(this.role); // the boot script may download the runner
    const instanceProfile = new iam.InstanceProfile(this, 'InstanceProfile', { role: this.role });

    for (const config of props.configs) {
      const ami = config.ami.bind(config.architecture, props.bakedAmiParameterName?.(config.architecture));
      if (ami.parameterArn !== undefined && !this.amiParameterArns.includes(ami.parameterArn))
        this.amiParameterArns.push(ami.parameterArn);
      this.images.push(ami);
      const template = new ec2.LaunchTemplate(this, `LaunchTemplate-${config.name}`, {
        versionDescription: `cdk-ephemeral-runners runner config "${config.name}"`,
        machineImage: {
          getImage: () => ({
            imageId: ami.imageId,
            osType: ec2.OperatingSystemType.LINUX,
            userData: ec2.UserData.forLinux(),
          }),
        },
        userData: runnerBootUserData({
          stateTableName: props.stateTable.table.tableName,
          logGroupName: this.logGroup.logGroupName,
          extraCaCertificates: props.extraCaCertificates,
          runnerPackage: props.runnerPackage,
        }),
        instanceProfile,
        securityGroup: this.securityGroup,
        associatePublicIpAddress: props.publicSubnets ? true : undefined,
        requireImdsv2: true,
        httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
        httpPutResponseHopLimit: 1,
        instanceInitiatedShutdownBehavior: ec2.InstanceInitiatedShutdownBehavior.TERMINATE,
        blockDevices: [
          {
            deviceName: ami.rootDeviceName,
            volume: ec2.BlockDeviceVolume.ebs(config.rootVolumeSizeGiB, {
              volumeType: ec2.EbsDeviceVolumeType.GP3,
              encrypted: true,
              kmsKey: props.ebsEncryptionKey,
              deleteOnTermination: true,
            }),
          },
        ],
      });
      // Instant fleets tag only instances: the launch template tags the volumes (and instances) too.
      Tags.of(template).add(INSTANCE_TAGS.owner, props.ownerTag);
      Tags.of(template).add(INSTANCE_TAGS.config, config.name);
      // The baked AMI's parameter is created by the image construct: it must exist first.
      if (props.bakedAmiParameterCreated !== undefined && config.ami.isBaked) {
        template.node.addDependency(props.bakedAmiParameterCreated(config.architecture));
      }
      this.launchTemplates[config.name] = template;
    }
  }

  /**
   * Allows a principal (the control plane) to launch runners from these launch templates with
   * CreateFleet or RunInstances, tag them at launch, pass the runner role, and everything
   * {@link grantReap} allows (describe instances, terminate those of this deployment).
   */
  public grantLaunch(grantee: iam.IGrantable): void {
    const statements = [
      // CreateFleet cannot launch without a launch template, and the templates it may use are this
      // deployment's (LaunchFromOwnTemplates). The instances it launches are authorized as RunInstances,
      // which may only launch from those templates: their IMDSv2, security group, instance profile,
      // shutdown behaviour and encrypted volumes come with every instance.
      new iam.PolicyStatement({
        sid: 'CreateFleetOwnedInstances',
        actions: ['ec2:CreateFleet'],
        resources: [arn('ec2', 'instance/*')],
        conditions: { StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.owner}`]: this.ownerTag } },
      }),
      new iam.PolicyStatement({
        sid: 'RunOwnedInstancesFromOwnTemplates',
        actions: ['ec2:RunInstances'],
        resources: [arn('ec2', 'instance/*')],
        conditions: {
          StringEquals: { [`aws:RequestTag/${INSTANCE_TAGS.owner}`]: this.ownerTag },
          ArnEquals: { 'ec2:LaunchTemplate': this.launchTemplateArns() },
        },
      }),
      new iam.PolicyStatement({
        sid: 'LaunchFromOwnTemplates',
        actions: ['ec2:CreateFleet', 'ec2:RunInstances'],
        resources: [
          ...Object.values(this.launchTemplates).map((t) =>
            arn('ec2', `launch-template/${t.launchTemplateId}`),
          ),
          arn('ec2', `security-group/${this.securityGroup.securityGroupId}`),
          ...(Token.isUnresolved(this.subnetIds)
            ? []
            : this.subnetIds.map((id) => arn('ec2', `subnet/${id}`))),
          arn('ec2', 'fleet/*'),
          arn('ec2', 'volume/*'),
          arn('ec2', 'network-interface/*'),
          arn('ec2', 'spot-instances-request/*'),
          ...this.fixedImageArns(),
          arn('ec2', 'snapshot/*', ''),
        ],
      }),
      ...this.subnetListStatements(),
      ...this.imageStatements(),
      new iam.PolicyStatement({
        sid: 'TagAtLaunch',
        actions: ['ec2:CreateTags'],
        resources: [
          'instance/*',
          'volume/*',
          'network-interface/*',
          'fleet/*',
          'spot-instances-request/*',
        ].map((r) => arn('ec2', r)),
        conditions: { StringEquals: { 'ec2:CreateAction': ['CreateFleet', 'RunInstances'] } },
      }),
      ...this.reapStatements(),
      new iam.PolicyStatement({
        sid: 'PassRunnerRole',
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      }),
      // An instant fleet needs no AWSServiceRoleForEC2Fleet (EC2 Fleet prerequisites); spot needs this one.
      new iam.PolicyStatement({
        sid: 'CreateSpotServiceLinkedRole',
        actions: ['iam:CreateServiceLinkedRole'],
        resources: [spotServiceLinkedRoleArn()],
        conditions: { StringEquals: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
      }),
    ];
    if (this.amiParameterArns.length > 0) {
      // EC2 reads the AMI parameter of a `resolve:ssm:` image id with the launching principal's rights.
      statements.push(
        new iam.PolicyStatement({
          sid: 'ResolveAmiParameters',
          actions: ['ssm:GetParameters'],
          resources: this.amiParameterArns,
        }),
      );
    }
    statements.forEach((s) => grantee.grantPrincipal.addToPrincipalPolicy(s));
    if (this.ebsEncryptionKey) grantEbsKeyUse(this.ebsEncryptionKey, grantee);
    acknowledgeLaunchWildcards(grantee.grantPrincipal, this.images.some(isResolvedAtLaunch));
    if (Token.isUnresolved(this.subnetIds) && Construct.isConstruct(grantee.grantPrincipal))
      acknowledge(grantee.grantPrincipal, {
        id: iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:subnet/*'),
        reason:
          "The subnets are a CloudFormation list parameter, whose ARNs IAM cannot list among other resources: any subnet of the runners' VPC (ec2:Vpc), which holds them.",
      });
  }

  /**
   * Subnets given as one list token (a CloudFormation list parameter): IAM cannot list their ARNs among
   * other resources (and `Fn::Join` takes no token delimiter), so the statement names any subnet of the
   * runners' VPC (`ec2:Vpc`), where the subnets are.
   */
  private subnetListStatements(): iam.PolicyStatement[] {
    if (!Token.isUnresolved(this.subnetIds)) return [];
    return [
      new iam.PolicyStatement({
        sid: 'LaunchInOwnVpcSubnets',
        actions: ['ec2:CreateFleet', 'ec2:RunInstances'],
        resources: [arn('ec2', 'subnet/*')],
        conditions: { ArnEquals: { 'ec2:Vpc': arn('ec2', `vpc/${this.vpcId}`) } },
      }),
    ];
  }

  private launchTemplateArns(): string[] {
    return Object.values(this.launchTemplates).map((t) =>
      arn('ec2', `launch-template/${t.launchTemplateId}`),
    );
  }

  /** The fixed AMIs of the configs, by ARN. */
  private fixedImageArns(): string[] {
    const ids = this.images.filter((i) => !isResolvedAtLaunch(i)).map((i) => i.imageId);
    return [...new Set(ids)].map((id) => arn('ec2', `image/${id}`, ''));
  }

  /**
   * The AMIs an SSM parameter names at launch cannot be listed: the baked ones are the account's own
   * (`ec2:Owner`); one of a parameter of the user's may be anyone's, so then any image is allowed.
   */
  private imageStatements(): iam.PolicyStatement[] {
    const resolved = this.images.filter(isResolvedAtLaunch);
    if (resolved.length === 0) return [];
    const onlyOwn = resolved.every((i) => i.ownImage === true);
    const images = [arn('ec2', 'image/*', '')];
    if (!onlyOwn)
      return [
        new iam.PolicyStatement({
          sid: 'LaunchParameterImages',
          actions: ['ec2:CreateFleet', 'ec2:RunInstances'],
          resources: images,
        }),
      ];
    return [
      new iam.PolicyStatement({ sid: 'FleetImages', actions: ['ec2:CreateFleet'], resources: images }),
      new iam.PolicyStatement({
        sid: 'RunOwnImages',
        actions: ['ec2:RunInstances'],
        resources: images,
        conditions: { StringEquals: { 'ec2:Owner': Aws.ACCOUNT_ID } },
      }),
    ];
  }

  /**
   * Allows a principal (the reconciler) to describe instances and to terminate the instances of this
   * deployment only (those carrying its owner tag); it cannot launch, tag or pass a role.
   */
  public grantReap(grantee: iam.IGrantable): void {
    this.reapStatements().forEach((s) => grantee.grantPrincipal.addToPrincipalPolicy(s));
    acknowledgeReapWildcards(grantee.grantPrincipal);
  }

  /** What launching and reaping share: terminate owned instances, describe any. */
  private reapStatements(): iam.PolicyStatement[] {
    return [
      new iam.PolicyStatement({
        sid: 'TerminateOwnedInstances',
        actions: ['ec2:TerminateInstances'],
        resources: [arn('ec2', 'instance/*')],
        conditions: { StringEquals: { [`ec2:ResourceTag/${INSTANCE_TAGS.owner}`]: this.ownerTag } },
      }),
      new iam.PolicyStatement({
        sid: 'DescribeInstances',
        actions: ['ec2:DescribeInstances'],
        resources: ['*'],
      }),
    ];
  }
}

const iam5Resource = (r: string): string => `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:${r}]`;
const INSTANCE_WILDCARD = iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:instance/*');
const DESCRIBE_WILDCARD = 'AwsSolutions-IAM5[Resource::*]';
const DESCRIBE_REASON = 'ec2:DescribeInstances supports no resource-level permissions.';

/** Whether an AMI is named by an SSM parameter, resolved at each launch. */
function isResolvedAtLaunch(ami: RunnerAmiConfig): boolean {
  return ami.imageId.startsWith('resolve:ssm:');
}

/** The wildcards of {@link RunnerFleet.grantLaunch}, each with why it is there. */
function acknowledgeLaunchWildcards(principal: iam.IPrincipal, imageWildcard: boolean): void {
  if (!Construct.isConstruct(principal)) return;
  const acks: Array<[string, string]> = [
    [
      INSTANCE_WILDCARD,
      'Instance ids are not known before launch; launching requires the owner tag in the request (aws:RequestTag), tagging is only allowed at launch (ec2:CreateAction), terminating requires the owner tag on the instance (ec2:ResourceTag).',
    ],
    [
      iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:fleet/*'),
      'The id of an instant fleet is created by the CreateFleet call itself.',
    ],
    [
      iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:volume/*'),
      'Root volumes are created by the launch; their ids are not known before it.',
    ],
    [
      iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:network-interface/*'),
      'Network interfaces are created by the launch; their ids are not known before it.',
    ],
    [
      iam5Resource('ec2:<AWS::Region>:<AWS::AccountId>:spot-instances-request/*'),
      'Spot requests are created by the launch; their ids are not known before it.',
    ],
    ...(imageWildcard
      ? ([
          [
            iam5Resource('ec2:<AWS::Region>::image/*'),
            'The AMI is resolved at launch from an SSM parameter (a newly baked AMI is used without a redeploy); baked AMIs are limited to the account own (ec2:Owner).',
          ],
        ] as Array<[string, string]>)
      : []),
    [
      iam5Resource('ec2:<AWS::Region>::snapshot/*'),
      'The snapshots behind the AMI change with each baked AMI.',
    ],
    [DESCRIBE_WILDCARD, DESCRIBE_REASON],
  ];
  for (const [id, reason] of acks) acknowledge(principal, { id, reason });
}

/** The wildcards of {@link RunnerFleet.grantReap}, each with why it is there. */
function acknowledgeReapWildcards(principal: iam.IPrincipal): void {
  if (!Construct.isConstruct(principal)) return;
  const acks: Array<[string, string]> = [
    [
      INSTANCE_WILDCARD,
      'The instances to reap are found at run time; terminating requires the owner tag of this deployment on the instance (ec2:ResourceTag).',
    ],
    [DESCRIBE_WILDCARD, DESCRIBE_REASON],
  ];
  for (const [id, reason] of acks) acknowledge(principal, { id, reason });
}

/** A VPC with public subnets only and no NAT gateway: nothing costs money while idle. */
export function defaultRunnerVpc(
  scope: Construct,
  id: string,
  options: { lambdaSubnets?: boolean } = {},
): ec2.Vpc {
  const vpc = new ec2.Vpc(scope, id, {
    maxAzs: 3,
    natGateways: 0,
    subnetConfiguration: [
      { name: 'Runners', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 },
      // Lambdas in the VPC: isolated subnets (free); they reach the AWS APIs through endpoints.
      ...(options.lambdaSubnets
        ? [{ name: 'Lambdas', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }]
        : []),
    ],
    // No custom resource to empty the default security group: nothing here uses it.
    restrictDefaultSecurityGroup: false,
    // Free, and keeps the runners' DynamoDB traffic (the JIT handoff) off the internet.
    gatewayEndpoints: { DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB } },
  });
  acknowledge(vpc, {
    id: 'AwsSolutions-VPC7',
    reason:
      'Flow logs cost per GB ingested and the runners accept no inbound traffic; bring your own VPC with flow logs if you need them.',
  });
  return vpc;
}

/**
 * The runners' subnets in a VPC, and whether they are public (runners then need a public IP). Throws
 * when the selection is empty or mixes public and private subnets.
 */
export function runnerSubnets(
  vpc: ec2.IVpc,
  selection: ec2.SubnetSelection | undefined,
  where: string,
): { subnetIds: string[]; public: boolean } {
  const selected = vpc.selectSubnets(selection);
  if (selected.subnetIds.length === 0)
    throw new Error(`${where}: subnetSelection selects no subnet of the VPC; select the runners' subnets`);
  const publicIds = new Set(vpc.publicSubnets.map((s) => s.subnetId));
  const publicCount = selected.subnetIds.filter((id) => publicIds.has(id)).length;
  if (publicCount > 0 && publicCount < selected.subnetIds.length)
    throw new Error(
      `${where}: subnetSelection mixes public and private subnets; select one type (public subnets give runners a public IP)`,
    );
  return { subnetIds: selected.subnetIds, public: publicCount > 0 };
}
