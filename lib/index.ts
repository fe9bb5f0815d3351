/**
 * cdk-ephemeral-runners: AWS CDK constructs for ephemeral, just-in-time GitHub Actions runners on EC2 spot.
 */
export { EphemeralRunners, type EphemeralRunnersProps } from './ephemeral-runners';
export {
  GitHubSecret,
  type BoundGitHubSecret,
  type GitHubProps,
  type RunnerScope,
  type SsmSecretOptions,
} from './github-app';
export { InterruptionRules, type BindingLabelsProps, type SpotCircuitBreakerProps } from './interruptions';
export { RunnerAmi, type CustomAmiOptions, type RunnerAmiConfig } from './runner-ami';
export { DEFAULT_RUNNER_CONFIG, SELF_HOSTED_LABEL, type RunnerConfigProps } from './runner-configs';
export {
  RunnerImage,
  RunnerPackage,
  RunnerImageComponent,
  DEFAULT_RUNNER_RELEASE,
  type RunnerImageOptions,
  type RunnerImageProps,
  type UbuntuVersion,
} from './runner-image';
export type { RunnerArchitecture, SpotStrategy, StoredRunnerConfig } from '../lambda/core/runner-config';
export {
  LambdaEndpoint,
  LambdaNetwork,
  type LambdaNetworkProps,
  type LambdaProxyOptions,
  type LambdaVpcOptions,
} from './lambda-network';
export { WebhookEndpoint, type PublicWebhookOptions } from './webhook-endpoint';
export {
  WebhookPrivateApi,
  type PrivateWebhookOptions,
  type WebhookPrivateApiProps,
} from './webhook-private-api';
