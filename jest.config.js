// Jest runs the TypeScript sources through esbuild (test/esbuild-transform.js). Octokit's packages
// ship as ES modules only, so they are transformed too; everything else in node_modules is CommonJS.
const esmOnly = [
  '@octokit',
  'universal-user-agent',
  'universal-github-app-jwt',
  'before-after-hook',
  'toad-cache',
  'fast-content-type-parse',
  'json-with-bigint',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(ts|js|mjs)$': '<rootDir>/test/esbuild-transform.js' },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  testTimeout: 60000,
};
