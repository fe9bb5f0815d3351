/**
 * The default CDK app: one environment-agnostic stack, `EphemeralRunnersStack`, whose GitHub App settings
 * are CloudFormation parameters, so `cdk synth` needs no credentials and no context lookups.
 */
import { App, CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { EphemeralRunners, GitHubSecret } from '../lib';
import { acknowledge } from '../lib/acknowledge';

/** The default stack: x64 and arm64 Linux runners in a new public-subnet VPC. */
export class EphemeralRunnersStack extends Stack {
  /** The runners. */
  public readonly runners: EphemeralRunners;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, {
      description: 'Ephemeral GitHub Actions runners on EC2 spot (cdk-ephemeral-runners)',
      ...props,
    });
    const appId = new CfnParameter(this, 'GitHubAppId', {
      type: 'String',
      description: "The GitHub App's numeric id (its settings page shows it)",
      allowedPattern: '^[1-9][0-9]*$',
    });
    const privateKeySecretName = new CfnParameter(this, 'GitHubPrivateKeySecretName', {
      type: 'String',
      description: "Name of the Secrets Manager secret holding the GitHub App's private key (PEM)",
      minLength: 1,
    });
    // Reported on the stack (it is about the Parameters section), so acknowledged there.
    acknowledge(this, {
      id: 'CloudFormation-Validate::W2509',
      reason:
        'GitHubPrivateKeySecretName holds the name of the secret, not the secret: NoEcho would only hide a name.',
    });
    const url = new CfnParameter(this, 'GitHubUrl', {
      type: 'String',
      description: 'https://github.com, or the base URL of your GitHub Enterprise Server',
      default: 'https://github.com',
      allowedPattern: '^https?://.+',
    });
    this.runners = new EphemeralRunners(this, 'Runners', {
      github: {
        url: url.valueAsString,
        appId: appId.valueAsString,
        privateKey: GitHubSecret.fromSecretName(privateKeySecretName.valueAsString),
      },
      runnerConfigs: [
        {
          name: 'linux-x64',
          labels: ['linux', 'x64'],
          instanceTypes: ['m7i.large', 'm6i.large', 'm5.large', 'c7i.large'].map(
            (t) => new ec2.InstanceType(t),
          ),
        },
        {
          name: 'linux-arm64',
          labels: ['linux', 'arm64'],
          instanceTypes: ['m7g.large', 'm6g.large', 'c7g.large', 'c6g.large'].map(
            (t) => new ec2.InstanceType(t),
          ),
          architecture: 'arm64',
        },
      ],
    });
  }
}

if (require.main === module) {
  const app = new App();
  new EphemeralRunnersStack(app, 'EphemeralRunnersStack');
  app.synth();
}
