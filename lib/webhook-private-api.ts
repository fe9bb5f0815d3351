/**
 * The webhook endpoint for a GitHub Enterprise Server that cannot reach the internet: an API Gateway
 * private REST API, reachable only through an `execute-api` interface endpoint in the VPC (its
 * resource policy admits that endpoint alone), in front of the webhook Lambda.
 */
import { Aws } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { WEBHOOK_PATH } from './webhook-api';
import { acknowledge as acknowledgeFinding } from './acknowledge';

/** How the private endpoint is reached. */
export interface PrivateWebhookOptions {
  /**
   * An `execute-api` interface endpoint of yours (one with private DNS often exists already). Its
   * security group must admit GHES on port 443.
   * @default - one is created in `subnetSelection` (about $7.30 a month per AZ), private DNS off so that
   * the VPC's calls to public APIs are not affected
   */
  readonly vpcEndpoint?: ec2.IInterfaceVpcEndpoint;
  /**
   * Subnets of the created endpoint.
   * @default - the Lambdas' subnets, else the VPC's private subnets (with egress, else isolated)
   */
  readonly subnetSelection?: ec2.SubnetSelection;
  /**
   * Source ranges admitted on port 443 by the created endpoint's security group: your GHES's
   * addresses as the VPC sees them.
   * @default - the VPC's CIDR block
   */
  readonly clientCidrs?: string[];
}

/** Props of {@link WebhookPrivateApi}. */
export interface WebhookPrivateApiProps extends PrivateWebhookOptions {
  readonly vpc: ec2.IVpc;
  readonly handler: lambda.IFunction;
  readonly throttle: { rateLimit?: number; burstLimit?: number };
  readonly logRetention: logs.RetentionDays;
  /** Subnets to default to (the Lambdas'). */
  readonly defaultSubnets?: ec2.SubnetSelection;
  /** A customer-managed key for the access logs. @default - CloudWatch Logs' own encryption */
  readonly logEncryptionKey?: kms.IKey;
}

/** The private REST API with its stage, access logs, resource policy and (created) VPC endpoint. */
export class WebhookPrivateApi extends Construct {
  /** The REST API. */
  public readonly api: apigateway.RestApi;
  /** The `execute-api` endpoint it is reached through. */
  public readonly vpcEndpoint: ec2.IInterfaceVpcEndpoint;
  /**
   * The URL to give the GitHub App: the Route 53 alias API Gateway keeps for an associated endpoint,
   * `https://{api id}-{vpce id}.execute-api.{region}.amazonaws.com/{stage}/webhook`. It resolves to the
   * endpoint's private addresses from anywhere, without private DNS and without a Host header.
   */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: WebhookPrivateApiProps) {
    super(scope, id);
    this.vpcEndpoint = props.vpcEndpoint ?? this.createEndpoint(props);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
    });
    this.api = new apigateway.RestApi(this, 'Api', {
      description: 'Receives the workflow_job webhooks of the GitHub App, privately (cdk-ephemeral-runners)',
      endpointConfiguration: { types: [apigateway.EndpointType.PRIVATE], vpcEndpoints: [this.vpcEndpoint] },
      policy: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            effect: iam.Effect.ALLOW,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { StringEquals: { 'aws:SourceVpce': this.vpcEndpoint.vpcEndpointId } },
          }),
          new iam.PolicyStatement({
            effect: iam.Effect.DENY,
            principals: [new iam.AnyPrincipal()],
            actions: ['execute-api:Invoke'],
            resources: ['execute-api:/*'],
            conditions: { StringNotEquals: { 'aws:SourceVpce': this.vpcEndpoint.vpcEndpointId } },
          }),
        ],
      }),
      // Access and error logs need the account's API Gateway logging role: created (and kept) here.
      cloudWatchRole: true,
      deployOptions: {
        stageName: 'github',
        throttlingRateLimit: props.throttle.rateLimit,
        throttlingBurstLimit: props.throttle.burstLimit,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            requestTime: '$context.requestTime',
            sourceIp: '$context.identity.sourceIp',
            vpceId: '$context.identity.vpceId',
            userAgent: '$context.identity.userAgent',
            resourcePath: '$context.resourcePath',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integration.error',
          }),
        ),
      },
    });
    const validator = this.api.addRequestValidator('SignedDeliveries', {
      requestValidatorName: 'signed-github-deliveries',
      validateRequestParameters: true,
      // No body model: GitHub's payload is checked by its signature, not a schema.
      validateRequestBody: true,
    });
    this.api.root
      .addResource(WEBHOOK_PATH.slice(1))
      .addMethod('POST', new apigateway.LambdaIntegration(props.handler), {
        // An unsigned request is refused before the Lambda runs; the Lambda verifies the signature.
        requestParameters: {
          'method.request.header.X-Hub-Signature-256': true,
          'method.request.header.X-GitHub-Event': true,
        },
        requestValidator: validator,
      });
    this.url = `https://${this.api.restApiId}-${this.vpcEndpoint.vpcEndpointId}.execute-api.${Aws.REGION}.${Aws.URL_SUFFIX}/${this.api.deploymentStage.stageName}${WEBHOOK_PATH}`;
    acknowledge(this.api);
  }

  private createEndpoint(props: WebhookPrivateApiProps): ec2.InterfaceVpcEndpoint {
    const selection = props.subnetSelection ?? props.defaultSubnets;
    const subnets =
      selection ??
      (props.vpc.privateSubnets.length > 0
        ? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }
        : { subnetType: ec2.SubnetType.PRIVATE_ISOLATED });
    const endpoint = new ec2.InterfaceVpcEndpoint(this, 'ExecuteApiEndpoint', {
      vpc: props.vpc,
      service: ec2.InterfaceVpcEndpointAwsService.APIGATEWAY,
      subnets,
      privateDnsEnabled: false,
      open: false,
    });
    for (const cidr of props.clientCidrs ?? [props.vpc.vpcCidrBlock])
      endpoint.connections.allowFrom(ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), 'GitHub webhook deliveries');
    return endpoint;
  }
}

function acknowledge(api: apigateway.RestApi): void {
  const acks: Array<[string, string]> = [
    [
      'AwsSolutions-APIG4',
      'GitHub cannot sign requests for IAM or Cognito authorizers; every delivery carries an HMAC-SHA256 signature (X-Hub-Signature-256), required by the request validator and verified by the handler before it acts. The resource policy admits only the VPC endpoint.',
    ],
    [
      'AwsSolutions-COG4',
      'GitHub cannot present Cognito tokens; deliveries are authenticated by their HMAC signature, and the API is private to one VPC endpoint.',
    ],
    [
      'AwsSolutions-APIG3',
      'A private API reachable only through one VPC endpoint, whose security group admits GHES alone; WAF would add $5 a month and more per rule for no reachable attacker.',
    ],
    [
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      "API Gateway's account logging role: the managed policy is the one AWS documents for it.",
    ],
  ];
  for (const [id, reason] of acks) acknowledgeFinding(api, { id, reason });
}
