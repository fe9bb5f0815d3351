/**
 * Merges the templates CDK synthesizes for each mode of the standalone stack (one per combination of
 * the administrator's choices: VPC, Lambdas in it, endpoint, runner configs) into one template whose
 * Conditions select the mode: a resource or output present in some modes only gets a Condition, a value
 * that differs between modes becomes `Fn::If` over the mode conditions (`AWS::NoValue` where it is
 * absent). {@link resolveMode} evaluates the merged template for one mode; the build checks that it
 * gives back exactly the template CDK synthesized for that mode.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A CloudFormation template, as far as the merge reads it. */
export interface CfnTemplate {
  [section: string]: unknown;
  Resources: Record<string, CfnResource>;
  Conditions?: Record<string, Json>;
  Outputs?: Record<string, { [key: string]: Json }>;
}

/** One resource of a template. */
export interface CfnResource {
  [key: string]: Json | undefined;
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
}

/** A mode condition: its name in the template and its expression over the Parameters. */
export interface ModeCondition {
  readonly name: string;
  readonly expression: Json;
}

/** The template of one mode, and the value of each mode condition in it. */
export interface ModeTemplate {
  readonly conditions: Readonly<Record<string, boolean>>;
  readonly template: CfnTemplate;
}

/**
 * The property through which a custom resource depends on a resource that exists in some modes only:
 * `DependsOn` cannot be conditional, a `Ref` under `Fn::If` can (custom resource handlers ignore it).
 */
export const CONDITIONAL_DEPENDENCIES = 'CreatedAfterConditionalResources';

const NO_VALUE: Json = { Ref: 'AWS::NoValue' };
/** Marks a value a mode does not have. */
const ABSENT = Symbol('absent');
type Maybe = Json | typeof ABSENT;
type Entry = readonly [ModeTemplate, Maybe];

/** The sections that must be the same in every mode. */
const SHARED_SECTIONS = [
  'AWSTemplateFormatVersion',
  'Description',
  'Transform',
  'Metadata',
  'Parameters',
  'Mappings',
  'Rules',
  'Conditions',
];

