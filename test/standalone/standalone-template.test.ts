/**
 * The standalone template in dist/cloudformation/ (written by `npm run build`): no CDK bootstrap
 * anywhere, every parameter described and constrained, every mode chosen by Parameters (each passing
 * the Rules, which refuse the combinations that cannot work) leaves a template whose references all
 * resolve and that is the template CDK synthesizes for that mode, every asset reference names a file of
 * assets/ (a valid zip for a Lambda bundle), and each mode passes cdk-nag AwsSolutions and
 * CloudFormation's rules.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, inflateRawSync } from 'node:zlib';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { STANDALONE_TEMPLATE_FILE, StandaloneRunnersStack } from '../../lib/standalone/standalone-stack';
import {
  DEFAULT_MODE,
  MODE_CONDITIONS,
  modeConditions,
  standaloneModes,
  type StandaloneMode,
} from '../../lib/standalone/standalone-modes';
import { StandaloneSynthesizer } from '../../lib/standalone/standalone-synthesizer';
import { resolveMode, templateDifference, type CfnTemplate } from '../../lib/standalone/template-merge';
import { ensureHandlerBundles, unacknowledgedViolations } from '../construct/support';

const dir = join(__dirname, '..', '..', 'dist', 'cloudformation');
const file = join(dir, STANDALONE_TEMPLATE_FILE);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Template {
  Parameters: Record<string, Record<string, Json>>;
  Conditions?: Record<string, Json>;
  Resources: Record<
    string,
    { Type: string; Condition?: string; DependsOn?: string | string[]; Properties?: Json }
  >;
  Outputs?: Record<string, { Condition?: string; Value: Json }>;
  Rules?: Record<
    string,
    { RuleCondition?: Json; Assertions: Array<{ Assert: Json; AssertDescription: string }> }
  >;
}

let template: Template;
let text: string;
beforeAll(() => {
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\``);
  text = readFileSync(file, 'utf8');
  template = JSON.parse(text) as Template;
});

test('no CDK bootstrap: no BootstrapVersion parameter or rule, no cdk-hnb659fds name, no CDK metadata', () => {
  expect(text).not.toMatch(/BootstrapVersion|hnb659fds|cdk-bootstrap|CDKMetadata/);
  expect(Object.keys(template.Rules ?? {}).sort()).toEqual([
    'CreatedVpcTakesNoSubnets',
    'ExistingVpcHasSubnets',
    'LambdasInVpcNeedsVpc',
    'PrivateEndpointNeedsVpc',
    'SomeRunnerConfig',
  ]);
  expect(Object.keys(template.Parameters)).toEqual(expect.arrayContaining(['AssetsBucket', 'AssetsPrefix']));
});

test('every parameter has a description and a constraint', () => {
  const constraints = ['AllowedPattern', 'AllowedValues', 'MinLength', 'MaxLength', 'MinValue', 'MaxValue'];
  for (const [name, p] of Object.entries(template.Parameters)) {
    expect({ name, described: typeof p.Description === 'string' && p.Description.length > 10 }).toEqual({
      name,
      described: true,
    });
    const typed = String(p.Type).startsWith('AWS::') || String(p.Type).startsWith('List<AWS::');
    expect({ name, constrained: typed || constraints.some((c) => p[c] !== undefined) }).toEqual({
      name,
      constrained: true,
    });
  }
});

test('the Parameters of the issue are there', () => {
  expect(Object.keys(template.Parameters)).toEqual(
    expect.arrayContaining([
      'GitHubUrl',
      'GitHubAppId',
      'GitHubPrivateKeySecretName',
      'WebhookSecretName',
      'RunnerScope',
      'RunnerGroupId',
      'AllowedOwners',
      'VpcId',
      'SubnetIds',
      'SubnetsArePublic',
      'PrivateSubnetIds',
      'LambdasInVpc',
      'WebhookEndpoint',
      'WebhookClientCidr',
      'X64InstanceTypes',
      'X64Labels',
      'X64SpotStrategy',
      'Arm64InstanceTypes',
      'Arm64Labels',
      'Arm64SpotStrategy',
      'AssetsBucket',
      'AssetsPrefix',
    ]),
  );
});

/** Sample values of the parameters (lists as comma-separated strings), varied by the combinations below. */
const sampleParameters = (over: Record<string, Json>): Record<string, Json> => ({
  ...Object.fromEntries(Object.entries(template.Parameters).map(([k, p]) => [k, p.Default ?? 'x'])),
  AssetsBucket: 'my-assets',
  GitHubAppId: '123456',
  GitHubPrivateKeySecretName: 'github-app-key',
  ...over,
});

