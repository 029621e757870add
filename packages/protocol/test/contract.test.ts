import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_NAMES,
  VERDICTS,
  deadLetterSubject,
  isValidSubmissionId,
  overallVerdict,
  resultSubject,
  resultSubjectWildcard,
  type LanguageObject,
  type Submission,
  type TestResult,
  type Verdict,
} from '../src/index.js';

describe('subjects', () => {
  it('builds the per-submission result and dead-letter subjects from the defaults', () => {
    expect(resultSubject('abc-1')).toBe('submission.result.abc-1');
    expect(resultSubjectWildcard()).toBe('submission.result.>');
    expect(deadLetterSubject('abc_1')).toBe('submission.dead.abc_1');
    expect(resultSubject('x', 'tenant1.result')).toBe('tenant1.result.x');
  });

  it('refuses an id that would not be a single subject token', () => {
    for (const id of ['a.b', '*', '>', 'a b', '', 'x'.repeat(129)]) {
      expect(isValidSubmissionId(id)).toBe(false);
      expect(() => resultSubject(id)).toThrow(RangeError);
    }
    expect(isValidSubmissionId('x'.repeat(128))).toBe(true);
  });

  it('keeps the seed service names as defaults', () => {
    expect(DEFAULT_NAMES.submissionSubject).toBe('submission.created');
    expect(DEFAULT_NAMES.consumer).toBe('coderunner_prod_group');
  });
});

describe('verdicts', () => {
  it('keeps the seed spelling of the first six', () => {
    expect(VERDICTS.slice(0, 6)).toEqual([
      'success',
      'wrong_answer',
      'time_limit_exceeded',
      'memory_limit_exceeded',
      'runtime_error',
      'compile_error',
    ]);
  });

  const tests = (...statuses: Verdict[]) => statuses.map((status) => ({ status }));

  it('is the first non-success test verdict in test order', () => {
    expect(overallVerdict(tests('success', 'runtime_error', 'wrong_answer'))).toBe('runtime_error');
    expect(overallVerdict(tests('wrong_answer', 'skipped', 'skipped'))).toBe('wrong_answer');
  });

  it('is success only when every test succeeded', () => {
    expect(overallVerdict(tests('success', 'success'))).toBe('success');
  });

  it('is compile_error when compilation failed, and never success with no tests', () => {
    expect(overallVerdict([], { status: 'compile_error' })).toBe('compile_error');
    expect(overallVerdict([])).toBe('internal_error');
  });
});

describe('types derived from the schemas', () => {
  it('accept what the schema accepts and refuse what it refuses, at compile time', () => {
    // These lines are checked by `pnpm typecheck`: if a schema and its type drift apart, an
    // expected error disappears (or a new one appears) and the build fails.
    const ok: Submission = { id: 'a', language: 'c', code: '', testCases: [{}] };
    // @ts-expect-error code is required by the schema
    const noCode: Submission = { id: 'a', language: 'c', testCases: [{}] };
    // @ts-expect-error timeLimitInMs is an integer in the schema, not a string
    const badLimit: Submission = { ...ok, timeLimitInMs: '1' };
    // @ts-expect-error a test event's status is a test verdict, never compile_error
    const badStatus: TestResult['status'] = 'compile_error';
    const seedLanguage: LanguageObject = { id: 'go', runCommand: './main' };
    expect([ok, noCode, badLimit, badStatus, seedLanguage]).toHaveLength(5);
  });
});