/** Merges the mode templates; throws when they differ in a way conditions cannot express. */
export function mergeTemplates(
  conditions: readonly ModeCondition[],
  modes: readonly ModeTemplate[],
): CfnTemplate {
  if (modes.length === 0) throw new Error('mergeTemplates: no mode');
  const names = conditions.map((c) => c.name);
  const seen = new Set<string>();
  for (const m of modes) {
    const key = names.map((n) => {
      if (typeof m.conditions[n] !== 'boolean') throw new Error(`a mode gives no value to condition ${n}`);
      return m.conditions[n] ? '1' : '0';
    });
    if (seen.has(key.join(''))) throw new Error(`two modes have the same conditions ${key.join('')}`);
    seen.add(key.join(''));
  }
  const merger = new Merger(names);
  const first = modes[0].template;
  const merged: CfnTemplate = { Resources: {} };
  // A Parameter of some modes only (CDK's public AMI parameter of an architecture) is declared for all.
  const parameters: Record<string, Json> = {};
  for (const m of modes)
    for (const [name, p] of Object.entries((m.template.Parameters ?? {}) as Record<string, Json>)) {
      if (name in parameters && !deepEqual(parameters[name], p))
        throw new Error(`Parameter ${name} differs between modes`);
      parameters[name] = p;
    }
  for (const section of SHARED_SECTIONS.filter((s) => s !== 'Parameters')) {
    const values = modes.map((m) => m.template[section] as Json | undefined);
    if (values.some((v) => !deepEqual(v, values[0])))
      throw new Error(
        `the modes' templates differ in their ${section} section: make it the same in every mode`,
      );
    if (values[0] !== undefined) merged[section] = values[0];
  }
  if (Object.keys(parameters).length > 0) merged.Parameters = parameters;
  for (const section of Object.keys(first))
    if (!SHARED_SECTIONS.includes(section) && section !== 'Resources' && section !== 'Outputs')
      throw new Error(`unknown template section ${section}`);
  const own = (first.Conditions ?? {}) as Record<string, Json>;
  for (const c of conditions) {
    if (c.name in own) throw new Error(`condition ${c.name} is already in the modes' templates`);
    merger.conditions[c.name] = c.expression;
  }

  const presence = (ids: (m: ModeTemplate) => Record<string, unknown> | undefined) => {
    const order: string[] = [];
    for (const m of modes)
      for (const id of Object.keys(ids(m) ?? {})) if (!order.includes(id)) order.push(id);
    return order;
  };
  const resourceIds = presence((m) => m.template.Resources);
  for (const id of resourceIds) {
    const present = modes.filter((m) => id in m.template.Resources);
    const resources = present.map((m) => m.template.Resources[id]);
    const ownCondition = sameOf(
      resources.map((r) => r.Condition ?? null),
      `${id}.Condition`,
    );
    const resource: CfnResource = {
      Type: sameOf(
        resources.map((r) => r.Type),
        `${id}.Type`,
      ),
    };
    const condition = merger.presenceCondition(modes, present, ownCondition);
    if (condition !== undefined) resource.Condition = condition;
    const keys = unionKeys(resources).filter((k) => !['Type', 'Condition', 'DependsOn'].includes(k));
    for (const key of keys) {
      const value = merger.value(present.map((m) => [m, m.template.Resources[id][key] ?? ABSENT] as const));
      if (value !== ABSENT) resource[key] = value;
    }
    mergeDependencies(merger, id, resource, present);
    merged.Resources[id] = resource;
  }
  const outputIds = presence((m) => m.template.Outputs);
  if (outputIds.length > 0) merged.Outputs = {};
  for (const id of outputIds) {
    const present = modes.filter((m) => m.template.Outputs?.[id] !== undefined);
    const outputs = present.map((m) => m.template.Outputs![id]);
    const ownCondition = sameOf(
      outputs.map((o) => (o.Condition as string | undefined) ?? null),
      `${id}.Condition`,
    );
    const output: { [key: string]: Json } = {};
    const condition = merger.presenceCondition(modes, present, ownCondition);
    if (condition !== undefined) output.Condition = condition;
    for (const key of unionKeys(outputs).filter((k) => k !== 'Condition')) {
      const value = merger.value(present.map((m) => [m, m.template.Outputs![id][key] ?? ABSENT] as const));
      if (value !== ABSENT) output[key] = value;
    }
    merged.Outputs![id] = output;
  }
  merged.Conditions = { ...own, ...merger.conditions };
  return orderSections(merged);
}

/** DependsOn: kept where the target exists whenever the resource does; else through a Ref under Fn::If. */
function mergeDependencies(
  merger: Merger,
  id: string,
  resource: CfnResource,
  present: readonly ModeTemplate[],
): void {
  const dependsOn = (m: ModeTemplate) => ([] as string[]).concat(m.template.Resources[id].DependsOn ?? []);
  const targets = [...new Set(present.flatMap(dependsOn))].sort();
  const fixed: string[] = [];
  const conditional: Entry[][] = [];
  for (const target of targets) {
    for (const m of present) {
      const exists = target in m.template.Resources;
      if (dependsOn(m).includes(target) !== exists)
        throw new Error(
          `${id} depends on ${target} in some modes and not in others where both exist: dependencies may differ only by presence`,
        );
    }
    if (present.every((m) => target in m.template.Resources)) fixed.push(target);
    else conditional.push(present.map((m) => [m, target in m.template.Resources ? { Ref: target } : ABSENT]));
  }
  if (fixed.length > 0) resource.DependsOn = fixed.length === 1 ? fixed[0] : fixed;
  if (conditional.length === 0) return;
  if (!resource.Type.startsWith('Custom::') && resource.Type !== 'AWS::CloudFormation::CustomResource')
    throw new Error(
      `${id} (${resource.Type}) depends on resources that exist in some modes only (${targets.filter((t) => !fixed.includes(t)).join(', ')}): only a custom resource can carry such a dependency`,
    );
  // A copy: the merged value may be the modes' own object.
  resource.Properties = {
    ...((resource.Properties ?? {}) as Record<string, Json>),
    [CONDITIONAL_DEPENDENCIES]: conditional.map((entries) => merger.value(entries) as Json),
  };
}