/** The Parameters that choose a mode. */
const modeParameters = (mode: StandaloneMode): Record<string, Json> => {
  const existing = mode.vpc !== 'created';
  return {
    VpcId: existing ? 'vpc-0123456789abcdef0' : '',
    SubnetIds: existing ? 'subnet-0aaaaaaaaaaaaaaa1,subnet-0aaaaaaaaaaaaaaa2' : '',
    SubnetsArePublic: mode.vpc === 'existingPrivateSubnets' ? 'false' : 'true',
    PrivateSubnetIds: mode.lambdasInVpc || mode.privateEndpoint ? 'subnet-0bbbbbbbbbbbbbbb1' : '',
    LambdasInVpc: String(mode.lambdasInVpc),
    WebhookEndpoint: mode.privateEndpoint ? 'private' : 'public',
    WebhookClientCidr: mode.privateEndpoint ? '10.20.0.0/16' : '',
    X64InstanceTypes: mode.x64 ? 'm7i.large,m6i.large' : '',
    Arm64InstanceTypes: mode.arm64 ? 'm7g.large' : '',
  };
};

/** A parameter's value as CloudFormation gives it: a list for a CommaDelimitedList. */
const refValue = (params: Record<string, Json>, name: string): Json =>
  template.Parameters[name]?.Type === 'CommaDelimitedList' ? String(params[name]).split(',') : params[name];

/** The Rules' verdict on the parameters: the descriptions of the assertions that fail. */
function failedRules(params: Record<string, Json>): string[] {
  const value = (v: Json): Json => {
    const o = v as Record<string, Json>;
    if (o !== null && typeof o === 'object' && 'Ref' in o) return refValue(params, o.Ref as string);
    return v;
  };
  const holds = (c: Json): boolean => {
    const [fn, args] = Object.entries(c as Record<string, Json[]>)[0];
    if (fn === 'Fn::Equals') return JSON.stringify(value(args[0])) === JSON.stringify(value(args[1]));
    if (fn === 'Fn::Not') return !holds(args[0]);
    if (fn === 'Fn::And') return args.every(holds);
    if (fn === 'Fn::Or') return args.some(holds);
    if (fn === 'Fn::Contains') return (value(args[0]) as Json[]).includes(value(args[1]));
    if (fn === 'Fn::EachMemberEquals') return (value(args[0]) as Json[]).every((x) => x === value(args[1]));
    throw new Error(`rule function not understood: ${fn}`);
  };
  return Object.values(template.Rules ?? {}).flatMap((r) =>
    r.RuleCondition === undefined || holds(r.RuleCondition)
      ? r.Assertions.filter((a) => !holds(a.Assert)).map((a) => a.AssertDescription)
      : [],
  );
}

const PSEUDO = new Set([
  'AWS::Region',
  'AWS::AccountId',
  'AWS::Partition',
  'AWS::URLSuffix',
  'AWS::StackName',
  'AWS::StackId',
  'AWS::NoValue',
  'AWS::NotificationARNs',
]);

