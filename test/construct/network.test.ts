/**
 * The network modes: the default (Lambdas outside any VPC, public HTTP API), Lambdas in the VPC with
 * endpoints and a proxy, the private webhook endpoint, the source allow-list; each checked by
 * template assertions and by cdk-nag AwsSolutions with CloudFormation's rules.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EphemeralRunners, LambdaEndpoint, WebhookEndpoint } from '../../lib';
import {
  ensureHandlerBundles,
  existingVpc,
  runnersProps,
  unacknowledgedViolations,
  type Overrides,
} from './support';

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** Synthesizes the runners in a stack with an existing VPC (or the created one), checked by cdk-nag. */
function synth(
  overrides: (stack: Stack, vpc?: ec2.Vpc) => Overrides,
  options: { createdVpc?: boolean } = {},
) {
  ensureHandlerBundles();
  const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'NetStack', { env: { account: '111122223333', region: 'eu-west-1' } });
  const vpc = options.createdVpc ? undefined : existingVpc(stack);
  const runners = new EphemeralRunners(
    stack,
    'Runners',
    runnersProps(stack, { vpc, ...overrides(stack, vpc) }),
  );
  const violations = unacknowledgedViolations(app);
  const template = Template.fromStack(stack);
  return { app, stack, vpc, runners, template, violations };
}

const functions = (template: Template) =>
  Object.values(template.findResources('AWS::Lambda::Function') as Resources);
/** The construct's own handlers (built by handlerFunction), not aws-cdk-lib's custom resource function. */
const handlers = (template: Template) =>
  functions(template).filter((f) => envOf(f).POWERTOOLS_SERVICE_NAME !== undefined);
const envOf = (fn: { Properties: Record<string, unknown> }) =>
  ((fn.Properties.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {}) as Record<
    string,
    unknown
  >;

describe('default: Lambdas outside any VPC, public HTTP API', () => {
  const { template, violations } = synth(() => ({}));

  test('no function has a VpcConfig or a proxy; no interface endpoint; the HTTP API and no REST API', () => {
    for (const fn of functions(template)) {
      expect(fn.Properties.VpcConfig).toBeUndefined();
      expect(Object.keys(envOf(fn))).not.toEqual(expect.arrayContaining(['HTTPS_PROXY']));
      expect(envOf(fn).WEBHOOK_SOURCE_CIDRS).toBeUndefined();
    }
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.resourceCountIs('AWS::ApiGateway::RestApi', 0);
  });

  test('cdk-nag AwsSolutions and CloudFormation rules: clean', () => {
    expect(violations).toEqual([]);
  });
});

describe('Lambdas in the VPC, with endpoints and a proxy', () => {
  const { template, violations, stack } = synth(() => ({
    lambdaVpc: { endpoints: [...LambdaEndpoint.HANDLER_APIS, LambdaEndpoint.CLOUDWATCH_LOGS] },
    proxy: { url: 'http://proxy.corp.example:3128', noProxy: ['.corp.example'] },
  }));
  const resolve = (v: unknown) => JSON.stringify(stack.resolve(v));

  test('every function of the stack is in the private subnets; the handlers share the Lambdas security group', () => {
    const privateSubnets = template.findResources('AWS::EC2::Subnet', {
      Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Private' }]) },
    });
    const lambdaSgs = Object.entries(template.findResources('AWS::EC2::SecurityGroup') as Resources).filter(
      ([, r]) => String(r.Properties.GroupDescription).startsWith('cdk-ephemeral-runners Lambdas'),
    );
    expect(lambdaSgs).toHaveLength(1);
    const [sgId] = lambdaSgs[0];
    const fns = functions(template);
    const ours = handlers(template);
    expect(ours.length).toBeGreaterThanOrEqual(3);
    expect(fns.length).toBeGreaterThan(ours.length); // the image pipeline's custom resource function too
    const groups = new Set<string>();
    for (const fn of fns) {
      const config = fn.Properties.VpcConfig as {
        SubnetIds: Array<{ Ref: string }>;
        SecurityGroupIds: unknown[];
      };
      expect(config.SubnetIds.map((s) => s.Ref).sort()).toEqual(Object.keys(privateSubnets).sort());
      config.SecurityGroupIds.forEach((g) => groups.add(JSON.stringify(g)));
      if (ours.includes(fn)) expect(config.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [sgId, 'GroupId'] }]);
    }
    // No ingress into any function's security group.
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress') as Resources);
    for (const rule of ingress) expect(groups.has(JSON.stringify(rule.Properties.GroupId))).toBe(false);
    const sgs = template.findResources('AWS::EC2::SecurityGroup') as Resources;
    for (const g of groups)
      expect(sgs[JSON.parse(g)['Fn::GetAtt'][0]].Properties.SecurityGroupIngress).toBeUndefined();
  });

  test('interface endpoints with private DNS for EC2, SSM, Secrets Manager, Logs; one DynamoDB gateway endpoint', () => {
    const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint') as Resources);
    const services = endpoints.map((e) => resolve(e.Properties.ServiceName));
    for (const s of ['ec2', 'ssm', 'secretsmanager', 'logs', 'dynamodb'])
      expect(services.some((n) => n.includes(`.${s}"`) || n.includes(`.${s}`))).toBe(true);
    const interfaces = endpoints.filter((e) => e.Properties.VpcEndpointType === 'Interface');
    expect(interfaces).toHaveLength(4);
    for (const e of interfaces) expect(e.Properties.PrivateDnsEnabled).toBe(true);
    expect(endpoints.filter((e) => e.Properties.VpcEndpointType === 'Gateway')).toHaveLength(1);
  });

  test('the endpoints admit HTTPS from the Lambdas and the runners only', () => {
    const ingress = Object.values(template.findResources('AWS::EC2::SecurityGroupIngress') as Resources);
    const toEndpoints = ingress.filter((r) => r.Properties.FromPort === 443);
    expect(toEndpoints).toHaveLength(8); // 4 endpoints × (Lambdas, runners)
    for (const r of toEndpoints) expect(r.Properties.SourceSecurityGroupId).toBeDefined();
  });

  test('the proxy is in every handler; NO_PROXY names the endpoints hosts and the given ones', () => {
    for (const fn of handlers(template)) {
      const env = envOf(fn);
      expect(env.HTTPS_PROXY).toBe('http://proxy.corp.example:3128');
      expect(env.HTTP_PROXY).toBe('http://proxy.corp.example:3128');
      const noProxy = resolve(env.NO_PROXY);
      for (const s of ['dynamodb', 'ec2', 'ssm', 'secretsmanager', 'logs'])
        expect(noProxy).toContain(`${s}.`);
      expect(noProxy).toContain('.corp.example');
    }
  });

  test('the roles may manage their network interfaces', () => {
    const roles = template.findResources('AWS::IAM::Policy', {
      Properties: {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Sid: 'LambdaNetworkInterfaces', Resource: '*' })]),
        },
      },
    });
    expect(Object.keys(roles).length).toBe(handlers(template).length);
  });

  test('cdk-nag AwsSolutions and CloudFormation rules: clean', () => {
    expect(violations).toEqual([]);
  });
});

