/**
 * The stack of the standalone CloudFormation template (`dist/cloudformation/`): the same
 * `EphemeralRunners` construct as the CDK app, its inputs taken from CloudFormation parameters, and
 * synthesized by {@link StandaloneSynthesizer} so that it needs no CDK bootstrap.
 */
import { App, Aws, CfnCondition, CfnOutput, CfnParameter, Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { SpotStrategy } from '../../lambda/core/runner-config';
import { EphemeralRunners } from '../ephemeral-runners';
import { GitHubSecret, type RunnerScope } from '../github-app';
import type { RunnerConfigProps } from '../runner-configs';
import { WebhookEndpoint } from '../webhook-endpoint';
import { networkParameters, runnerConfigParameters, standaloneRules } from './standalone-parameters';
import { DEFAULT_MODE, type StandaloneMode } from './standalone-modes';
import { StandaloneSynthesizer } from './standalone-synthesizer';
import { acknowledge } from '../acknowledge';

/** The template's file name in `dist/cloudformation/`. */
export const STANDALONE_TEMPLATE_FILE = 'ephemeral-runners.template.json';

/**
 * The standalone stack in one mode: parameters, the generated webhook secret (when none is named), the
 * runners. bin/standalone-template.mjs synthesizes every mode and merges them into the one template.
 */
export class StandaloneRunnersStack extends Stack {
  /** The runners. */
  public readonly runners: EphemeralRunners;

  constructor(
    scope: App,
    id: string,
    synthesizer: StandaloneSynthesizer = new StandaloneSynthesizer(),
    mode: StandaloneMode = DEFAULT_MODE,
  ) {
    super(scope, id, {
      synthesizer,
      description:
        'Ephemeral GitHub Actions runners on EC2 spot (cdk-ephemeral-runners, standalone template)',
      analyticsReporting: false,
    });
    const param = (name: string, props: ConstructorParameters<typeof CfnParameter>[2]) =>
      new CfnParameter(this, name, props);
    const url = param('GitHubUrl', {
      type: 'String',
      description:
        'https://github.com, or the base URL of your GitHub Enterprise Server (such as https://ghes.corp.example)',
      default: 'https://github.com',
      allowedPattern: '^https?://[^/\\s]+(/[^\\s]*)?$',
      constraintDescription: 'an http(s) URL',
    });
    const appId = param('GitHubAppId', {
      type: 'String',
      description: "The GitHub App's numeric id (its settings page shows it)",
      allowedPattern: '^[1-9][0-9]*$',
      constraintDescription: 'a positive integer',
    });
    const privateKey = param('GitHubPrivateKeySecretName', {
      type: 'String',
      description: "Name of the Secrets Manager secret holding the GitHub App's private key (PEM)",
      allowedPattern: '^[A-Za-z0-9/_+=.@-]{1,512}$',
      constraintDescription: 'a Secrets Manager secret name',
    });
    const webhookSecretName = param('WebhookSecretName', {
      type: 'String',
      description:
        "Name of the Secrets Manager secret holding the App's webhook secret; empty: one is generated, named {stack name}-webhook-secret (copy its value into the App's settings)",
      default: '',
      allowedPattern: '^[A-Za-z0-9/_+=.@-]{0,512}$',
      constraintDescription: 'empty, or a Secrets Manager secret name',
    });
    const runnerScope = param('RunnerScope', {
      type: 'String',
      description: 'Where runners register: org (organization runners) or repo (repository runners)',
      default: 'org',
      allowedValues: ['org', 'repo'],
    });
    const runnerGroupId = param('RunnerGroupId', {
      type: 'Number',
      description: 'Runner group id of organization runners (1 is the default group)',
      default: 1,
      minValue: 1,
    });
    const allowedOwners = param('AllowedOwners', {
      type: 'CommaDelimitedList',
      description:
        'Organizations or users whose repositories may use the runners, comma-separated; empty: every repository the App is installed on',
      default: '',
      allowedPattern: '^[A-Za-z0-9-]{0,39}$',
      constraintDescription: 'GitHub logins (letters, digits, -), comma-separated',
    });
    // Reported on the stack (it is about the Parameters section), so acknowledged there.
    acknowledge(this, {
      id: 'CloudFormation-Validate::W2509',
      reason: 'The secret parameters hold names of secrets, not secrets: NoEcho would only hide a name.',
    });

    const generate = new CfnCondition(this, 'GenerateWebhookSecret', {
      expression: Fn.conditionEquals(webhookSecretName.valueAsString, ''),
    });
    const generatedName = `${Aws.STACK_NAME}-webhook-secret`;
    const generated = new secretsmanager.Secret(this, 'GeneratedWebhookSecret', {
      secretName: generatedName,
      description: 'Webhook secret of the GitHub App (cdk-ephemeral-runners): copy it into the App settings',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });
    (generated.node.defaultChild as secretsmanager.CfnSecret).cfnOptions.condition = generate;
    acknowledge(generated, {
      id: 'AwsSolutions-SMG4',
      reason:
        'A webhook secret must change in GitHub and here together; the handlers accept the previous one for 15 minutes after a rotation (see the README).',
    });
    const webhookSecret = Fn.conditionIf(
      generate.logicalId,
      generatedName,
      webhookSecretName.valueAsString,
    ).toString();

    const network = networkParameters(this);
    const configParameters = runnerConfigParameters(this);
    standaloneRules(this);
    acknowledge(this, {
      id: 'CloudFormation-Validate::W2001',
      reason:
        'Every mode declares every Parameter of the merged template; a mode uses those of its choices only (SubnetsArePublic only in the merged Conditions).',
    });
    const runnerConfigs: RunnerConfigProps[] = configParameters
      .filter((c) => mode[c.architecture])
      .map((c) => ({
        name: `linux-${c.architecture}`,
        labels: c.labels.valueAsList,
        // The list parameter is one list token: CloudFormation gives the list.
        instanceTypes: [new ec2.InstanceType(c.instanceTypes.valueAsList[0])],
        architecture: c.architecture,
        spotStrategy: c.spotStrategy.valueAsString as SpotStrategy,
      }));
    // An existing VPC: the runners' subnets public or private as the mode says; the Lambdas and the
    // execute-api endpoint in its private subnets. A created one is the construct's own.
    const az = Fn.select(0, Fn.getAzs());
    const vpc =
      mode.vpc === 'created'
        ? undefined
        : ec2.Vpc.fromVpcAttributes(this, 'ExistingVpc', {
            vpcId: network.vpcId.valueAsString,
            availabilityZones: [az],
            ...(mode.vpc === 'existingPublicSubnets'
              ? { publicSubnetIds: network.subnetIds.valueAsList }
              : { privateSubnetIds: network.subnetIds.valueAsList }),
          });
    const privateSubnets: ec2.SubnetSelection | undefined =
      mode.lambdasInVpc || mode.privateEndpoint
        ? {
            subnets: [
              // One list token: the subnet "id" is the whole list, which is what a selection gives on.
              ec2.Subnet.fromSubnetAttributes(this, 'PrivateSubnets', {
                subnetId: network.privateSubnetIds.valueAsList[0],
                availabilityZone: az,
              }),
            ],
          }
        : undefined;

    this.runners = new EphemeralRunners(this, 'Runners', {
      vpc,
      // The Lambdas reach the AWS APIs through the VPC's own egress or endpoints.
      lambdaVpc: mode.lambdasInVpc ? { subnetSelection: privateSubnets, endpoints: [] } : undefined,
      webhookEndpoint: mode.privateEndpoint
        ? WebhookEndpoint.privateRestApi({
            subnetSelection: privateSubnets,
            clientCidrs: [network.webhookClientCidr.valueAsString],
          })
        : undefined,
      github: {
        url: url.valueAsString,
        appId: appId.valueAsString,
        privateKey: GitHubSecret.fromSecretName(privateKey.valueAsString),
        webhookSecret: GitHubSecret.fromSecretName(webhookSecret),
        runnerScope: runnerScope.valueAsString as RunnerScope,
        runnerGroupId: runnerGroupId.valueAsNumber,
      },
      allowedOwners: allowedOwners.valueAsList,
      runnerConfigs,
    });
    const endpointGroup = this.runners.node
      .tryFindChild('WebhookPrivateApi')
      ?.node.tryFindChild('ExecuteApiEndpoint')
      ?.node.tryFindChild('SecurityGroup');
    if (endpointGroup)
      acknowledge(endpointGroup, {
        id: 'AwsSolutions-EC23',
        reason:
          'The one range admitted (port 443 only) is the WebhookClientCidr parameter, an IPv4 CIDR by its AllowedPattern and required by a Rule for the private endpoint; cdk-nag cannot read a parameter.',
      });
    const output = new CfnOutput(this, 'GeneratedWebhookSecretName', {
      value: generatedName,
      description: 'The generated webhook secret: copy its value into the GitHub App settings',
    });
    output.condition = generate;
    // The stock AMIs' public SSM parameters that CDK adds: described too (their type is their constraint).
    for (const child of this.node.children)
      if (
        child instanceof CfnParameter &&
        child.description === undefined &&
        child.type.startsWith('AWS::SSM::')
      )
        child.description = `Public SSM parameter of the stock Ubuntu AMI the runners boot before their first baked image (default: ${String(child.default)})`;
  }
}
