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

/**
 * The SDK's ES module builds load a few Node built-ins lazily with `import()` (node:http for plain
 * http endpoints, for one). Rewritten to a bundled `require`, the bundle runs the same wherever it
 * is loaded, including under Jest, whose module sandbox has no dynamic-import hook.
 */
const builtinDynamicImports = {
  name: 'builtin-dynamic-imports',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) =>
      args.kind === 'dynamic-import' ? { path: args.path, namespace: 'node-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

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
      // The AWS SDK is bundled too: the version we test is the version that runs. Its ES module
      // builds let esbuild drop the commands we never send: the bundle is ~40% smaller and loads
      // ~40% faster than from the CommonJS builds (see `npm run bench`, coldInitMs).
      mainFields: ['module', 'main'],
      plugins: [builtinDynamicImports],
      logLevel: 'warning',
    }),
  ),
);
console.log(`bundled ${handlers.length} Lambda handler(s): ${handlers.join(', ')}`);