describe('the private webhook endpoint', () => {
  const { template, violations, stack, runners } = synth(() => ({
    lambdaVpc: {},
    webhookEndpoint: WebhookEndpoint.privateRestApi({ clientCidrs: ['10.50.0.0/16'] }),
  }));

  test('a private REST API, no HTTP API; its policy admits only the VPC endpoint', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 0);
    const [api] = Object.values(template.findResources('AWS::ApiGateway::RestApi') as Resources);
    const endpoints = template.findResources('AWS::EC2::VPCEndpoint', {
      Properties: { VpcEndpointType: 'Interface' },
    });
    const [vpceId] = Object.keys(endpoints);
    expect(api.Properties.EndpointConfiguration).toEqual({
      Types: ['PRIVATE'],
      VpcEndpointIds: [{ Ref: vpceId }],
    });
    const statements = (api.Properties.Policy as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statements).toEqual([
      expect.objectContaining({
        Effect: 'Allow',
        Condition: { StringEquals: { 'aws:SourceVpce': { Ref: vpceId } } },
      }),
      expect.objectContaining({
        Effect: 'Deny',
        Condition: { StringNotEquals: { 'aws:SourceVpce': { Ref: vpceId } } },
      }),
    ]);
    expect(JSON.stringify(stack.resolve(endpoints[vpceId].Properties.ServiceName))).toContain('execute-api');
    expect(endpoints[vpceId].Properties.PrivateDnsEnabled).toBe(false);
  });

  test('the endpoint admits only the client ranges on 443', () => {
    const sgs = Object.values(template.findResources('AWS::EC2::SecurityGroup') as Resources).filter((r) =>
      JSON.stringify(r.Properties.SecurityGroupIngress ?? []).includes('10.50.0.0/16'),
    );
    expect(sgs).toHaveLength(1);
    expect(sgs[0].Properties.SecurityGroupIngress).toEqual([
      expect.objectContaining({ CidrIp: '10.50.0.0/16', FromPort: 443, ToPort: 443, IpProtocol: 'tcp' }),
    ]);
  });

  test('POST /webhook requires the signature and event headers before the Lambda runs', () => {
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'POST',
      RequestParameters: {
        'method.request.header.X-Hub-Signature-256': true,
        'method.request.header.X-GitHub-Event': true,
      },
      RequestValidatorId: Match.anyValue(),
    });
  });

  test('the webhook URL is the endpoint alias of the API', () => {
    const url = JSON.stringify(stack.resolve(runners.webhookUrl));
    expect(url).toMatch(
      /"https:\/\/",\{"Ref":"RunnersWebhookPrivateApi[^"]*"\},"-",\{"Ref":"RunnersWebhookPrivateApiExecuteApiEndpoint/,
    );
    expect(url).toContain('.execute-api.');
    expect(url).toMatch(/\{"Ref":"RunnersWebhookPrivateApiDeploymentStagegithub[^"]*"\},"\/webhook"\]/);
  });

  test('cdk-nag AwsSolutions and CloudFormation rules: clean', () => {
    expect(violations).toEqual([]);
  });
});

