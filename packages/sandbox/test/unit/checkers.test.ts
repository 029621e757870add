import { describe, expect, it } from '@jest/globals';
import type { Checker } from '@coderunner/protocol';
import { check } from '../../src/checkers.js';

const exact: Checker = { type: 'exact' };
const lines: Checker = { type: 'lines', ignoreCase: false };
const linesIgnoreCase: Checker = { type: 'lines', ignoreCase: true };
const tokens: Checker = { type: 'tokens', ignoreCase: false };
const tokensIgnoreCase: Checker = { type: 'tokens', ignoreCase: true };

function float(absoluteEpsilon: number, relativeEpsilon: number): Checker {
  return { type: 'float', absoluteEpsilon, relativeEpsilon };
}

function settings(trim: boolean, caseSensitive: boolean, whitespace: boolean): Checker {
  return { type: 'settings', trim, caseSensitive, whitespace };
}

describe('exact checker', () => {
  it('accepts byte-for-byte equal outputs without a message', () => {
    expect(check(exact, 'Hello\nWorld\n', 'Hello\nWorld\n')).toEqual({ ok: true });
  });

  it('rejects a missing trailing newline and says where', () => {
    expect(check(exact, 'a\n', 'a')).toEqual({
      ok: false,
      message: 'outputs differ at character 2 (line 1): expected "a\\n", got "a"',
    });
  });

  it('rejects trailing spaces and CRLF line ends', () => {
    expect(check(exact, 'a', 'a ').ok).toBe(false);
    expect(check(exact, 'a\nb\n', 'a\r\nb\r\n').ok).toBe(false);
  });

  it('is case sensitive', () => {
    expect(check(exact, 'yes', 'YES').ok).toBe(false);
  });

  it('names the character and line of the first difference', () => {
    const result = check(exact, 'one\ntwo\nthree\n', 'one\ntwo\nthreX\n');
    expect(result.ok).toBe(false);
    expect(result.message).toBe(
      'outputs differ at character 13 (line 3): expected "e\\ntwo\\nthree\\n", got "e\\ntwo\\nthreX\\n"',
    );
  });

  it('counts a difference right after a newline as being on the next line', () => {
    expect(check(exact, 'a\nb', 'a\nc').message).toMatch(/^outputs differ at character 3 \(line 2\):/);
  });

  it('shows an empty output as an empty string', () => {
    expect(check(exact, 'x', '').message).toBe(
      'outputs differ at character 1 (line 1): expected "x", got ""',
    );
  });

  it('shows only a short window around a difference far into a long output', () => {
    const prefix = 'a'.repeat(1000);
    const result = check(exact, `${prefix}b${'c'.repeat(1000)}`, `${prefix}X${'c'.repeat(1000)}`);
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/^outputs differ at character 1001 \(line 1\): /);
    // 10 characters before the difference and 30 from it, no more.
    expect(result.message).toContain(`expected "${'a'.repeat(10)}b${'c'.repeat(29)}"`);
    expect(result.message).toContain(`got "${'a'.repeat(10)}X${'c'.repeat(29)}"`);
  });
});

describe('lines checker', () => {
  it('ignores trailing whitespace on each line', () => {
    expect(check(lines, 'a\nb\n', 'a  \nb\t\n')).toEqual({ ok: true });
  });

  it('ignores trailing blank lines, on either side', () => {
    expect(check(lines, 'a\n', 'a\n\n\n').ok).toBe(true);
    expect(check(lines, 'a\n\n  \n', 'a').ok).toBe(true);
  });

  it('accepts CRLF line ends for LF ones', () => {
    expect(check(lines, 'a\nb\n', 'a\r\nb\r\n').ok).toBe(true);
  });

  it('accepts whitespace-only output for an empty expected output', () => {
    expect(check(lines, '', '\n \n\t\n').ok).toBe(true);
  });

  it('keeps leading whitespace significant', () => {
    expect(check(lines, 'a', ' a')).toEqual({ ok: false, message: 'line 1: expected "a", got " a"' });
  });

  it('keeps blank lines between lines significant', () => {
    expect(check(lines, 'a\n\nb', 'a\nb')).toEqual({ ok: false, message: 'line 2: expected "", got "b"' });
  });

  it('names the first differing line', () => {
    expect(check(lines, 'a\nb\nc\n', 'a\nc\nc\n')).toEqual({
      ok: false,
      message: 'line 2: expected "b", got "c"',
    });
  });

  it('reports a missing line as "nothing"', () => {
    expect(check(lines, 'a\nb\n', 'a\n')).toEqual({
      ok: false,
      message: 'line 2: expected "b", got nothing',
    });
  });

  it('reports an extra line as "nothing" expected', () => {
    expect(check(lines, 'a\n', 'a\nb\n')).toEqual({
      ok: false,
      message: 'line 2: expected nothing, got "b"',
    });
  });

  it('is case sensitive unless ignoreCase is set', () => {
    expect(check(lines, 'Hello World', 'hello world').ok).toBe(false);
    expect(check(linesIgnoreCase, 'Hello World', 'hello WORLD').ok).toBe(true);
  });

  it('does not fold whitespace inside a line', () => {
    expect(check(lines, 'a b', 'a  b').ok).toBe(false);
  });

  it('shortens long lines in the message', () => {
    const result = check(lines, 'x'.repeat(100), 'y'.repeat(100));
    expect(result.message).toBe(`line 1: expected "${'x'.repeat(60)}…", got "${'y'.repeat(60)}…"`);
  });
});

