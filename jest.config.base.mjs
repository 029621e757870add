// Shared Jest settings: the packages are native ES modules, so tests run under Node's VM-modules
// support and ts-jest compiles TypeScript to ESM (transpile only: `pnpm typecheck` checks types).
/** @param {string} dir the package directory */
export function jestConfig(dir) {
  return {
    rootDir: dir,
    testEnvironment: 'node',
    extensionsToTreatAsEsm: ['.ts'],
    moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
    transform: {
      '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: `${dir}/test/tsconfig.json` }],
    },
    testMatch: ['<rootDir>/test/**/*.test.ts'],
    // Integration tests compile and run real programs under real limits.
    testTimeout: 60_000,
  };
}