describe('the public endpoint with a source allow-list', () => {
  const { template, violations } = synth(() => ({
    webhookEndpoint: WebhookEndpoint.publicHttpApi({
      allowedSourceCidrs: ['192.30.252.0/22', '2606:50c0::/32'],
    }),
  }));

  test('the webhook function alone carries the ranges', () => {
    const withRanges = functions(template).filter((f) => envOf(f).WEBHOOK_SOURCE_CIDRS !== undefined);
    expect(withRanges.map((f) => envOf(f).WEBHOOK_SOURCE_CIDRS)).toEqual(['192.30.252.0/22,2606:50c0::/32']);
    expect(String(withRanges[0].Properties.Description)).toMatch(/webhooks/);
  });

  test('cdk-nag AwsSolutions and CloudFormation rules: clean', () => {
    expect(violations).toEqual([]);
  });
});

describe('Lambdas in the VPC the construct creates', () => {
  const { template, stack } = synth(() => ({ lambdaVpc: {} }), { createdVpc: true });

  test('isolated subnets for the Lambdas, the runners stay in the public ones, a warning says GitHub needs a route', () => {
    const isolated = template.findResources('AWS::EC2::Subnet', {
      Properties: { Tags: Match.arrayWith([{ Key: 'aws-cdk:subnet-type', Value: 'Isolated' }]) },
    });
    expect(Object.keys(isolated).length).toBeGreaterThan(0);
    for (const fn of functions(template))
      for (const s of (fn.Properties.VpcConfig as { SubnetIds: Array<{ Ref: string }> }).SubnetIds)
        expect(Object.keys(isolated)).toContain(s.Ref);
    const params = Object.values(template.findResources('AWS::SSM::Parameter') as Resources).map((p) =>
      JSON.stringify(stack.resolve(p.Properties.Value)),
    );
    for (const p of params.filter((v) => v.includes('subnetIds'))) expect(p).not.toMatch(/Lambdas/);
    Annotations.fromStack(stack).hasWarning(
      '*',
      Match.stringLikeRegexp('isolated subnets of the VPC this construct creates'),
    );
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 1); // its DynamoDB gateway endpoint, not a second one
  });
});

describe('validation', () => {
  const attempt = (overrides: (stack: Stack, vpc: ec2.Vpc) => Overrides) => () => {
    ensureHandlerBundles();
    const stack = new Stack(new App(), 'S');
    const vpc = existingVpc(stack);
    new EphemeralRunners(stack, 'Runners', runnersProps(stack, { vpc, ...overrides(stack, vpc) }));
  };

  test.each([
    [
      'public subnets for the Lambdas',
      () => ({ lambdaVpc: { subnetSelection: { subnetType: ec2.SubnetType.PUBLIC } } }),
      /lambdaVpc.subnetSelection selects public subnets/,
    ],
    [
      'a proxy that is not a URL',
      () => ({ proxy: { url: 'proxy.corp:3128' } }),
      /proxy.url "proxy.corp:3128" must be http/,
    ],
    [
      'proxy credentials never echoed',
      () => ({ proxy: { url: 'http://bot:s3cret@proxy/x/y' } }),
      /proxy.url "http:\/\/\*\*\*@proxy\/x\/y"/,
    ],
    [
      'a bad source range',
      () => ({ webhookEndpoint: WebhookEndpoint.publicHttpApi({ allowedSourceCidrs: ['192.30.252.0'] }) }),
      /allowedSourceCidrs: "192.30.252.0" is not an IPv4 or IPv6 CIDR/,
    ],
    [
      'an empty source list',
      () => ({ webhookEndpoint: WebhookEndpoint.publicHttpApi({ allowedSourceCidrs: [] }) }),
      /allowedSourceCidrs is empty/,
    ],
    [
      'a bad client range of the private endpoint',
      () => ({ webhookEndpoint: WebhookEndpoint.privateRestApi({ clientCidrs: ['ghes.corp'] }) }),
      /clientCidrs: "ghes.corp" is not an IPv4 CIDR/,
    ],
  ])('%s is refused', (_name, overrides, message) => {
    expect(attempt(overrides)).toThrow(message);
  });
});