/** The template as CloudFormation would see it for these parameters: conditions evaluated, If resolved. */
function resolveFor(params: Record<string, Json>) {
  const conditions: Record<string, boolean> = {};
  const value = (v: Json): Json => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    if ('Ref' in v) return (v.Ref as string) in params ? refValue(params, v.Ref as string) : v;
    if ('Fn::Join' in v) {
      const [delimiter, list] = v['Fn::Join'] as [string, Json];
      return (value(list) as Json[]).join(delimiter);
    }
    return v;
  };
  const evaluate = (c: Json): boolean => {
    const o = c as Record<string, Json[] | string>;
    if ('Condition' in o) return condition(o.Condition as string);
    if ('Fn::Equals' in o)
      return (
        JSON.stringify(value((o['Fn::Equals'] as Json[])[0])) ===
        JSON.stringify(value((o['Fn::Equals'] as Json[])[1]))
      );
    if ('Fn::Or' in o) return (o['Fn::Or'] as Json[]).some(evaluate);
    if ('Fn::And' in o) return (o['Fn::And'] as Json[]).every(evaluate);
    if ('Fn::Not' in o) return !evaluate((o['Fn::Not'] as Json[])[0]);
    throw new Error(`condition function not understood: ${JSON.stringify(c)}`);
  };
  const condition = (name: string): boolean => {
    if (!(name in (template.Conditions ?? {}))) throw new Error(`unknown condition ${name}`);
    return (conditions[name] ??= evaluate(template.Conditions![name]));
  };
  const pick = (v: Json): Json => {
    if (Array.isArray(v))
      return v
        .map(pick)
        .filter(
          (x) => !(x !== null && typeof x === 'object' && (x as { Ref?: string }).Ref === 'AWS::NoValue'),
        );
    if (v === null || typeof v !== 'object') return v;
    if ('Fn::If' in v) {
      const [c, a, b] = v['Fn::If'] as Json[];
      return pick(condition(c as string) ? a : b);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, pick(x)]));
  };
  const resources = Object.fromEntries(
    Object.entries(template.Resources)
      .filter(([, r]) => r.Condition === undefined || condition(r.Condition))
      .map(([id, r]) => [id, { ...r, Properties: pick(r.Properties ?? {}) }]),
  );
  const outputs = Object.entries(template.Outputs ?? {})
    .filter(([, o]) => o.Condition === undefined || condition(o.Condition))
    .map(([id, o]) => [id, pick(o.Value)] as const);
  return { resources, outputs, conditions };
}

/** Every Ref, GetAtt and DependsOn target under a value. */
function targets(v: Json, found: string[] = []): string[] {
  if (Array.isArray(v)) v.forEach((x) => targets(x, found));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      if (k === 'Ref' && typeof x === 'string') found.push(x);
      else if (k === 'Fn::GetAtt') found.push(Array.isArray(x) ? String(x[0]) : String(x).split('.')[0]);
      else if (k === 'Fn::Sub') {
        const s = Array.isArray(x) ? String(x[0]) : String(x);
        for (const m of s.matchAll(/\$\{([^!}][^}.]*)/g)) found.push(m[1]);
        if (Array.isArray(x)) targets(x[1], found);
      } else targets(x, found);
    }
  return found;
}

const modeName = (m: StandaloneMode) =>
  `${m.vpc} VPC, Lambdas ${m.lambdasInVpc ? 'in' : 'outside'} it, ${m.privateEndpoint ? 'private' : 'public'} endpoint, ${[m.x64 && 'x64', m.arm64 && 'arm64'].filter(Boolean).join('+')}`;
// Every mode, and the other conditions' values spread over them.
const combinations: Array<[string, Record<string, Json>, StandaloneMode]> = standaloneModes().map(
  (mode, i) => [
    modeName(mode),
    {
      ...modeParameters(mode),
      ...[
        { WebhookSecretName: 'my-webhook-secret', RunnerScope: 'org' },
        { WebhookSecretName: '', RunnerScope: 'repo', GitHubUrl: 'https://ghes.corp.example' },
        { GitHubUrl: 'https://github.com/' },
      ][i % 3],
    },
    mode,
  ],
);

