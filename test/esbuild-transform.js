// A Jest transformer backed by esbuild: TypeScript and ES modules in, CommonJS out.
// Type checking is `npm run typecheck`'s job; this only strips types, fast.
const { transformSync } = require('esbuild');
const path = require('path');

module.exports = {
  process(source, filename) {
    const ext = path.extname(filename);
    const { code, map } = transformSync(source, {
      loader: ext === '.ts' ? 'ts' : 'js',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'inline',
      sourcefile: filename,
    });
    return { code, map };
  },
  getCacheKey(source, filename) {
    return require('crypto')
      .createHash('sha256')
      .update(filename)
      .update('\0')
      .update(source)
      .update('v1')
      .digest('hex');
  },
};