/** Builds values and conditions over the mode conditions. */
class Merger {
  /** The Conditions the merge adds: the mode conditions and their combinations. */
  public readonly conditions: Record<string, Json> = {};
  private readonly byExpression = new Map<string, string>();

  constructor(private readonly names: readonly string[]) {}

  /** The Condition of something present in `present` of `modes` (and under `own`), or undefined for always. */
  public presenceCondition(
    modes: readonly ModeTemplate[],
    present: readonly ModeTemplate[],
    own: string | null,
  ): string | undefined {
    const entries = modes.map((m) => [m, present.includes(m)] as const);
    const expression = this.booleanExpression(entries, this.names);
    if (expression === true) return own ?? undefined;
    if (expression === false) throw new Error('present in no mode');
    const presenceName = this.named(expression);
    if (own === null) return presenceName;
    return this.named({ 'Fn::And': [{ Condition: own }, { Condition: presenceName }] });
  }

  /** One value from the values of the modes: shared, merged key by key, or chosen by Fn::If. */
  public value(entries: readonly Entry[]): Maybe {
    const values = entries.map(([, v]) => v);
    if (values.every((v) => deepEqual(v, values[0]))) return values[0];
    if (values.every(isPlainObject)) {
      const out: { [key: string]: Json } = {};
      const keys = unionKeys(values as Array<Record<string, Json>>);
      for (const key of keys) {
        const v = this.value(
          entries.map(([m, x]) => [m, (x as Record<string, Json>)[key] ?? ABSENT] as const),
        );
        if (v !== ABSENT) out[key] = v;
      }
      return out;
    }
    if (values.every(Array.isArray)) {
      const arrays = values as Json[][];
      if (arrays.every((a) => a.length === arrays[0].length))
        return arrays[0].map(
          (_, i) => this.value(entries.map(([m, x]) => [m, (x as Json[])[i]] as const)) as Json,
        );
      const union = orderedUnion(arrays);
      if (union !== undefined)
        return union.map(
          (element) =>
            this.value(
              entries.map(
                ([m, x]) => [m, (x as Json[]).some((y) => deepEqual(y, element)) ? element : ABSENT] as const,
              ),
            ) as Json,
        );
    }
    return this.choice(entries, this.names);
  }

  /** A decision tree of Fn::If over the mode conditions; AWS::NoValue where the value is absent. */
  private choice(entries: readonly Entry[], names: readonly string[]): Json {
    const values = entries.map(([, v]) => v);
    if (values.every((v) => deepEqual(v, values[0]))) return values[0] === ABSENT ? NO_VALUE : values[0];
    const name = splitter(entries, names);
    const rest = names.filter((n) => n !== name);
    return {
      'Fn::If': [
        name,
        this.choice(
          entries.filter(([m]) => m.conditions[name]),
          rest,
        ),
        this.choice(
          entries.filter(([m]) => !m.conditions[name]),
          rest,
        ),
      ],
    };
  }

  /** A condition expression true exactly in the modes whose entry is true. */
  private booleanExpression(
    entries: ReadonlyArray<readonly [ModeTemplate, boolean]>,
    names: readonly string[],
  ): Json | boolean {
    if (entries.every(([, v]) => v === entries[0][1])) return entries[0][1];
    const name = splitter(entries, names);
    const rest = names.filter((n) => n !== name);
    const whenTrue = this.booleanExpression(
      entries.filter(([m]) => m.conditions[name]),
      rest,
    );
    const whenFalse = this.booleanExpression(
      entries.filter(([m]) => !m.conditions[name]),
      rest,
    );
    const is: Json = { Condition: name };
    // Named only when used: every condition of the template is someone's.
    const not = (): Json => ({ Condition: this.named({ 'Fn::Not': [is] }) });
    const and = (a: () => Json, b: Json | boolean): Json | boolean =>
      b === true ? a() : b === false ? false : { Condition: this.named({ 'Fn::And': [a(), b] }) };
    const t = and(() => is, whenTrue);
    const f = and(not, whenFalse);
    if (t === false) return f;
    if (f === false) return t;
    return { Condition: this.named({ 'Fn::Or': [t as Json, f as Json] }) };
  }

