/**
 * The merge of the standalone modes' templates: what exists in some modes gets a Condition, values that
 * differ become Fn::If (AWS::NoValue where absent), dependencies on a resource of some modes only go
 * through a custom resource's property, and resolving the merged template for a mode gives that mode's
 * template back. What conditions cannot express is refused.
 */
import {
  CONDITIONAL_DEPENDENCIES,
  mergeTemplates,
  resolveMode,
  templateDifference,
  type CfnTemplate,
  type ModeCondition,
  type ModeTemplate,
} from '../../lib/standalone/template-merge';

const conditions: ModeCondition[] = [
  { name: 'A', expression: { 'Fn::Equals': [{ Ref: 'PA' }, 'yes'] } },
  { name: 'B', expression: { 'Fn::Equals': [{ Ref: 'PB' }, 'yes'] } },
];
const names = conditions.map((c) => c.name);
const base = (resources: CfnTemplate['Resources'], extra: Partial<CfnTemplate> = {}): CfnTemplate => ({
  Parameters: { PA: { Type: 'String' }, PB: { Type: 'String' } },
  Resources: resources,
  ...extra,
});
const mode = (a: boolean, b: boolean, template: CfnTemplate): ModeTemplate => ({
  conditions: { A: a, B: b },
  template,
});

/** Merges, and checks that each mode resolves back to its own template. */
function mergeChecked(modes: ModeTemplate[]): CfnTemplate {
  const merged = mergeTemplates(conditions, modes);
  for (const m of modes)
    expect(templateDifference(resolveMode(merged, names, m.conditions), m.template)).toBeUndefined();
  return merged;
}

test('a resource of some modes gets a Condition over the mode conditions; shared ones none', () => {
  const shared = { Type: 'AWS::SNS::Topic' };
  const merged = mergeChecked([
    mode(true, true, base({ Shared: shared, OnlyA: { Type: 'AWS::SQS::Queue' } })),
    mode(true, false, base({ Shared: shared, OnlyA: { Type: 'AWS::SQS::Queue' } })),
    mode(false, true, base({ Shared: shared, OnlyNotAAndB: { Type: 'AWS::SQS::Queue' } })),
    mode(false, false, base({ Shared: shared })),
  ]);
  expect(merged.Resources.Shared.Condition).toBeUndefined();
  expect(merged.Resources.OnlyA.Condition).toBe('A');
  const c = merged.Resources.OnlyNotAAndB.Condition!;
  expect(merged.Conditions![c]).toEqual({ 'Fn::And': [{ Condition: 'NotA' }, { Condition: 'B' }] });
  expect(merged.Conditions!.NotA).toEqual({ 'Fn::Not': [{ Condition: 'A' }] });
  expect(merged.Conditions!.A).toEqual(conditions[0].expression);
});

test('differing values become Fn::If; a key or array element of some modes only is AWS::NoValue elsewhere', () => {
  const topic = (props: Record<string, unknown>) => ({ T: { Type: 'AWS::SNS::Topic', Properties: props } });
  const merged = mergeChecked([
    mode(true, false, base(topic({ Name: 'a', Tags: ['x', 'y'], Extra: 1 }) as CfnTemplate['Resources'])),
    mode(false, false, base(topic({ Name: 'b', Tags: ['x', 'z', 'y'] }) as CfnTemplate['Resources'])),
  ]);
  expect(merged.Resources.T.Properties).toEqual({
    Name: { 'Fn::If': ['A', 'a', 'b'] },
    Tags: ['x', { 'Fn::If': ['A', { Ref: 'AWS::NoValue' }, 'z'] }, 'y'],
    Extra: { 'Fn::If': ['A', 1, { Ref: 'AWS::NoValue' }] },
  });
});

