/**
 * Every result event fits the server's max payload: outputs are cut to UTF-8-safe excerpts and
 * flagged, a final with 1,000 tests of large output still encodes within the limit, and the
 * quick size bound that spares serializing small finals never says less than the real size.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { encodeEvent, type FinalEvent, type TestResult } from '@coderunner/protocol';
import { boundFinal, boundTest, cutUtf8, sizeBound } from '../src/event-size.js';

const test = (i: number, output: string): TestResult => ({
  testCaseId: `t${i}`,
  index: i,
  status: 'success',
  timeUsedInMs: 1,
  wallTimeInMs: 2,
  memoryUsedInKb: 1024,
  exitCode: 0,
  signal: null,
  output,
  error: '',
});

const final = (tests: TestResult[]): FinalEvent => ({
  type: 'final',
  submissionId: 'big',
  attempt: 1,
  workerId: 'w',
  at: new Date().toISOString(),
  status: 'success',
  tests,
  compile: { status: 'success', output: '', timeInMs: 0, cached: true },
  passed: tests.length,
  total: tests.length,
  maxTimeUsedInMs: 1,
  maxMemoryUsedInKb: 1024,
});

describe('cutUtf8', () => {
  it('keeps at most the bytes asked for, never half a character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(64), (text, max) => {
        const cut = cutUtf8(text, max);
        expect(Buffer.byteLength(cut, 'utf8')).toBeLessThanOrEqual(Math.max(max, 0));
        expect(cut.includes('\uFFFD') && !text.includes('\uFFFD')).toBe(false);
        if (Buffer.byteLength(text, 'utf8') <= max) expect(cut).toBe(text);
      }),
    );
    expect(cutUtf8('héllo', 2)).toBe('h');
  });
});

describe('boundTest', () => {
  it('returns a test that fits as it is, and flags one it cut', () => {
    const small = test(0, 'hello\n');
    expect(boundTest(small, 100)).toBe(small);
    const cut = boundTest(test(0, 'x'.repeat(500)), 100);
    expect(cut.output).toHaveLength(100);
    expect(cut.truncated).toBe(true);
  });
});

describe('boundFinal', () => {
  it('leaves a final that fits as it is, without the flag', () => {
    const event = final([test(0, 'hello\n')]);
    expect(boundFinal(event, 65_536, 1_048_576)).toEqual(event);
  });

  it('cuts 1,000 tests of 64 KiB output each to excerpts that fit the max payload', () => {
    const event = final(Array.from({ length: 1000 }, (_, i) => test(i, 'é'.repeat(32_768))));
    const bounded = boundFinal(event, 65_536, 1_048_576);
    expect(encodeEvent(bounded).length).toBeLessThanOrEqual(1_048_576);
    expect(bounded.truncated).toBe(true);
    expect(bounded.tests).toHaveLength(1000);
    expect(bounded.tests.every((t) => t.truncated === true && t.output.length < 32_768)).toBe(true);
    expect(bounded.tests[999]?.output.startsWith('é')).toBe(true);
  });
});

describe('sizeBound', () => {
  it('is never less than the size of the JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(sizeBound(value)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(value), 'utf8'));
      }),
      { numRuns: 500 },
    );
    for (const text of ['\u0001', '\ud800', '"\\', '😀', 'é'])
      expect(sizeBound(text)).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(text), 'utf8'));
  });
});
