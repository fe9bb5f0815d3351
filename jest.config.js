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
  'content-type',
];

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(ts|js|mjs)$': '<rootDir>/test/esbuild-transform.js' },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`, '<rootDir>/dist/'],
  // @octokit/webhooks-methods exports only under the "import" condition, which Jest's CommonJS
  // resolver does not use; point it at the file that condition names.
  moduleNameMapper: {
    '^@octokit/webhooks-methods$': '<rootDir>/node_modules/@octokit/webhooks-methods/dist-node/index.js',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  setupFiles: ['<rootDir>/test/jest-env.js'],
  testTimeout: 60000,
};