test("intrinsic calls are chosen whole, and the modes' own Fn::If and AWS::NoValue are kept", () => {
  const own = { 'Fn::If': ['Own', 'x', { Ref: 'AWS::NoValue' }] };
  const t = (v: unknown) =>
    base(
      {
        T: { Type: 'AWS::SNS::Topic', Properties: { V: v, Own: own } },
      } as unknown as CfnTemplate['Resources'],
      {
        Conditions: { Own: { 'Fn::Equals': ['1', '1'] } },
      },
    );
  const merged = mergeChecked([
    mode(true, true, t({ 'Fn::Join': ['', ['a', { Ref: 'PA' }]] })),
    mode(false, true, t({ 'Fn::Join': ['', ['b', { Ref: 'PA' }]] })),
  ]);
  expect((merged.Resources.T.Properties as Record<string, unknown>).V).toEqual({
    'Fn::If': ['A', { 'Fn::Join': ['', ['a', { Ref: 'PA' }]] }, { 'Fn::Join': ['', ['b', { Ref: 'PA' }]] }],
  });
  expect((merged.Resources.T.Properties as Record<string, unknown>).Own).toEqual(own);
});

test('a custom resource depends on a resource of some modes through a Ref under Fn::If', () => {
  const cr = (deps: string[]) => ({
    Type: 'Custom::Thing',
    Properties: { ServiceToken: 'arn' },
    DependsOn: deps,
  });
  const merged = mergeChecked([
    mode(
      true,
      false,
      base({
        Always: { Type: 'AWS::SNS::Topic' },
        Vpc: { Type: 'AWS::EC2::VPC' },
        Cr: cr(['Always', 'Vpc']),
      }),
    ),
    mode(false, false, base({ Always: { Type: 'AWS::SNS::Topic' }, Cr: cr(['Always']) })),
  ]);
  expect(merged.Resources.Cr.DependsOn).toBe('Always');
  expect((merged.Resources.Cr.Properties as Record<string, unknown>)[CONDITIONAL_DEPENDENCIES]).toEqual([
    { 'Fn::If': ['A', { Ref: 'Vpc' }, { Ref: 'AWS::NoValue' }] },
  ]);
});

test.each([
  [
    'another resource depending on a resource of some modes',
    [
      mode(
        true,
        false,
        base({ Vpc: { Type: 'AWS::EC2::VPC' }, Fn: { Type: 'AWS::Lambda::Function', DependsOn: 'Vpc' } }),
      ),
      mode(false, false, base({ Fn: { Type: 'AWS::Lambda::Function' } })),
    ],
    /only a custom resource can carry such a dependency/,
  ],
  [
    'a dependency that differs where both resources exist',
    [
      mode(
        true,
        false,
        base({ X: { Type: 'AWS::SNS::Topic' }, Y: { Type: 'AWS::SNS::Topic', DependsOn: 'X' } }),
      ),
      mode(false, false, base({ X: { Type: 'AWS::SNS::Topic' }, Y: { Type: 'AWS::SNS::Topic' } })),
    ],
    /dependencies may differ only by presence/,
  ],
  [
    'a resource type that differs',
    [
      mode(true, false, base({ X: { Type: 'AWS::SNS::Topic' } })),
      mode(false, false, base({ X: { Type: 'AWS::SQS::Queue' } })),
    ],
    /X.Type differs between modes/,
  ],
  [
    'Rules that differ',
    [mode(true, false, base({}, { Rules: { R: { Assertions: [] } } })), mode(false, false, base({}))],
    /differ in their Rules section/,
  ],
  [
    'a Parameter declared differently',
    [
      mode(true, false, base({}, { Parameters: { PA: { Type: 'String' } } })),
      mode(false, false, base({}, { Parameters: { PA: { Type: 'Number' } } })),
    ],
    /Parameter PA differs/,
  ],
  [
    'two modes with the same conditions',
    [mode(true, false, base({})), mode(true, false, base({}))],
    /same conditions/,
  ],
] as Array<[string, ModeTemplate[], RegExp]>)('refused: %s', (_name, modes, message) => {
  expect(() => mergeTemplates(conditions, modes)).toThrow(message);
});

test('the difference check names the path where a resolved template differs', () => {
  const a = base({ T: { Type: 'AWS::SNS::Topic', Properties: { Name: 'a' } } });
  const b = base({ T: { Type: 'AWS::SNS::Topic', Properties: { Name: 'b' } } });
  expect(templateDifference(a, b)).toMatch(/^\/Resources\/T\/Properties\/Name: "a" ≠ "b"/);
});