  /** The name of a condition expression, added to the Conditions once. */
  private named(expression: Json): string {
    const o = expression as Record<string, Json>;
    if (Object.keys(o).length === 1 && typeof o.Condition === 'string') return o.Condition;
    const key = JSON.stringify(expression);
    const known = this.byExpression.get(key);
    if (known !== undefined) return known;
    const part = (x: Json) => (x as { Condition: string }).Condition;
    const [fn, args] = Object.entries(o)[0] as [string, Json[]];
    const name =
      fn === 'Fn::Not' ? `Not${part(args[0])}` : args.map(part).join(fn === 'Fn::And' ? 'And' : 'Or');
    let unique = name;
    for (let i = 2; unique in this.conditions; i++) unique = `${name}${i}`;
    this.conditions[unique] = expression;
    this.byExpression.set(key, unique);
    return unique;
  }
}

/**
 * The mode condition to split on: first one the value depends on (two modes differing in it alone
 * differ in value), else the first that leaves modes on both sides.
 */
function splitter(
  entries: ReadonlyArray<readonly [ModeTemplate, Maybe | boolean]>,
  names: readonly string[],
): string {
  for (const name of names) {
    const flip = (m: ModeTemplate) =>
      names.map((n) => ((n === name ? !m.conditions[n] : m.conditions[n]) ? '1' : '0')).join('');
    const byKey = new Map<string, Maybe | boolean>(
      entries.map(([m, v]) => [names.map((n) => (m.conditions[n] ? '1' : '0')).join(''), v]),
    );
    if (entries.some(([m, v]) => byKey.has(flip(m)) && !deepEqual(byKey.get(flip(m)), v))) return name;
  }
  const both = names.find(
    (n) => entries.some(([m]) => m.conditions[n]) && entries.some(([m]) => !m.conditions[n]),
  );
  if (both === undefined) throw new Error('modes that differ in value but not in conditions');
  return both;
}

/** The distinct elements of the arrays in an order that keeps each array's order, if there is one. */
function orderedUnion(arrays: readonly Json[][]): Json[] | undefined {
  const union: Json[] = [];
  for (const array of arrays) {
    let at = 0; // elements of this array go after the union position of the previous one
    for (const element of array) {
      const found = union.findIndex((u) => deepEqual(u, element));
      if (found === -1) union.splice(at, 0, element);
      else if (found < at) return undefined;
      at = (found === -1 ? at : found) + 1;
    }
  }
  if (arrays.some((a) => new Set(a.map((x) => JSON.stringify(x))).size !== a.length)) return undefined;
  return union;
}

/**
 * The merged template as CloudFormation evaluates it in one mode: the mode conditions replaced by their
 * values, the resources and outputs of other modes left out, their Fn::If chosen, AWS::NoValue removed,
 * the conditional dependencies turned back into DependsOn. Conditions of the modes' own templates stay.
 */
