import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';

/**
 * Image Builder component documents (AWSTOE): the built-in ones under image-builder/components/, the
 * user's own, and the rules a document must follow, checked at synthesis so that a typo fails there
 * rather than forty minutes into an image build.
 */

/** Action modules AWSTOE knows, with the inputs each requires (`[]`: inputs optional or free-form). */
export const COMPONENT_ACTIONS: Readonly<
  Record<string, { readonly required: string[]; readonly list?: boolean }>
> = {
  Assert: { required: [] },
  ExecuteBash: { required: [] }, // commands or file, checked below
  ExecuteBinary: { required: ['path'] },
  ExecuteDocument: { required: ['document'] },
  S3Download: { required: ['source', 'destination'], list: true },
  S3Upload: { required: ['source', 'destination'], list: true },
  WebDownload: { required: ['source', 'destination'], list: true },
  AppendFile: { required: ['path', 'content'], list: true },
  CopyFile: { required: ['source', 'destination'], list: true },
  CopyFolder: { required: ['source', 'destination'], list: true },
  CreateFile: { required: ['path'], list: true },
  CreateFolder: { required: ['path'], list: true },
  CreateSymlink: { required: ['source', 'destination'], list: true },
  DeleteFile: { required: ['path'], list: true },
  DeleteFolder: { required: ['path'], list: true },
  ListFiles: { required: [] },
  MoveFile: { required: ['source', 'destination'], list: true },
  MoveFolder: { required: ['source', 'destination'], list: true },
  ReadFile: { required: ['path'] },
  SetFileEncoding: { required: ['path'], list: true },
  SetFileOwner: { required: ['path', 'owner'], list: true },
  SetFolderOwner: { required: ['path', 'owner'], list: true },
  SetFilePermissions: { required: ['path', 'permissions'], list: true },
  SetFolderPermissions: { required: ['path', 'permissions'], list: true },
  Reboot: { required: [] },
  UpdateOS: { required: [] },
};
/** Windows-only action modules: the image is Ubuntu. */
const WINDOWS_ACTIONS = ['ExecutePowerShell', 'InstallMSI', 'UninstallMSI', 'SetRegistry'];
/** Phases Image Builder runs for an AMI: build and validate on the build instance, test on a test instance. */
export const COMPONENT_PHASES = ['build', 'validate', 'test'];
/** Step names: a letter, then letters, digits, `_` or `-` (they appear in chaining expressions). */
export const STEP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;
const STEP_KEYS = ['name', 'action', 'inputs', 'timeoutSeconds', 'onFailure', 'maxAttempts', 'if', 'loop'];
const DOCUMENT_KEYS = ['name', 'description', 'schemaVersion', 'parameters', 'constants', 'phases'];
/** Image Builder's limit on a component's data. */
export const COMPONENT_DATA_LIMIT = 16_000;

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Names declared in a `parameters` or `constants` list (each entry a one-key map). */
function declaredNames(list: unknown, what: string, problems: string[]): string[] {
  if (list === undefined) return [];
  if (!Array.isArray(list)) {
    problems.push(`${what} must be a list`);
    return [];
  }
  return list.flatMap((entry, i) => {
    const keys = isMap(entry) ? Object.keys(entry) : [];
    if (keys.length !== 1 || !/^[A-Za-z][A-Za-z0-9_]*$/.test(keys[0])) {
      problems.push(`${what}[${i}] must be a one-key map from a name (letters, digits, _) to its definition`);
      return [];
    }
    const def = (entry as Record<string, unknown>)[keys[0]];
    if (!isMap(def) || def.type !== 'string') problems.push(`${what} ${keys[0]} must have type: string`);
    return keys;
  });
}