describe('tokens checker', () => {
  it('compares whitespace-separated tokens, however they are spaced', () => {
    expect(check(tokens, '1 2\n3\n', '  1\n2    3 \n\n')).toEqual({ ok: true });
  });

  it('names the first differing token', () => {
    expect(check(tokens, '1 2 3', '1 2 4')).toEqual({ ok: false, message: 'token 3: expected "3", got "4"' });
  });

  it('reports missing and extra tokens', () => {
    expect(check(tokens, '1 2', '1')).toEqual({ ok: false, message: 'token 2: expected "2", got nothing' });
    expect(check(tokens, '1', '1 2')).toEqual({ ok: false, message: 'token 2: expected nothing, got "2"' });
  });

  it('does not split tokens: "12" is not "1 2"', () => {
    expect(check(tokens, '1 2', '12').ok).toBe(false);
  });

  it('is case sensitive unless ignoreCase is set', () => {
    expect(check(tokens, 'YES', 'yes').ok).toBe(false);
    expect(check(tokensIgnoreCase, 'YES no', 'yes NO').ok).toBe(true);
  });

  it('accepts empty output for an empty expected output', () => {
    expect(check(tokens, '', ' \n ').ok).toBe(true);
    expect(check(tokens, '', 'x')).toEqual({ ok: false, message: 'token 1: expected nothing, got "x"' });
  });
});

