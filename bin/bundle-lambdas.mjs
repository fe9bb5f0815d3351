// Pre-bundles every Lambda handler (lambda/<name>/index.ts) into dist/assets/<name>/index.js, so that
// users of the library synthesize without esbuild or Docker. Run by `npm run build`.
import { build } from 'esbuild';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lambdaDir = join(root, 'lambda');
const handlers = readdirSync(lambdaDir).filter(
  (name) => statSync(join(lambdaDir, name)).isDirectory() && existsSync(join(lambdaDir, name, 'index.ts')),
);

await Promise.all(
  handlers.map((name) =>
    build({
      entryPoints: [join(lambdaDir, name, 'index.ts')],
      outfile: join(root, 'dist', 'assets', name, 'index.js'),
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      sourcemap: false,
      legalComments: 'none',
      // The AWS SDK is bundled too: the version we test is the version that runs.
      logLevel: 'warning',
    }),
  ),
);
console.log(`bundled ${handlers.length} Lambda handler(s): ${handlers.join(', ')}`);