function inputProblems(action: string, inputs: unknown, where: string): string[] {
  const spec = COMPONENT_ACTIONS[action];
  if (action === 'ExecuteBash') {
    if (!isMap(inputs)) return [`${where}: ExecuteBash needs inputs.commands (a list) or inputs.file`];
    const cmds = inputs.commands;
    const okCommands = Array.isArray(cmds) && cmds.length > 0 && cmds.every((c) => typeof c === 'string');
    return okCommands || typeof inputs.file === 'string'
      ? []
      : [`${where}: ExecuteBash needs inputs.commands (a non-empty list of strings) or inputs.file`];
  }
  if (spec.required.length === 0) return [];
  const entries = spec.list ? inputs : [inputs];
  if (!Array.isArray(entries) || entries.length === 0 || !entries.every(isMap)) {
    return [`${where}: ${action} needs inputs as ${spec.list ? 'a non-empty list of maps' : 'a map'}`];
  }
  return entries.flatMap((entry, i) =>
    spec.required
      .filter((k) => typeof entry[k] !== 'string' || entry[k] === '')
      .map((k) => `${where}: ${action} input${spec.list ? ` [${i}]` : ''} needs "${k}"`),
  );
}

/** Every `{{ expression }}` in a document's strings. */
function expressions(value: unknown): string[] {
  if (typeof value === 'string') return [...value.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].map((m) => m[1]);
  if (Array.isArray(value)) return value.flatMap(expressions);
  if (isMap(value)) return Object.values(value).flatMap(expressions);
  return [];
}

/**
 * Problems of a parsed component document against Image Builder's rules for a Linux AMI component;
 * an empty list means the document is acceptable.
 */
export function componentDocumentProblems(doc: unknown): string[] {
  if (!isMap(doc)) return ['the document is not a YAML map'];
  const problems: string[] = [];
  for (const key of Object.keys(doc)) {
    if (!DOCUMENT_KEYS.includes(key)) problems.push(`unknown top-level key "${key}"`);
  }
  if (String(doc.schemaVersion) !== '1.0' && String(doc.schemaVersion) !== '1') {
    problems.push('schemaVersion must be 1.0');
  }
  const variables = [
    ...declaredNames(doc.parameters, 'parameters', problems),
    ...declaredNames(doc.constants, 'constants', problems),
  ];
  if (!Array.isArray(doc.phases) || doc.phases.length === 0)
    return [...problems, 'phases must be a non-empty list'];
  const stepsByPhase = new Map<string, Set<string>>();
  doc.phases.forEach((phase, p) => {
    if (!isMap(phase)) {
      problems.push(`phases[${p}] is not a map`);
      return;
    }
    const phaseName = String(phase.name);
    if (!COMPONENT_PHASES.includes(phaseName)) {
      problems.push(
        `phase "${phaseName}" is not one Image Builder runs for an AMI (${COMPONENT_PHASES.join(', ')})`,
      );
    }
    if (stepsByPhase.has(phaseName)) problems.push(`phase "${phaseName}" appears twice`);
    const names = new Set<string>();
    stepsByPhase.set(phaseName, names);
    if (!Array.isArray(phase.steps) || phase.steps.length === 0) {
      problems.push(`phase "${phaseName}" has no steps`);
      return;
    }
    phase.steps.forEach((step, s) => {
      const where = `${phaseName}.${isMap(step) && typeof step.name === 'string' ? step.name : `steps[${s}]`}`;
      if (!isMap(step)) {
        problems.push(`${where} is not a map`);
        return;
      }
      for (const key of Object.keys(step))
        if (!STEP_KEYS.includes(key)) problems.push(`${where}: unknown key "${key}"`);
      if (typeof step.name !== 'string' || !STEP_NAME.test(step.name)) {
        problems.push(`${where}: step name must match ${STEP_NAME}`);
      } else if (names.has(step.name)) {
        problems.push(`${where}: step name is not unique in phase "${phaseName}"`);
      } else names.add(step.name);
      const action = String(step.action);
      if (WINDOWS_ACTIONS.includes(action)) problems.push(`${where}: ${action} runs on Windows only`);
      else if (!(action in COMPONENT_ACTIONS)) problems.push(`${where}: unknown action "${action}"`);
      else problems.push(...inputProblems(action, step.inputs, where));
      if (step.onFailure !== undefined && !['Abort', 'Continue', 'Ignore'].includes(String(step.onFailure))) {
        problems.push(`${where}: onFailure must be Abort, Continue or Ignore`);
      }
      const t = step.timeoutSeconds;
      if (t !== undefined && !(Number.isInteger(t) && ((t as number) > 0 || t === -1))) {
        problems.push(`${where}: timeoutSeconds must be a positive integer or -1`);
      }
      const m = step.maxAttempts;
      if (m !== undefined && !(Number.isInteger(m) && (m as number) > 0))
        problems.push(`${where}: maxAttempts must be a positive integer`);
    });
  });
  for (const expr of new Set(expressions(doc.phases))) {
    const [phase, step] = expr.split('.');
    if (!expr.includes('.')) {
      if (!variables.includes(expr)) problems.push(`{{ ${expr} }} is neither a parameter nor a constant`);
    } else if (phase !== 'loop' && !stepsByPhase.get(phase)?.has(step)) {
      problems.push(`{{ ${expr} }} refers to no step ${phase}.${step}`);
    }
  }
  return problems;
}

