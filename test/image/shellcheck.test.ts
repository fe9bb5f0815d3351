// Every shell script under image-builder/, and every inline ExecuteBash script of the component
// documents, is shellcheck-clean.
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';

const ROOT = path.join(__dirname, '..', '..', 'image-builder');

function files(dir: string, suffix: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, suffix) : e.name.endsWith(suffix) ? [p] : [];
  });
}

function shellcheck(file: string): string {
  const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', file], { encoding: 'utf8' });
  return r.status === 0 ? '' : `${r.stdout}${r.stderr}`;
}

const inlineScripts = files(path.join(ROOT, 'components'), '.yml').flatMap((file) => {
  const doc = YAML.parse(fs.readFileSync(file, 'utf8'));
  return doc.phases.flatMap(
    (phase: { name: string; steps: { name: string; action: string; inputs: { commands?: string[] } }[] }) =>
      phase.steps
        .filter((s) => s.action === 'ExecuteBash')
        .flatMap((s) =>
          (s.inputs.commands ?? []).map((c) => ({
            id: `${path.basename(file)} ${phase.name}.${s.name}`,
            script: c,
          })),
        ),
  );
});

beforeAll(() => {
  try {
    execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('shellcheck is not installed: `apt-get install shellcheck` (.ci/run installs it)');
  }
});

test('there are scripts to check', () => {
  expect(files(ROOT, '.sh').map((f) => path.relative(ROOT, f))).toContain(
    path.join('boot', 'runner-boot.sh'),
  );
  expect(inlineScripts.length).toBeGreaterThan(10);
});

test.each(files(ROOT, '.sh').map((f) => path.relative(ROOT, f)))('%s is shellcheck-clean', (file) => {
  expect(shellcheck(path.join(ROOT, file))).toBe('');
});

test.each(inlineScripts.map((s) => [s.id, s.script]))(
  'inline script %s is shellcheck-clean',
  (id, script) => {
    // Image Builder substitutes {{ Parameter }} before bash sees the script; a placeholder stands in.
    const file = path.join(
      fs.mkdtempSync(path.join(os.tmpdir(), 'inline-')),
      `${id.replace(/\W+/g, '-')}.sh`,
    );
    fs.writeFileSync(file, `#!/bin/bash\n${script.replace(/\{\{\s*([^}]*?)\s*\}\}/g, 'PARAMETER_$1')}`);
    expect(shellcheck(file)).toBe('');
  },
);