test.each(combinations)('%s: the Parameters choose that mode and pass the Rules', (_name, over, mode) => {
  const params = sampleParameters(over);
  expect(failedRules(params)).toEqual([]);
  const { conditions } = resolveFor(params);
  const chosen = Object.fromEntries(MODE_CONDITIONS.map((c) => [c.name, conditions[c.name]]));
  expect(chosen).toEqual(modeConditions(mode));
});

test.each([
  ['Lambdas in a created VPC', { LambdasInVpc: 'true' }, /LambdasInVpc true needs VpcId/],
  [
    'the private endpoint in a created VPC',
    { WebhookEndpoint: 'private', WebhookClientCidr: '10.0.0.0/8' },
    /WebhookEndpoint private needs VpcId/,
  ],
  ['an existing VPC without subnets', { VpcId: 'vpc-0123456789abcdef0' }, /With VpcId, give SubnetIds/],
  ['subnets without a VPC', { SubnetIds: 'subnet-0aaaaaaaaaaaaaaa1' }, /give VpcId too/],
  [
    'Lambdas in the VPC without private subnets',
    { ...modeParameters({ ...DEFAULT_MODE, vpc: 'existingPublicSubnets' }), LambdasInVpc: 'true' },
    /needs VpcId and PrivateSubnetIds/,
  ],
  [
    'the private endpoint without the client range',
    {
      ...modeParameters({ ...DEFAULT_MODE, vpc: 'existingPrivateSubnets', privateEndpoint: true }),
      WebhookClientCidr: '',
    },
    /WebhookClientCidr/,
  ],
  [
    'no runner config',
    { X64InstanceTypes: '', Arm64InstanceTypes: '' },
    /X64InstanceTypes or Arm64InstanceTypes/,
  ],
])('the Rules refuse %s', (_name, over, message) => {
  const failed = failedRules(sampleParameters(over));
  expect(failed).toHaveLength(1);
  expect(failed[0]).toMatch(message);
});

test('the combinations cover every value of every condition', () => {
  const seen: Record<string, Set<boolean>> = {};
  for (const [, params] of combinations)
    for (const [c, v] of Object.entries(resolveFor(sampleParameters(params)).conditions))
      (seen[c] ??= new Set()).add(v);
  for (const c of Object.keys(template.Conditions ?? {}))
    expect({ c, values: [...(seen[c] ?? [])].sort() }).toEqual({ c, values: [false, true] });
});

test.each(combinations)(
  '%s: every reference resolves to a parameter, a pseudo parameter or a resource that exists',
  (_name, over) => {
    const params = sampleParameters(over);
    // Every resource's DependsOn is checked too: CloudFormation refuses one on a resource not created.
    const { resources, outputs } = resolveFor(params);
    const known = (t: string) => t in params || PSEUDO.has(t) || t in resources;
    for (const [id, r] of Object.entries(resources)) {
      const deps = r.DependsOn === undefined ? [] : ([] as string[]).concat(r.DependsOn);
      const missing = [...targets(r.Properties as Json), ...deps].filter((t) => !known(t));
      expect({ id, missing }).toEqual({ id, missing: [] });
    }
    for (const [id, v] of outputs)
      expect({ id, missing: targets(v).filter((t) => !known(t)) }).toEqual({ id, missing: [] });
  },
);

