// CI: synthesizes the default app (bin/app.ts, built into dist/) against the lowest aws-cdk-lib that
// package.json's peerDependencies accept, installed from the npm registry into a temporary directory,
// and checks that it makes the same resources as the aws-cdk-lib the tests run on. Run after
// `npm run build`; takes about half a minute, most of it the download.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const range = pkg.peerDependencies['aws-cdk-lib'];
const lowest = /^\^(\d+\.\d+\.\d+)$/.exec(range)?.[1];
if (!lowest)
  throw new Error(`peerDependencies.aws-cdk-lib is ${range}: expected ^x.y.z, whose x.y.z is the lowest`);

const dir = mkdtempSync(join(tmpdir(), 'lowest-cdk-'));
try {
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'lowest-cdk-synth',
      private: true,
      dependencies: {
        'aws-cdk-lib': lowest,
        constructs: pkg.devDependencies.constructs,
        ...pkg.dependencies,
      },
    }),
  );
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // The built library, app and bundles in the layout the package has, so that the library finds its
  // files as it does when installed, and resolves aws-cdk-lib from the temporary directory.
  for (const part of ['dist/lib', 'dist/bin', 'dist/assets', 'dist/lambda/core', 'image-builder']) {
    cpSync(join(root, part), join(dir, part), { recursive: true });
  }

  const synth = (cwd, outdir) => {
    execFileSync(process.execPath, ['dist/bin/app.js'], {
      cwd,
      env: { ...process.env, CDK_OUTDIR: outdir },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const template = JSON.parse(readFileSync(join(outdir, 'EphemeralRunnersStack.template.json'), 'utf8'));
    const tree = readFileSync(join(outdir, 'tree.json'), 'utf8');
    const versions = [...new Set([...tree.matchAll(/"version":\s*"(2\.\d+\.\d+)"/g)].map((m) => m[1]))];
    const resources = Object.entries(template.Resources).map(([id, r]) => `${id} ${r.Type}`);
    return { versions, resources: resources.sort() };
  };
  const low = synth(dir, join(dir, 'out-lowest'));
  const tested = synth(root, join(dir, 'out-tested'));

  const problems = [];
  if (low.versions.join() !== lowest) {
    problems.push(`the lowest synthesis ran on aws-cdk-lib ${low.versions.join(', ')}, not ${lowest}`);
  }
  const missing = tested.resources.filter((r) => !low.resources.includes(r));
  const extra = low.resources.filter((r) => !tested.resources.includes(r));
  if (missing.length > 0) problems.push(`missing with ${lowest}:\n  ${missing.join('\n  ')}`);
  if (extra.length > 0) problems.push(`only with ${lowest}:\n  ${extra.join('\n  ')}`);
  if (problems.length > 0) {
    console.error(
      `The default app synthesizes differently with aws-cdk-lib ${lowest} (peerDependencies ${range}) ` +
        `than with ${tested.versions.join(', ')}:\n${problems.join('\n')}`,
    );
    process.exit(1);
  }
  console.log(
    `aws-cdk-lib ${lowest}, the lowest of ${range}: the default app synthesizes the same ${low.resources.length} ` +
      `resources as with ${tested.versions.join(', ')}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
