/**
 * What a user installs: everything the compiled library requires at synth time is in the package's
 * files or its (peer) dependencies, and no build tool is needed. Runs on the output of `npm run build`.
 */
import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const root = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : [],
  );
}

const libFiles = jsFiles(join(root, 'dist', 'lib'));
const requires = libFiles.flatMap((file) =>
  [...readFileSync(file, 'utf8').matchAll(/require\("([^"]+)"\)/g)].map((m) => ({ file, target: m[1] })),
);
const shipped = (file: string) => pkg.files.some((f: string) => relative(root, file).startsWith(f));

test('the compiled library exists (npm run build ran)', () => {
  expect(libFiles.length).toBeGreaterThan(5);
});

test('every package the library requires is a dependency or a peer dependency', () => {
  const declared = new Set([
    ...Object.keys(pkg.dependencies ?? {}),
    ...Object.keys(pkg.peerDependencies ?? {}),
  ]);
  const packages = requires
    .map((r) => r.target)
    .filter((t) => !t.startsWith('.') && !t.startsWith('node:') && !builtinModules.includes(t))
    .map((t) => (t.startsWith('@') ? t.split('/').slice(0, 2).join('/') : t.split('/')[0]));
  expect([...new Set(packages)].filter((p) => !declared.has(p))).toEqual([]);
  expect(declared.has('esbuild')).toBe(false); // users synthesize without a bundler
});

test('every file the library requires, and the Lambda bundles and image documents it reads, ship', () => {
  for (const { file, target } of requires.filter((r) => r.target.startsWith('.'))) {
    const resolved = join(dirname(file), target);
    const candidates = [resolved, `${resolved}.js`, join(resolved, 'index.js')];
    const found = candidates.find((c) => existsSync(c));
    expect({ target, found: found !== undefined, shipped: found ? shipped(found) : false }).toEqual({
      target,
      found: true,
      shipped: true,
    });
  }
  for (const handler of ['webhook', 'retry', 'reconcile']) {
    expect(shipped(join(root, 'dist', 'assets', handler, 'index.js'))).toBe(true);
  }
  expect(shipped(join(root, 'image-builder', 'boot', 'runner-boot.sh'))).toBe(true);
});
