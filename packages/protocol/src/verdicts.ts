/**
 * Verdicts of a test and of a whole submission. The first six are the seed service's and keep
 * its spelling.
 */
export const VERDICTS = [
  'success',
  'wrong_answer',
  'time_limit_exceeded',
  'memory_limit_exceeded',
  'runtime_error',
  'compile_error',
  'output_limit_exceeded',
  'skipped',
  'invalid_submission',
  'internal_error',
] as const;

export type Verdict = (typeof VERDICTS)[number];

/** Verdicts a single test run can get. */
export const TEST_VERDICTS = [
  'success',
  'wrong_answer',
  'time_limit_exceeded',
  'memory_limit_exceeded',
  'runtime_error',
  'output_limit_exceeded',
  'skipped',
] as const satisfies readonly Verdict[];

export type TestVerdict = (typeof TEST_VERDICTS)[number];

export function isVerdict(value: unknown): value is Verdict {
  return typeof value === 'string' && (VERDICTS as readonly string[]).includes(value);
}

/**
 * The overall verdict of a submission: the first non-`success` test verdict in test order,
 * else `success`. A compile error decides on its own, and a submission with no test results
 * cannot be called a success.
 */
export function overallVerdict(
  tests: readonly { status: Verdict }[],
  compile?: { status: 'success' | 'compile_error' } | null,
): Verdict {
  if (compile?.status === 'compile_error') return 'compile_error';
  for (const test of tests) {
    if (test.status !== 'success') return test.status;
  }
  return tests.length > 0 ? 'success' : 'internal_error';
}