describe('float checker', () => {
  it('accepts numbers within the absolute epsilon', () => {
    expect(check(float(1e-6, 0), '1.0', '1.0000005')).toEqual({ ok: true });
  });

  it('rejects numbers outside both epsilons and names the token', () => {
    expect(check(float(1e-6, 1e-6), '1 2.5', '1 2.51')).toEqual({
      ok: false,
      message: 'token 2: expected "2.5", got "2.51"',
    });
  });

  it('accepts a difference equal to the absolute epsilon', () => {
    expect(check(float(0.5, 0), '1', '1.5').ok).toBe(true);
    expect(check(float(0.25, 0), '1', '1.5').ok).toBe(false);
  });

  it('accepts numbers within the relative epsilon of the expected value', () => {
    expect(check(float(0, 1e-6), '1000000000', '1000000900').ok).toBe(true);
    expect(check(float(0, 1e-6), '1000000000', '1000002000').ok).toBe(false);
  });

  it('measures the relative epsilon against the expected value, not the output', () => {
    // |100 - 200| = 100: within 0.6 × 200 but not within 0.6 × 100.
    expect(check(float(0, 0.6), '100', '200').ok).toBe(false);
    expect(check(float(0, 0.6), '200', '100').ok).toBe(true);
  });

  it('accepts a number when either epsilon allows it', () => {
    expect(check(float(1e-3, 0), '0', '0.0005').ok).toBe(true);
    expect(check(float(0, 1e-3), '0', '0.0005').ok).toBe(false);
    expect(check(float(1e-3, 1e-6), '0', '0.0005').ok).toBe(true);
  });

  it('reads the usual number forms', () => {
    const c = float(1e-9, 0);
    expect(check(c, '0.5', '.5').ok).toBe(true);
    expect(check(c, '5', '5.').ok).toBe(true);
    expect(check(c, '1000', '1e3').ok).toBe(true);
    expect(check(c, '0.001', '1E-3').ok).toBe(true);
    expect(check(c, '1', '+1').ok).toBe(true);
    expect(check(c, '-0', '0').ok).toBe(true);
    expect(check(c, '-2.5', '-2.50000').ok).toBe(true);
  });

  it('does not read hexadecimal, binary or padded forms as numbers', () => {
    const c = float(1e-9, 1e-9);
    expect(check(c, '16', '0x10').ok).toBe(false);
    expect(check(c, '2', '0b10').ok).toBe(false);
    expect(check(c, '1', '1_0').ok).toBe(false);
  });

  it('matches infinities by sign, whatever their spelling', () => {
    const c = float(1e-6, 1e-6);
    expect(check(c, 'inf', 'Infinity').ok).toBe(true);
    expect(check(c, '-INF', '-infinity').ok).toBe(true);
    expect(check(c, '+inf', 'inf').ok).toBe(true);
    expect(check(c, 'inf', '-inf').ok).toBe(false);
    expect(check(c, 'inf', '1e308').ok).toBe(false);
    expect(check(c, '1e308', 'inf').ok).toBe(false);
  });

  it('matches NaN only with NaN, whatever its spelling', () => {
    const c = float(1, 1);
    expect(check(c, 'nan', 'NaN').ok).toBe(true);
    expect(check(c, 'NAN', '-nan').ok).toBe(true);
    expect(check(c, 'nan', '0').ok).toBe(false);
    expect(check(c, '0', 'nan').ok).toBe(false);
    expect(check(c, 'nan', 'inf').ok).toBe(false);
  });

  it('compares non-numeric tokens as exact strings', () => {
    const c = float(1e-6, 1e-6);
    expect(check(c, 'Case #1: 0.5', 'Case #1: 0.5000001').ok).toBe(true);
    expect(check(c, 'YES 1.0', 'yes 1.0')).toEqual({
      ok: false,
      message: 'token 1: expected "YES", got "yes"',
    });
    expect(check(c, '1.0', 'one')).toEqual({ ok: false, message: 'token 1: expected "1.0", got "one"' });
    expect(check(c, 'abc', '1').ok).toBe(false);
  });

  it('splits on any whitespace and reports a different count of numbers', () => {
    const c = float(1e-6, 1e-6);
    expect(check(c, '1.0 2.0\n', '1.0\n2.0').ok).toBe(true);
    expect(check(c, '1.0 2.0', '1.0')).toEqual({
      ok: false,
      message: 'token 2: expected "2.0", got nothing',
    });
  });
});

describe('settings checker', () => {
  it('with the seed defaults (trim, case sensitive, whitespace kept) trims only the ends', () => {
    const c = settings(true, true, true);
    expect(check(c, 'a b\n', '  a b  \n\n')).toEqual({ ok: true });
    expect(check(c, 'a b', 'a  b').ok).toBe(false);
    expect(check(c, 'a\nb', 'a\n b').ok).toBe(false);
    expect(check(c, 'Yes', 'yes').ok).toBe(false);
  });

  it('without trim keeps leading and trailing whitespace significant', () => {
    const c = settings(false, true, true);
    expect(check(c, 'a\n', 'a').ok).toBe(false);
    expect(check(c, 'a', ' a').ok).toBe(false);
    expect(check(c, 'a\n', 'a\n').ok).toBe(true);
  });

  it('without case sensitivity folds case', () => {
    const c = settings(true, false, true);
    expect(check(c, 'Hello World', 'hELLO wORLD').ok).toBe(true);
    expect(check(c, 'Hello World', 'hello  world').ok).toBe(false);
  });

  it('without whitespace folds every run of whitespace, newlines included, into one space', () => {
    const c = settings(true, true, false);
    expect(check(c, 'a b c', 'a \t b\n\nc').ok).toBe(true);
    expect(check(c, 'a b', 'ab').ok).toBe(false);
  });

  it('without trim nor whitespace still tells a trailing whitespace run from none', () => {
    const c = settings(false, true, false);
    expect(check(c, 'a b\n', 'a  b \t\n').ok).toBe(true);
    expect(check(c, 'a b\n', 'a b').ok).toBe(false);
  });

  it('names the first difference of the compared texts', () => {
    expect(check(settings(true, true, true), 'abc', 'abd')).toEqual({
      ok: false,
      message: 'outputs differ at character 3 (line 1): expected "abc", got "abd"',
    });
  });
});
