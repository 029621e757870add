/**
 * Generated hostile input thrown at the validator: whatever arrives, parsing never throws, and a
 * rejection always names its problems in sentences.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { parseSubmission, isValidSubmissionId } from '../src/index.js';
import { minimal, testPolicy } from './fixtures.js';

const policy = testPolicy();

function checkResult(input: Uint8Array | string | object): void {
  const result = parseSubmission(input, policy);
  if (result.ok) {
    expect(isValidSubmissionId(result.submission.id)).toBe(true);
    expect(result.submission.testCases.length).toBeGreaterThan(0);
    return;
  }
  expect(result.problems.length).toBeGreaterThan(0);
  for (const problem of result.problems) {
    expect(typeof problem.message).toBe('string');
    expect(problem.message.length).toBeGreaterThan(5);
  }
  if (result.id !== undefined) expect(isValidSubmissionId(result.id)).toBe(true);
}

/** A valid submission with one field replaced by something generated. */
const mutated = fc
  .record({
    key: fc.constantFrom(
      'id',
      'language',
      'code',
      'testCases',
      'timeLimitInMs',
      'memoryLimitInKb',
      'files',
      'checker',
      'settings',
      '__proto__',
      'constructor',
    ),
    value: fc.oneof(
      fc.anything(),
      fc.jsonValue(),
      fc.integer(),
      fc.double(),
      fc.string({ maxLength: 2000 }),
      fc.constantFrom(-1, 0, 1e308, Number.MAX_SAFE_INTEGER, '../../etc/passwd', 'a.b', '*', '>', ''),
    ),
  })
  .map(({ key, value }) => JSON.stringify({ ...minimal(), [key]: value }));

describe('fuzzed submissions', () => {
  it('random JSON values never make the parser throw', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => checkResult(JSON.stringify(value) ?? 'null')),
      {
        numRuns: 500,
      },
    );
  });

  it('random bytes (invalid UTF-8, binary junk) never make the parser throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => checkResult(bytes)),
      { numRuns: 500 },
    );
  });

  it('valid submissions with one field mutated are accepted or refused with reasons', () => {
    fc.assert(
      fc.property(mutated, (text) => checkResult(text)),
      { numRuns: 1000 },
    );
  });

  it('objects with prototype keys and odd values at any depth are refused without pollution', () => {
    fc.assert(
      fc.property(fc.anything({ withObjectString: true, withNullPrototype: true }), (value) =>
        checkResult({ ...minimal(), extra: value }),
      ),
      {
        numRuns: 300,
      },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
