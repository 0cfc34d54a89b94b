// Jest runs ESM under `node --experimental-vm-modules` (see `npm test`), transforming
// TypeScript with @swc/jest; the library is loaded from source through the `nestjs-redis-shield:source`
// export condition, so tests never depend on a stale build of it.

/** Roots every project searches: a test file anywhere in these is collected. */
const roots = ['<rootDir>/src', '<rootDir>/libs', '<rootDir>/test'];

const shared = {
  rootDir: import.meta.dirname,
  roots,
  testEnvironment: 'node',
  testEnvironmentOptions: { customExportConditions: ['nestjs-redis-shield:source', 'node', 'node-addons'] },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  setupFiles: ['<rootDir>/test/harness/forbid-default-redis.ts'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // Mercurius loads @fastify/static, which requires its own content-disposition 3 (ESM only):
    // Node >= 20.19 requires ESM, Jest before Node 24.9 cannot. The CommonJS 2.x beside
    // Express has the same `create`.
    '^content-disposition$': '<rootDir>/node_modules/content-disposition/dist/index.js',
  },
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2023',
          keepClassNames: true,
        },
        module: { type: 'es6' },
      },
    ],
  },
};

/**
 * Four tiers, told apart by file suffix: `*.spec.ts` unit (pure logic, fakes allowed),
 * `*.int-spec.ts` integration (real redis-server processes), `*.e2e-spec.ts` end to end
 * (the demo app over HTTP, child processes, packaging), `*.fault-spec.ts` fault injection
 * (Redis killed, stalled, failed over, out of memory; each file shares one topology across
 * its tests). `test/repo-consistency.spec.ts` fails if a test-like file matches no tier.
 */
export const projects = [
  { ...shared, displayName: 'unit', testRegex: '\\.spec\\.ts$' },
  { ...shared, displayName: 'integration', testRegex: '\\.int-spec\\.ts$' },
  { ...shared, displayName: 'e2e', testRegex: '\\.e2e-spec\\.ts$' },
  { ...shared, displayName: 'fault', testRegex: '\\.fault-spec\\.ts$' },
];

export default {
  projects,
  // A hang guard, not a speed bound: a full parallel run slows the start of redis-server
  // processes and apps well past jest's 5 s default. (Jest reads it globally, not per project.)
  testTimeout: 30_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
