/**
 * The standalone template's Parameters for the network and the runner configs, and the Rules that
 * refuse combinations that cannot work, each with a message naming the Parameter to fix.
 */
import { CfnParameter, CfnRule, Fn, type Stack } from 'aws-cdk-lib';
import type { RunnerArchitecture } from '../../lambda/core/runner-config';
import { MODE_PARAMETERS } from './standalone-modes';

const SUBNET_ID = '^(subnet-[0-9a-f]{8,17})?$';

/** The network Parameters. */
export interface NetworkParameters {
  readonly vpcId: CfnParameter;
  readonly subnetIds: CfnParameter;
  readonly subnetsArePublic: CfnParameter;
  readonly privateSubnetIds: CfnParameter;
  readonly lambdasInVpc: CfnParameter;
  readonly webhookEndpoint: CfnParameter;
  readonly webhookClientCidr: CfnParameter;
}

/** Declares the network Parameters. */
export function networkParameters(stack: Stack): NetworkParameters {
  return {
    vpcId: new CfnParameter(stack, MODE_PARAMETERS.vpcId, {
      type: 'String',
      description:
        'An existing VPC for the runners (and the Lambdas, the private endpoint); empty: the stack creates one with public subnets and no NAT gateway (nothing billed while idle)',
      default: '',
      allowedPattern: '^(vpc-[0-9a-f]{8,17})?$',
      constraintDescription: 'empty, or a VPC id (vpc-...)',
    }),
    subnetIds: new CfnParameter(stack, 'SubnetIds', {
      type: 'CommaDelimitedList',
      description:
        'With VpcId: the subnets of the runners and the image builds, comma-separated, all public or all private (SubnetsArePublic); empty without VpcId',
      default: '',
      allowedPattern: SUBNET_ID,
      constraintDescription: 'subnet ids (subnet-...), comma-separated',
    }),
    subnetsArePublic: new CfnParameter(stack, MODE_PARAMETERS.subnetsArePublic, {
      type: 'String',
      description:
        'With VpcId: true when SubnetIds are public (runners get a public IPv4 address), false when private (they need a NAT gateway, transit gateway or proxy to reach GitHub); ignored for a created VPC',
      default: 'true',
      allowedValues: ['true', 'false'],
    }),
    privateSubnetIds: new CfnParameter(stack, 'PrivateSubnetIds', {
      type: 'CommaDelimitedList',
      description:
        'With VpcId, when LambdasInVpc is true or WebhookEndpoint is private: private subnets of the VPC for the Lambdas and the execute-api endpoint, comma-separated (they may be SubnetIds when those are private; at most one per Availability Zone, as the endpoint takes one per zone)',
      default: '',
      allowedPattern: SUBNET_ID,
      constraintDescription: 'subnet ids (subnet-...), comma-separated',
    }),
    lambdasInVpc: new CfnParameter(stack, MODE_PARAMETERS.lambdasInVpc, {
      type: 'String',
      description:
        "true: every Lambda runs in PrivateSubnetIds (to reach a GitHub Enterprise Server on your network); they reach the AWS APIs (DynamoDB, EC2, SSM, Secrets Manager) through the VPC's egress or its endpoints. Needs VpcId",
      default: 'false',
      allowedValues: ['false', 'true'],
    }),
    webhookEndpoint: new CfnParameter(stack, MODE_PARAMETERS.webhookEndpoint, {
      type: 'String',
      description:
        'public: an HTTP API on the internet (nothing billed while idle); private: a private REST API behind an execute-api endpoint in PrivateSubnetIds (about $7.30 a month per subnet), for a GitHub Enterprise Server that cannot reach the internet. private needs VpcId',
      default: 'public',
      allowedValues: ['public', 'private'],
    }),
    webhookClientCidr: new CfnParameter(stack, 'WebhookClientCidr', {
      type: 'String',
      description:
        'With the private WebhookEndpoint: the address range GitHub Enterprise Server delivers from, as the VPC sees it, admitted on port 443 by the endpoint',
      default: '',
      allowedPattern:
        '^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}/([0-9]|[12][0-9]|3[0-2]))?$',
      constraintDescription: 'empty, or an IPv4 CIDR range such as 10.20.0.0/16',
    }),
  };
}

/** The Parameters of one runner config. */
export interface RunnerConfigParameters {
  readonly architecture: RunnerArchitecture;
  readonly instanceTypes: CfnParameter;
  readonly labels: CfnParameter;
  readonly spotStrategy: CfnParameter;
}

const CONFIG_DEFAULTS: Record<RunnerArchitecture, { prefix: string; types: string; labels: string }> = {
  x64: { prefix: 'X64', types: 'm7i.large,m6i.large,m5.large,c7i.large', labels: 'linux,x64' },
  arm64: { prefix: 'Arm64', types: 'm7g.large,m6g.large,c7g.large,c6g.large', labels: 'linux,arm64' },
};