test('every asset reference is {AssetsBucket}/{AssetsPrefix}{file} with the file in assets/, and every file is used', () => {
  const referenced = new Set<string>();
  const visit = (v: Json, parent?: Record<string, Json>) => {
    if (Array.isArray(v)) v.forEach((x) => visit(x));
    else if (v !== null && typeof v === 'object') {
      if (Array.isArray(v['Fn::Join']) && JSON.stringify(v['Fn::Join']).includes('"Ref":"AssetsPrefix"')) {
        const parts = (v['Fn::Join'] as Json[])[1] as Json[];
        const i = parts.findIndex((p) => JSON.stringify(p) === '{"Ref":"AssetsPrefix"}');
        const name = String(parts[i + 1]).split('/')[0];
        expect(existsSync(join(dir, 'assets', name))).toBe(true);
        referenced.add(name);
      }
      for (const x of Object.values(v)) visit(x, v);
    }
    void parent;
  };
  visit(template.Resources as unknown as Json);
  const lambdas = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  for (const fn of lambdas) {
    const code = (fn.Properties as { Code: { S3Bucket: Json; S3Key: Json } }).Code;
    expect(code.S3Bucket).toEqual({ Ref: 'AssetsBucket' });
    expect(JSON.stringify(code.S3Key)).toContain('{"Ref":"AssetsPrefix"}');
  }
  expect(lambdas.length).toBeGreaterThanOrEqual(4);
  expect([...referenced].sort()).toEqual(readdirSync(join(dir, 'assets')).sort());
});

/** The entries of a zip, each inflated and checked against its CRC. */
function unzip(buffer: Buffer): Record<string, Buffer> {
  const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = buffer.readUInt16LE(end + 10);
  let at = buffer.readUInt32LE(end + 16);
  const entries: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const nameLength = buffer.readUInt16LE(at + 28);
    const extra = buffer.readUInt16LE(at + 30) + buffer.readUInt16LE(at + 32);
    const name = buffer.subarray(at + 46, at + 46 + nameLength).toString();
    const local = buffer.readUInt32LE(at + 42);
    const size = buffer.readUInt32LE(at + 20);
    const data = inflateRawSync(
      buffer
        .subarray(local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28))
        .subarray(0, size),
    );
    expect(crc32(data)).toBe(buffer.readUInt32LE(at + 16));
    entries[name] = data;
    at += 46 + nameLength + extra;
  }
  return entries;
}

test('the Lambda bundles are zips with index.js at their root', () => {
  const codeKeys = Object.values(template.Resources)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) =>
      String(
        (r.Properties as { Code: { S3Key: { 'Fn::Join': [string, Json[]] } } }).Code.S3Key['Fn::Join'][1][1],
      ),
    );
  for (const key of new Set(codeKeys)) {
    const entries = unzip(readFileSync(join(dir, 'assets', key)));
    expect(Object.keys(entries)).toContain('index.js');
    expect(entries['index.js'].toString()).toMatch(/handler/);
  }
});

// Between them, every value of every mode's choice.
const sampled: StandaloneMode[] = [
  DEFAULT_MODE,
  { vpc: 'existingPrivateSubnets', lambdasInVpc: true, privateEndpoint: true, x64: false, arm64: true },
  { vpc: 'existingPublicSubnets', lambdasInVpc: true, privateEndpoint: false, x64: true, arm64: false },
];

test.each(sampled.map((m) => [modeName(m), m] as const))(
  '%s: the template chosen is the one CDK synthesizes for that mode, and it passes cdk-nag AwsSolutions and CloudFormation validation',
  (_name, mode) => {
    ensureHandlerBundles();
    const app = new App({ context: { '@aws-cdk/core:validateAgainstDefaultRules': true } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new StandaloneRunnersStack(app, 'EphemeralRunners', new StandaloneSynthesizer(), mode);
    expect(unacknowledgedViolations(app)).toEqual([]);
    const synthesized = JSON.parse(readFileSync(join(app.outdir, stack.templateFile), 'utf8')) as CfnTemplate;
    const chosen = resolveMode(
      template as unknown as CfnTemplate,
      MODE_CONDITIONS.map((c) => c.name),
      modeConditions(mode),
    );
    expect(templateDifference(chosen, synthesized)).toBeUndefined();
  },
);

test('the package ships dist/cloudformation', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
  expect(pkg.files).toContain('dist/cloudformation');
  expect(pkg.scripts.build).toContain('bin/standalone-template.mjs');
  expect(existsSync(join(dir, 'README.md'))).toBe(true);
});
