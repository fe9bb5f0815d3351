/**
 * Where the construct's Lambdas run: outside any VPC (the default, nothing billed while idle), or in
 * the runners' VPC (private subnets, a security group with no ingress, the VPC endpoints asked for),
 * and the HTTP(S) proxy their outbound calls go through. Every function built by `handlerFunction`
 * under an `EphemeralRunners` finds its network here: a Lambda added later follows without wiring.
 */
import { Annotations, Aws, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, IConstruct } from 'constructs';
import { acknowledge } from './acknowledge';

/** An AWS API the Lambdas reach through a VPC endpoint. */
export class LambdaEndpoint {
  /** DynamoDB (the state table), a gateway endpoint: free. */
  public static readonly DYNAMODB = new LambdaEndpoint('dynamodb', 'gateway');
  /** EC2 (launching and reaping runners), an interface endpoint: about $7.30 a month per AZ. */
  public static readonly EC2 = new LambdaEndpoint('ec2', 'interface');
  /** SSM Parameter Store (runner configs, secrets kept in SSM), an interface endpoint: about $7.30 a month per AZ. */
  public static readonly SSM = new LambdaEndpoint('ssm', 'interface');
  /** Secrets Manager (the App's private key, the webhook secret), an interface endpoint: about $7.30 a month per AZ. */
  public static readonly SECRETS_MANAGER = new LambdaEndpoint('secretsmanager', 'interface');
  /** STS, for code that assumes roles (the handlers do not), an interface endpoint: about $7.30 a month per AZ. */
  public static readonly STS = new LambdaEndpoint('sts', 'interface');
  /** CloudWatch Logs, for runners in the VPC without egress (Lambda logs do not go through the VPC), about $7.30 a month per AZ. */
  public static readonly CLOUDWATCH_LOGS = new LambdaEndpoint('logs', 'interface');
  /** What every handler calls besides GitHub: the gateway endpoint and the interface endpoints EC2, SSM, Secrets Manager. */
  public static readonly HANDLER_APIS = [
    LambdaEndpoint.DYNAMODB,
    LambdaEndpoint.EC2,
    LambdaEndpoint.SSM,
    LambdaEndpoint.SECRETS_MANAGER,
  ];

  private constructor(
    /** The service's endpoint prefix (`ec2` in `ec2.{region}.amazonaws.com`). */
    public readonly service: string,
    /** Gateway endpoints are free; interface endpoints are billed per hour and AZ. */
    public readonly kind: 'gateway' | 'interface',
  ) {}

  /** The service's regional host name. */
  public get hostName(): string {
    return `${this.service}.${Aws.REGION}.${Aws.URL_SUFFIX}`;
  }
}

/** Puts the Lambdas in the runners' VPC. */
export interface LambdaVpcOptions {
  /**
   * The Lambdas' subnets: private ones (Lambdas get no public IP, so a public subnet reaches nothing).
   * Their route to GitHub Enterprise Server (Direct Connect, VPN, peering, transit gateway) or to a
   * proxy is yours.
   * @default - the VPC's private subnets with egress, else its isolated subnets
   */
  readonly subnetSelection?: ec2.SubnetSelection;
  /**
   * VPC endpoints to create for the AWS APIs the handlers call, in the Lambdas' subnets. The DynamoDB
   * gateway endpoint is free; each interface endpoint costs about $7.30 a month per AZ (plus $0.01 per GB).
   * Without an interface endpoint, the API is reached through the VPC's own egress (NAT, transit
   * gateway) or the proxy. A route table can have one DynamoDB gateway endpoint: leave it out when your
   * VPC has one. `LambdaEndpoint.HANDLER_APIS` lists what a VPC without egress needs.
   * @default [LambdaEndpoint.DYNAMODB] (none more in the VPC this construct creates, which has it)
   */
  readonly endpoints?: LambdaEndpoint[];
}