/** Declares the Parameters of the x64 and the arm64 config. */
export function runnerConfigParameters(stack: Stack): RunnerConfigParameters[] {
  return (['x64', 'arm64'] as const).map((architecture) => {
    const d = CONFIG_DEFAULTS[architecture];
    const name = `linux-${architecture}`;
    return {
      architecture,
      instanceTypes: new CfnParameter(stack, `${d.prefix}InstanceTypes`, {
        type: 'CommaDelimitedList',
        description: `Instance types of the ${architecture} runners (config ${name}), most preferred first, comma-separated; empty: no ${architecture} runners. Changed later in the config's SSM parameter`,
        default: d.types,
        allowedPattern: '^([a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[a-z0-9-]+)?$',
        constraintDescription: `${architecture} instance type names such as ${d.types.split(',')[0]}, comma-separated`,
      }),
      labels: new CfnParameter(stack, `${d.prefix}Labels`, {
        type: 'CommaDelimitedList',
        description: `Labels of the ${architecture} runners besides self-hosted (always added), comma-separated; a job runs on them when all its runs-on labels are among these`,
        default: d.labels,
        // No empty label, no self-hosted (added), nothing a JSON string would escape.
        allowedPattern: '^(?![Ss][Ee][Ll][Ff]-[Hh][Oo][Ss][Tt][Ee][Dd]$)[^,\\s"\\\\]{1,256}$',
        constraintDescription:
          'labels of 1 to 256 characters without whitespace, quotes or backslashes, self-hosted left out',
      }),
      spotStrategy: new CfnParameter(stack, `${d.prefix}SpotStrategy`, {
        type: 'String',
        description: `How the ${architecture} runners' capacity is bought: spotPreferred (spot, on-demand when spot has no capacity), spotOnly or onDemandOnly`,
        default: 'spotPreferred',
        allowedValues: ['spotPreferred', 'spotOnly', 'onDemandOnly'],
      }),
    };
  });
}

/** The Rules: combinations refused before anything is created, each naming what to change. */
export function standaloneRules(stack: Stack): void {
  const ref = (name: string) => Fn.ref(name);
  const existingVpc = Fn.conditionNot(Fn.conditionEquals(ref(MODE_PARAMETERS.vpcId), ''));
  const noEmptyMember = (name: string) =>
    Fn.conditionNot(Fn.conditionContains(Fn.ref(name) as unknown as string[], ''));
  const emptyList = (name: string) => Fn.conditionEachMemberEquals(Fn.ref(name) as unknown as string[], '');
  const rules: Array<
    [string, ReturnType<typeof Fn.conditionNot> | undefined, ReturnType<typeof Fn.conditionNot>, string]
  > = [
    [
      'ExistingVpcHasSubnets',
      existingVpc,
      noEmptyMember('SubnetIds'),
      "With VpcId, give SubnetIds: the runners' subnets in that VPC.",
    ],
    [
      'CreatedVpcTakesNoSubnets',
      Fn.conditionEquals(ref(MODE_PARAMETERS.vpcId), ''),
      Fn.conditionAnd(emptyList('SubnetIds'), emptyList('PrivateSubnetIds')),
      'SubnetIds and PrivateSubnetIds name subnets of VpcId: give VpcId too, or leave them empty for a created VPC.',
    ],
    [
      'LambdasInVpcNeedsVpc',
      Fn.conditionEquals(ref(MODE_PARAMETERS.lambdasInVpc), 'true'),
      Fn.conditionAnd(existingVpc, noEmptyMember('PrivateSubnetIds')),
      'LambdasInVpc true needs VpcId and PrivateSubnetIds: the private subnets that reach your GitHub and the AWS APIs.',
    ],
    [
      'PrivateEndpointNeedsVpc',
      Fn.conditionEquals(ref(MODE_PARAMETERS.webhookEndpoint), 'private'),
      Fn.conditionAnd(
        existingVpc,
        noEmptyMember('PrivateSubnetIds'),
        Fn.conditionNot(Fn.conditionEquals(ref('WebhookClientCidr'), '')),
      ),
      'WebhookEndpoint private needs VpcId, PrivateSubnetIds (where the execute-api endpoint goes) and WebhookClientCidr (where GitHub Enterprise Server delivers from).',
    ],
    [
      'SomeRunnerConfig',
      undefined,
      Fn.conditionNot(
        Fn.conditionAnd(
          emptyList(MODE_PARAMETERS.x64InstanceTypes),
          emptyList(MODE_PARAMETERS.arm64InstanceTypes),
        ),
      ),
      'Give X64InstanceTypes or Arm64InstanceTypes (or both): with neither there are no runners.',
    ],
  ];
  for (const [id, ruleCondition, assert, assertDescription] of rules)
    new CfnRule(stack, id, { ruleCondition, assertions: [{ assert, assertDescription }] });
}