export function resolveMode(
  merged: CfnTemplate,
  conditionNames: readonly string[],
  values: Readonly<Record<string, boolean>>,
): CfnTemplate {
  const all = merged.Conditions ?? {};
  const generated = new Set<string>();
  // The merge's conditions are the mode conditions and what refers only to them (or to an own one, in And).
  const evaluate = (name: string): boolean | string => {
    if (conditionNames.includes(name)) return values[name];
    const o = all[name] as Record<string, Json[]>;
    const args = Object.values(o)[0].map((a) => evaluate((a as { Condition: string }).Condition));
    if ('Fn::Not' in o) return typeof args[0] === 'boolean' ? !args[0] : name;
    if ('Fn::Or' in o) return args.every((a) => typeof a === 'boolean') ? args.some((a) => a) : name;
    // And: an own condition (unknown here) with a mode one.
    const known = args.filter((a) => typeof a === 'boolean') as boolean[];
    const unknown = args.filter((a) => typeof a === 'string') as string[];
    if (known.some((k) => !k)) return false;
    return unknown.length === 0 ? true : unknown.length === 1 ? unknown[0] : name;
  };
  const isGenerated = (name: string): boolean => {
    if (conditionNames.includes(name)) return true;
    const o = all[name] as Record<string, Json[]> | undefined;
    if (o === undefined || typeof o !== 'object') return false;
    const [fn, args] = Object.entries(o)[0] ?? [];
    if (!['Fn::Not', 'Fn::Or', 'Fn::And'].includes(String(fn)) || !Array.isArray(args)) return false;
    const refs = args.map((a) => (a as { Condition?: string })?.Condition);
    if (refs.some((r) => typeof r !== 'string')) return false;
    return refs.some((r) => isGenerated(r!));
  };
  for (const name of Object.keys(all)) if (isGenerated(name)) generated.add(name);
  // The merge puts AWS::NoValue only under object keys and in plain arrays, never among the arguments of
  // an intrinsic function: those of the modes' own templates are kept.
  const pick = (v: Json, intrinsicArguments = false): Maybe => {
    if (Array.isArray(v))
      return v
        .map((x) => (intrinsicArguments && deepEqual(x, NO_VALUE) ? x : pick(x)))
        .filter((x) => x !== ABSENT) as Json[];
    if (v === null || typeof v !== 'object') return v;
    if (deepEqual(v, NO_VALUE)) return ABSENT;
    const fnIf = v['Fn::If'];
    if (Array.isArray(fnIf) && generated.has(fnIf[0] as string)) {
      const c = evaluate(fnIf[0] as string);
      if (typeof c !== 'boolean') throw new Error(`Fn::If on ${String(fnIf[0])} cannot be chosen by mode`);
      return pick(c ? fnIf[1] : fnIf[2]);
    }
    if (!isPlainObject(v)) {
      const [fn, args] = Object.entries(v as Record<string, Json>)[0];
      return { [fn]: pick(args, true) as Json };
    }
    const out: { [key: string]: Json } = {};
    for (const [k, x] of Object.entries(v)) {
      const p = pick(x);
      if (p !== ABSENT) out[k] = p;
    }
    return out;
  };
  const kept = (condition: string | undefined): { keep: boolean; condition?: string } => {
    if (condition === undefined || !generated.has(condition)) return { keep: true, condition };
    const c = evaluate(condition);
    return typeof c === 'boolean' ? { keep: c } : { keep: true, condition: c };
  };
  const out: CfnTemplate = { Resources: {} };
  for (const [section, value] of Object.entries(merged))
    if (section !== 'Resources' && section !== 'Outputs' && section !== 'Conditions') out[section] = value;
  const own = Object.fromEntries(Object.entries(all).filter(([n]) => !generated.has(n)));
  if (Object.keys(own).length > 0) out.Conditions = own;
  for (const [id, r] of Object.entries(merged.Resources)) {
    const { keep, condition } = kept(r.Condition);
    if (!keep) continue;
    const resource = pick(r as unknown as Json) as unknown as CfnResource;
    delete resource.Condition;
    if (condition !== undefined) resource.Condition = condition;
    const props = resource.Properties as Record<string, Json> | undefined;
    const extra = props?.[CONDITIONAL_DEPENDENCIES] as Array<{ Ref: string }> | undefined;
    if (extra !== undefined) {
      delete props![CONDITIONAL_DEPENDENCIES];
      if (Object.keys(props!).length === 0) delete resource.Properties;
      const deps = [...([] as string[]).concat(resource.DependsOn ?? []), ...extra.map((e) => e.Ref)].sort();
      if (deps.length > 0) resource.DependsOn = deps.length === 1 ? deps[0] : deps;
    }
    out.Resources[id] = resource;
  }
  for (const [id, o] of Object.entries(merged.Outputs ?? {})) {
    const { keep, condition } = kept(o.Condition as string | undefined);
    if (!keep) continue;
    const output = pick(o) as { [key: string]: Json };
    delete output.Condition;
    if (condition !== undefined) output.Condition = condition;
    (out.Outputs ??= {})[id] = output;
  }
  return out;
}

