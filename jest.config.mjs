// Every package's tests in one run, with one closing summary line.
export default {
  projects: ['<rootDir>/packages/*/jest.config.mjs'],
  reporters: ['default', '<rootDir>/scripts/lib/summary-reporter.cjs'],
};