/** An HTTP(S) proxy for the Lambdas' calls to GitHub and to the AWS APIs. */
export interface LambdaProxyOptions {
  /**
   * The proxy's URL, `http://host:port` (or `https://` for TLS to the proxy; `http://user:password@host:port`
   * puts the credentials in the functions' environment, so prefer a proxy that admits the Lambdas'
   * subnets). Set as `HTTPS_PROXY` and `HTTP_PROXY`; connections are `CONNECT` tunnels, so TLS runs end
   * to end and the extra CA certificates still apply.
   */
  readonly url: string;
  /**
   * Hosts reached directly (`NO_PROXY`): names (`.corp.example` or `corp.example` cover subdomains),
   * `host:port`, IP addresses and CIDR ranges. The hosts of the endpoints created here are added.
   * @default - only the endpoints' hosts
   */
  readonly noProxy?: string[];
}

/** Props of {@link LambdaNetwork}. */
export interface LambdaNetworkProps {
  /** The runners' VPC. */
  readonly vpc: ec2.IVpc;
  /** Whether the construct created `vpc` (it then has the DynamoDB gateway endpoint already). */
  readonly vpcCreatedHere: boolean;
  /** Put the Lambdas in the VPC. @default - outside any VPC */
  readonly inVpc?: LambdaVpcOptions;
  /** The proxy of their outbound calls. @default - none */
  readonly proxy?: LambdaProxyOptions;
}

/** The id under which the network sits in the `EphemeralRunners` construct. */
const NETWORK_ID = 'LambdaNetwork';

/** The Lambdas' network: VPC placement, security group, endpoints, proxy environment. */
export class LambdaNetwork extends Construct {
  /** The network of the nearest `EphemeralRunners` above `scope`, if it has one. */
  public static find(scope: IConstruct): LambdaNetwork | undefined {
    for (const s of [...scope.node.scopes].reverse()) {
      const found = s.node.tryFindChild(NETWORK_ID);
      if (found instanceof LambdaNetwork) return found;
    }
    return undefined;
  }

  /** Creates the network of `scope` (an `EphemeralRunners`), where `handlerFunction` finds it. */
  public static create(scope: Construct, props: LambdaNetworkProps): LambdaNetwork {
    return new LambdaNetwork(scope, NETWORK_ID, props);
  }

