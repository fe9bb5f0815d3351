// Image Builder component documents: every built-in one is checked against the rules of AWSTOE
// documents, and the checker itself is shown to catch the typos it exists for.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import {
  COMPONENT_ACTIONS,
  RunnerImageComponent,
  STEP_NAME,
  builtInComponentDocument,
  componentDocumentProblems,
  withParameterDefault,
} from '../../lib/runner-image-components';

const DIR = path.join(__dirname, '..', '..', 'image-builder', 'components');
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith('.yml'));

const valid = {
  schemaVersion: 1.0,
  parameters: [{ Greeting: { type: 'string', default: 'hello' } }],
  phases: [
    {
      name: 'build',
      steps: [
        { name: 'Say', action: 'ExecuteBash', inputs: { commands: ['echo "{{ Greeting }}"'] } },
        {
          name: 'Fetch',
          action: 'WebDownload',
          inputs: [{ source: 'https://example.com/x', destination: '/tmp/x' }],
        },
        {
          name: 'Echo',
          action: 'ExecuteBash',
          inputs: { commands: ['echo "{{ build.Say.outputs.stdout }}"'] },
        },
      ],
    },
  ],
};
type Doc = typeof valid & Record<string, unknown>;

/** `valid` with one change applied. */
function variant(change: (doc: Doc) => void): Doc {
  const doc = structuredClone(valid) as Doc;
  change(doc);
  return doc;
}

describe('built-in component documents', () => {
  test('are the seven the image uses', () => {
    expect(FILES.sort()).toEqual([
      'base-packages.yml',
      'cloudwatch-agent.yml',
      'docker.yml',
      'extra-ca-certificates.yml',
      'github-runner.yml',
      'prepull-docker-images.yml',
      'runner-tarball-s3.yml',
    ]);
  });

  test.each(FILES)('%s follows the component document rules', (file) => {
    const doc = YAML.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
    expect(componentDocumentProblems(doc)).toEqual([]);
    expect(doc.name).toBe(`ephemeral-runners-${file.replace(/\.yml$/, '')}`);
    expect(() => builtInComponentDocument(file.replace(/\.yml$/, ''))).not.toThrow();
  });

  test.each(FILES)('%s uses only step names that match the documented pattern and known actions', (file) => {
    const doc = YAML.parse(fs.readFileSync(path.join(DIR, file), 'utf8'));
    for (const phase of doc.phases) {
      for (const step of phase.steps) {
        expect(step.name).toMatch(STEP_NAME);
        expect(Object.keys(COMPONENT_ACTIONS)).toContain(step.action);
      }
    }
  });

  test('the runner component checks the tarball against its SHA-256 before unpacking it', () => {
    const doc = YAML.parse(builtInComponentDocument('github-runner'));
    const steps: { name: string; inputs: { commands: string[] } }[] = doc.phases[0].steps;
    const names = steps.map((s) => s.name);
    expect(names.indexOf('VerifyRunner')).toBeLessThan(names.indexOf('InstallRunner'));
    expect(steps.find((s) => s.name === 'VerifyRunner')?.inputs.commands[0]).toContain('sha256sum -c');
  });

  test('a CA bundle written as a parameter default keeps the document valid', () => {
    const data = withParameterDefault(
      builtInComponentDocument('extra-ca-certificates'),
      'CaCertificatesBase64',
      'QUJD REVG',
    );
    const doc = YAML.parse(data);
    expect(doc.parameters[0].CaCertificatesBase64.default).toBe('QUJD REVG');
    expect(componentDocumentProblems(doc)).toEqual([]);
  });
});

describe('componentDocumentProblems catches', () => {
  test('nothing in a valid document', () => {
    expect(componentDocumentProblems(valid)).toEqual([]);
  });

  test.each<[string, (d: Doc) => void, RegExp]>([
    ['an unknown action', (d) => (d.phases[0].steps[0].action = 'ExecuteBsh'), /unknown action "ExecuteBsh"/],
    [
      'a Windows-only action',
      (d) => (d.phases[0].steps[0].action = 'ExecutePowerShell'),
      /runs on Windows only/,
    ],
    ['a duplicate step name', (d) => (d.phases[0].steps[1].name = 'Say'), /not unique in phase "build"/],
    ['a step name with a space', (d) => (d.phases[0].steps[0].name = 'Say hello'), /step name must match/],
    [
      'an unknown phase',
      (d) => (d.phases[0].name = 'install'),
      /phase "install" is not one Image Builder runs/,
    ],
    [
      'a missing required input',
      (d) => delete (d.phases[0].steps[1].inputs as unknown as Record<string, string>[])[0].destination,
      /WebDownload input \[0\] needs "destination"/,
    ],
    [
      'ExecuteBash without commands',
      (d) => (d.phases[0].steps[0].inputs = {} as never),
      /ExecuteBash needs inputs.commands/,
    ],
    [
      'a misspelt step key',
      (d) => ((d.phases[0].steps[0] as Record<string, unknown>).timeoutSecond = 60),
      /unknown key "timeoutSecond"/,
    ],
    [
      'a bad onFailure',
      (d) => ((d.phases[0].steps[0] as Record<string, unknown>).onFailure = 'Retry'),
      /onFailure must be Abort, Continue or Ignore/,
    ],
    [
      'a zero timeout',
      (d) => ((d.phases[0].steps[0] as Record<string, unknown>).timeoutSeconds = 0),
      /timeoutSeconds must be/,
    ],
    [
      'an undefined parameter',
      (d) => (d.parameters = []),
      /\{\{ Greeting \}\} is neither a parameter nor a constant/,
    ],
    [
      'a chaining expression to no step',
      (d) => (d.phases[0].steps[2].inputs = { commands: ['echo "{{ build.Sya.outputs.stdout }}"'] }),
      /refers to no step build.Sya/,
    ],
    ['a wrong schema version', (d) => (d.schemaVersion = 2), /schemaVersion must be 1.0/],
    [
      'a parameter without a type',
      (d) => (d.parameters = [{ Greeting: {} as never }]),
      /parameters Greeting must have type: string/,
    ],
    ['a misspelt top-level key', (d) => (d.phase = []), /unknown top-level key "phase"/],
    ['no phases', (d) => (d.phases = []), /phases must be a non-empty list/],
  ])('%s', (_, change, problem) => {
    expect(componentDocumentProblems(variant(change)).join('\n')).toMatch(problem);
  });
});

describe('RunnerImageComponent', () => {
  test('checks a document at synthesis, naming its problems', () => {
    const bad = YAML.stringify(variant((d) => (d.phases[0].steps[0].action = 'ExecuteBsh')));
    expect(() => RunnerImageComponent.fromDocument(bad)).toThrow(
      /is invalid: build.Say: unknown action "ExecuteBsh"/,
    );
    expect(() => RunnerImageComponent.fromDocument('phases: [')).toThrow(/is not valid YAML/);
  });

  test('reads a document from a file', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'component-')), 'mine.yml');
    fs.writeFileSync(file, YAML.stringify(valid));
    const c = RunnerImageComponent.fromFile(file, { Greeting: 'hi' });
    expect(c.document).toContain('ExecuteBash');
    expect(c.parameters).toEqual({ Greeting: 'hi' });
  });

  test('refers to an existing component by ARN', () => {
    const arn = 'arn:aws:imagebuilder:eu-west-1:aws:component/amazon-cloudwatch-agent-linux/x.x.x';
    expect(RunnerImageComponent.fromArn(arn)).toMatchObject({ arn, document: undefined, parameters: {} });
  });
});
