// Runs the benchmark: bundles test/bench/bench.ts with esbuild (it imports the TypeScript local
// cloud) into .bench/ (or $BENCH_OUT, a folder inside the project such as .bench/b, so that two
// runs can go side by side: the bundle finds node_modules from there) and runs it with the
// same Node, passing the arguments through.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = resolve(root, process.env.BENCH_OUT ?? '.bench');
const outfile = join(outDir, 'bench.cjs');
await build({
  entryPoints: [join(root, 'test', 'bench', 'bench.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Octokit's packages are ES modules only: bundle them; dynalite has native parts: leave it to Node.
  external: ['dynalite', '@aws-sdk/*', '@smithy/*'],
  logLevel: 'warning',
  define: { __dirname: JSON.stringify(join(root, 'test', 'bench')) },
});
// The handlers are loaded from a copy of the built bundles: a rebuild during a run cannot mix versions.
const bundles = join(outDir, 'assets');
rmSync(bundles, { recursive: true, force: true });
cpSync(join(root, 'dist', 'assets'), bundles, { recursive: true });
const run = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', BUNDLES_DIR: bundles },
});
process.exit(run.status ?? 1);