/** A component document's text, checked; throws with every problem named. */
export function checkedComponentDocument(data: string, source: string): string {
  let doc: unknown;
  try {
    doc = YAML.parse(data);
  } catch (e) {
    throw new Error(`component document ${source} is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  const problems = componentDocumentProblems(doc);
  if (data.length > COMPONENT_DATA_LIMIT)
    problems.push(`it is ${data.length} characters, over Image Builder's ${COMPONENT_DATA_LIMIT}`);
  if (problems.length > 0) throw new Error(`component document ${source} is invalid: ${problems.join('; ')}`);
  return data;
}

/** A file of the package's image-builder/ directory, found from lib/ and from dist/lib/. */
export function imageBuilderFile(...segments: string[]): string {
  for (const up of ['..', path.join('..', '..')]) {
    const file = path.join(__dirname, up, 'image-builder', ...segments);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`image-builder/${segments.join('/')} is missing from the cdk-ephemeral-runners package`);
}

/** A built-in component's document (image-builder/components/<name>.yml), checked. */
export function builtInComponentDocument(name: string): string {
  const file = imageBuilderFile('components', `${name}.yml`);
  return checkedComponentDocument(fs.readFileSync(file, 'utf8'), `image-builder/components/${name}.yml`);
}

/** Sets a parameter's default in a document: for values too long for a recipe parameter. */
export function withParameterDefault(data: string, parameter: string, value: string): string {
  const doc = YAML.parse(data) as { parameters?: Record<string, { default?: string }>[] };
  const entry = doc.parameters?.find((p) => parameter in p);
  if (!entry) throw new Error(`the document has no parameter ${parameter}`);
  entry[parameter].default = value;
  return YAML.stringify(doc, { lineWidth: 0 });
}

/** A semantic version that changes whenever `content` does: Image Builder versions are immutable. */
export function contentVersion(content: string): string {
  return `1.0.${parseInt(crypto.createHash('sha256').update(content).digest('hex').slice(0, 7), 16)}`;
}

/** A component the user adds to the image, after the built-in ones, in the order given. */
export class RunnerImageComponent {
  /** A component document (YAML) in a file; checked at synthesis. */
  public static fromFile(file: string, parameters?: Record<string, string>): RunnerImageComponent {
    return RunnerImageComponent.fromDocument(fs.readFileSync(file, 'utf8'), parameters, file);
  }

  /** A component document (YAML) given as text; checked at synthesis. */
  public static fromDocument(
    document: string,
    parameters?: Record<string, string>,
    source = 'given to RunnerImageComponent.fromDocument',
  ): RunnerImageComponent {
    return new RunnerImageComponent(checkedComponentDocument(document, source), undefined, parameters ?? {});
  }

  /** An existing component (yours or an AWS-managed one), by ARN. */
  public static fromArn(arn: string, parameters?: Record<string, string>): RunnerImageComponent {
    return new RunnerImageComponent(undefined, arn, parameters ?? {});
  }

  private constructor(
    /** The document, for a component this library creates. */
    public readonly document: string | undefined,
    /** The ARN, for an existing component. */
    public readonly arn: string | undefined,
    /** Parameters the recipe passes to the component. */
    public readonly parameters: Record<string, string>,
  ) {}
}