/**
 * Where a resolved merged template `a` differs from a mode's template `b` (a path and the two values),
 * or undefined. DependsOn is compared as a set; a Parameter of `a` that `b` lacks is not a difference
 * (the merge declares every mode's Parameters).
 */
export function templateDifference(a: CfnTemplate, b: CfnTemplate): string | undefined {
  const normal = (t: CfnTemplate): Json => {
    const copy = JSON.parse(JSON.stringify(t)) as CfnTemplate;
    if (t === a && copy.Parameters !== undefined) {
      const own = (b.Parameters ?? {}) as Record<string, Json>;
      copy.Parameters = Object.fromEntries(
        Object.entries(copy.Parameters as Record<string, Json>).filter(([k]) => k in own),
      );
      if (b.Parameters === undefined) delete copy.Parameters;
    }
    for (const r of Object.values(copy.Resources)) {
      const deps = ([] as string[]).concat(r.DependsOn ?? []).sort();
      if (deps.length === 0) delete r.DependsOn;
      else r.DependsOn = deps.length === 1 ? deps[0] : deps;
    }
    return copy as unknown as Json;
  };
  return difference(normal(a), normal(b), '');
}

function difference(a: Json | undefined, b: Json | undefined, path: string): string | undefined {
  if (deepEqual(a, b)) return undefined;
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = difference(a[k], b[k], `${path}/${k}`);
      if (d) return d;
    }
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length)
    for (let i = 0; i < a.length; i++) {
      const d = difference(a[i], b[i], `${path}/${i}`);
      if (d) return d;
    }
  return `${path || '/'}: ${JSON.stringify(a)?.slice(0, 300)} ≠ ${JSON.stringify(b)?.slice(0, 300)}`;
}

function sameOf<T>(values: T[], what: string): T {
  if (values.some((v) => !deepEqual(v as Json, values[0] as Json)))
    throw new Error(`${what} differs between modes: it cannot be chosen by a condition`);
  return values[0];
}

function unionKeys(objects: ReadonlyArray<Record<string, unknown>>): string[] {
  const keys: string[] = [];
  for (const o of objects) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** A JSON object that is not an intrinsic function call (whose arguments are not merged key by key). */
function isPlainObject(v: Maybe | undefined): v is { [key: string]: Json } {
  if (v === null || v === undefined || v === ABSENT || typeof v !== 'object' || Array.isArray(v))
    return false;
  const keys = Object.keys(v);
  return !(keys.length === 1 && (keys[0] === 'Ref' || keys[0] === 'Condition' || keys[0].startsWith('Fn::')));
}

function deepEqual(a: Maybe | boolean | undefined, b: Maybe | boolean | undefined): boolean {
  if (a === b) return true;
  if (a === ABSENT || b === ABSENT || a === undefined || b === undefined) return false;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as Json[];
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]));
  }
  const ao = a as Record<string, Json>;
  const bo = b as Record<string, Json>;
  const ka = Object.keys(ao);
  return ka.length === Object.keys(bo).length && ka.every((k) => k in bo && deepEqual(ao[k], bo[k]));
}

/** Sections in CloudFormation's customary order. */
function orderSections(t: CfnTemplate): CfnTemplate {
  const order = [
    ...SHARED_SECTIONS.slice(0, 4),
    'Parameters',
    'Mappings',
    'Rules',
    'Conditions',
    'Resources',
    'Outputs',
  ];
  const out = {} as CfnTemplate;
  for (const s of order) if (t[s] !== undefined) (out as Record<string, unknown>)[s] = t[s];
  return out;
}
