// Every package's tests in one run, with one closing summary line.
export default {
  projects: ['<rootDir>/packages/*/jest.config.mjs'],
  reporters: ['default', '<rootDir>/scripts/lib/summary-reporter.cjs'],
  // A global option (ignored per project): integration tests compile and run real programs.
  testTimeout: 60_000,
  // Test files share the host's cgroups, slot uids and CPUs: one at a time keeps timings honest.
  maxWorkers: 1,
};