  /** The Lambdas' security group (no ingress), when they are in the VPC. */
  public readonly securityGroup?: ec2.SecurityGroup;
  /** The Lambdas' subnets, when they are in the VPC. */
  public readonly subnets?: ec2.SelectedSubnets;
  /** The interface endpoints created, by service. */
  public readonly interfaceEndpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};
  /** The proxy environment of every function. */
  public readonly environment: Record<string, string> = {};
  private readonly vpc: ec2.IVpc;

  private constructor(scope: Construct, id: string, props: LambdaNetworkProps) {
    super(scope, id);
    this.vpc = props.vpc;
    const bypass: string[] = [];
    if (props.inVpc) {
      this.subnets = lambdaSubnets(props.vpc, props.inVpc.subnetSelection, scope.node.path);
      this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
        vpc: props.vpc,
        description: 'cdk-ephemeral-runners Lambdas: no ingress, all egress (GitHub, AWS APIs, the proxy)',
        allowAllOutbound: true,
      });
      const endpoints = props.inVpc.endpoints ?? [LambdaEndpoint.DYNAMODB];
      for (const endpoint of new Set(endpoints)) {
        bypass.push(endpoint.hostName);
        if (endpoint.kind === 'gateway') {
          if (!props.vpcCreatedHere)
            new ec2.GatewayVpcEndpoint(this, 'DynamoDbEndpoint', {
              vpc: props.vpc,
              service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
              subnets: [{ subnets: this.subnets.subnets }],
            });
          continue;
        }
        const vpce = new ec2.InterfaceVpcEndpoint(this, `Endpoint-${endpoint.service}`, {
          vpc: props.vpc,
          service: new ec2.InterfaceVpcEndpointAwsService(endpoint.service),
          subnets: { subnets: this.subnets.subnets },
          privateDnsEnabled: true,
          open: false,
        });
        vpce.connections.allowFrom(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from cdk-ephemeral-runners');
        this.interfaceEndpoints[endpoint.service] = vpce;
      }
      if (props.vpcCreatedHere)
        Annotations.of(scope).addWarningV2(
          'cdk-ephemeral-runners:lambdasInCreatedVpc',
          'The Lambdas are in the isolated subnets of the VPC this construct creates: they reach the AWS APIs only through the endpoints, and GitHub only once you route the VPC to it (or to a proxy). Pass the vpc that reaches your GitHub Enterprise Server.',
        );
    }
    if (props.proxy) {
      const url = props.proxy.url;
      if (!Token.isUnresolved(url) && !/^https?:\/\/([^/@\s]+@)?[^/:@\s]+(:\d{1,5})?\/?$/.test(url))
        throw new Error(
          `EphemeralRunners ${scope.node.path}: proxy.url "${url.replace(/\/\/[^@/]*@/, '//***@')}" must be http://host:port or https://host:port`,
        );
      this.environment.HTTPS_PROXY = url;
      this.environment.HTTP_PROXY = url;
      const noProxy = [...bypass, ...(props.proxy.noProxy ?? [])];
      if (noProxy.length > 0) this.environment.NO_PROXY = noProxy.join(',');
    }
  }

  /**
   * The VPC settings of an `AwsCustomResource` of the construct (deploy-time calls), so that no Lambda of
   * the construct runs outside the VPC when the Lambdas are in it; none outside the VPC.
   */
  public customResourcePlacement(): { vpc: ec2.IVpc; vpcSubnets: ec2.SubnetSelection } | undefined {
    if (!this.subnets) return undefined;
    return { vpc: this.vpc, vpcSubnets: { subnets: this.subnets.subnets } };
  }

  /** Lets a security group (the runners') use the interface endpoints too. */
  public admitToEndpoints(client: ec2.ISecurityGroup): void {
    for (const vpce of Object.values(this.interfaceEndpoints))
      vpce.connections.allowFrom(client, ec2.Port.tcp(443), 'HTTPS from cdk-ephemeral-runners');
  }

  /**
   * The VPC settings of one function, and the role's right to create and remove its network interfaces
   * (what `AWSLambdaVPCAccessExecutionRole` grants, inline); none outside the VPC.
   */
  public functionPlacement(
    role: iam.Role,
  ): { vpc: ec2.IVpc; vpcSubnets: ec2.SubnetSelection; securityGroups: ec2.ISecurityGroup[] } | undefined {
    if (!this.subnets || !this.securityGroup) return undefined;
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LambdaNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    acknowledge(role, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'A function in a VPC needs to create, describe and delete its network interfaces; Lambda creates them with the function role, and their ids are not known before (the same actions AWSLambdaVPCAccessExecutionRole grants on *).',
    });
    return {
      vpc: this.vpc,
      vpcSubnets: { subnets: this.subnets.subnets },
      securityGroups: [this.securityGroup],
    };
  }
}

/** The Lambdas' subnets: private ones only. */
function lambdaSubnets(
  vpc: ec2.IVpc,
  selection: ec2.SubnetSelection | undefined,
  where: string,
): ec2.SelectedSubnets {
  const selected =
    selection !== undefined
      ? vpc.selectSubnets(selection)
      : vpc.privateSubnets.length > 0
        ? vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS })
        : vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_ISOLATED });
  if (selected.subnetIds.length === 0)
    throw new Error(
      `EphemeralRunners ${where}: lambdaVpc selects no subnet: the VPC needs private subnets (with egress or isolated), or give lambdaVpc.subnetSelection`,
    );
  const publicIds = new Set(vpc.publicSubnets.map((s) => s.subnetId));
  if (selected.subnetIds.some((id) => publicIds.has(id)))
    throw new Error(
      `EphemeralRunners ${where}: lambdaVpc.subnetSelection selects public subnets: a Lambda gets no public IP there and reaches nothing; select private subnets`,
    );
  return selected;
}
