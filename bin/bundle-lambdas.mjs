// Pre-bundles every Lambda handler (lambda/<name>/index.ts) into dist/assets/<name>/, so that users of
// the library synthesize without esbuild or Docker. Run by `npm run build`.
import { build, transform } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lambdaDir = join(root, 'lambda');
const handlers = readdirSync(lambdaDir).filter(
  (name) => statSync(join(lambdaDir, name)).isDirectory() && existsSync(join(lambdaDir, name, 'index.ts')),
);

/**
 * One handler into `dist/assets/<name>/`: `index.js` and the chunks it requires beside itself.
 *
 * Code that is imported with `import()` becomes a chunk of its own, read only when first needed:
 * the runtime imports the launch path's clients (the EC2 client's schema and Octokit, most of the
 * code) that way, so a delivery that launches nothing never reads, parses or evaluates them (see
 * `npm run bench -- --only coldstart`); the SDK's rarely used credential providers are chunks too.
 * Code that both sides use (the SDK's core) is in shared chunks, evaluated once. esbuild splits only
 * ES modules, so each file is then turned into CommonJS, with `import()` as `require`: the bundle
 * runs the same wherever it is loaded, including where there is no dynamic-import hook (Jest's
 * module sandbox, the tests' containers).
 */
async function bundle(name) {
  const outdir = join(root, 'dist', 'assets', name);
  const result = await build({
    entryPoints: { index: join(lambdaDir, name, 'index.ts') },
    outdir,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    // The AWS SDK is bundled too: the version we test is the version that runs. Its ES module
    // builds let esbuild drop the commands we never send: the code is ~40% smaller and loads ~40%
    // faster than from the CommonJS builds.
    mainFields: ['module', 'main'],
    write: false,
    logLevel: 'warning',
  });
  // A clean directory: chunk names change with their content, and the directory is the Lambda's asset.
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  for (const file of result.outputFiles) {
    const { code } = await transform(file.text, {
      format: 'cjs',
      platform: 'node',
      target: 'node22',
      minify: true,
      supported: { 'dynamic-import': false },
    });
    writeFileSync(file.path, code);
  }
  return result.outputFiles.length;
}

const files = await Promise.all(handlers.map(bundle));
console.log(
  `bundled ${handlers.length} Lambda handler(s): ${handlers.map((h, i) => `${h} (${files[i]} files)`).join(', ')}`,
);
