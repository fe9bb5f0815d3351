/**
 * The public endpoint GitHub delivers `workflow_job` webhooks to: an HTTP API with one route,
 * `POST /webhook`, in front of the webhook Lambda.
 */
import {} from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge } from './acknowledge';

/** Path of the webhook route. */
export const WEBHOOK_PATH = '/webhook';

/** Props of {@link WebhookApi}. */
export interface WebhookApiProps {
  /** The function that answers deliveries. */
  readonly handler: lambda.IFunction;
  /** Throttling of the stage: a guard against floods; a throttled delivery is answered 429 and GitHub does not resend it. */
  readonly throttle: apigwv2.ThrottleSettings;
  /** How long access logs are kept. */
  readonly logRetention: logs.RetentionDays;
  /**
   * A customer-managed key for the access logs.
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
}

/** HTTP API with access logging and throttling, routing `POST /webhook` to the webhook Lambda. */
export class WebhookApi extends Construct {
  /** The HTTP API. */
  public readonly api: apigwv2.HttpApi;
  /** The `$default` stage. */
  public readonly stage: apigwv2.HttpStage;
  /** The URL to give the GitHub App as its webhook URL. */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: WebhookApiProps) {
    super(scope, id);
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Receives the workflow_job webhooks of the GitHub App (cdk-ephemeral-runners)',
      createDefaultStage: false,
    });
    const route = this.api.addRoutes({
      path: WEBHOOK_PATH,
      methods: [apigwv2.HttpMethod.POST],
      integration: new HttpLambdaIntegration('Webhook', props.handler),
    });
    for (const r of route) {
      acknowledge(r, {
        id: 'AwsSolutions-APIG4',
        reason:
          'GitHub cannot sign requests for IAM, Cognito or JWT authorizers; every delivery carries an HMAC-SHA256 signature (X-Hub-Signature-256) of its body with the webhook secret, which the handler verifies before acting.',
      });
    }
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    this.stage = new apigwv2.HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            userAgent: '$context.identity.userAgent',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    });
    this.url = `${this.api.apiEndpoint}${WEBHOOK_PATH}`;
  }
}
