/**
 * Output checkers: whether a program's output matches the expected output, and where it first
 * differs when it does not.
 */
import type { Checker } from '@coderunner/protocol';

export interface CheckResult {
  ok: boolean;
  /** Where the outputs first differ, for a person to read. */
  message?: string;
}

const PREVIEW = 60;

function show(text: string | undefined): string {
  if (text === undefined) return 'nothing';
  return JSON.stringify(text.length > PREVIEW ? `${text.slice(0, PREVIEW)}…` : text);
}

function significantLines(text: string, ignoreCase: boolean): string[] {
  const lines = text.split('\n').map((line) => line.replace(/\s+$/, ''));
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  return ignoreCase ? lines.map((line) => line.toLowerCase()) : lines;
}

function compareSequences(
  kind: 'line' | 'token',
  expected: string[],
  actual: string[],
  equal = (e: string, a: string) => e === a,
): CheckResult {
  const length = Math.max(expected.length, actual.length);
  for (let i = 0; i < length; i++) {
    const e = expected[i];
    const a = actual[i];
    if (e === undefined || a === undefined || !equal(e, a)) {
      return { ok: false, message: `${kind} ${i + 1}: expected ${show(e)}, got ${show(a)}` };
    }
  }
  return { ok: true };
}

function tokens(text: string, ignoreCase = false): string[] {
  const list = text.split(/\s+/).filter((t) => t !== '');
  return ignoreCase ? list.map((t) => t.toLowerCase()) : list;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i;

function numbersClose(expected: string, actual: string, absolute: number, relative: number): boolean {
  if (expected === actual) return true;
  if (!NUMBER.test(expected) || !NUMBER.test(actual)) return false;
  const e = Number(expected.replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'));
  const a = Number(actual.replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'));
  if (Number.isNaN(e) || Number.isNaN(a)) return Number.isNaN(e) && Number.isNaN(a);
  if (!Number.isFinite(e) || !Number.isFinite(a)) return e === a;
  const diff = Math.abs(e - a);
  return diff <= absolute || diff <= relative * Math.abs(e);
}

function firstDifference(expected: string, actual: string): string {
  let i = 0;
  while (i < expected.length && i < actual.length && expected[i] === actual[i]) i++;
  const line = expected.slice(0, i).split('\n').length;
  const from = Math.max(0, i - 10);
  return `outputs differ at character ${i + 1} (line ${line}): expected ${show(expected.slice(from, i + 30))}, got ${show(actual.slice(from, i + 30))}`;
}

/** Compares a program's output with the expected output under a checker. */
export function check(checker: Checker, expected: string, actual: string): CheckResult {
  switch (checker.type) {
    case 'exact':
      return expected === actual ? { ok: true } : { ok: false, message: firstDifference(expected, actual) };
    case 'lines':
      return compareSequences(
        'line',
        significantLines(expected, checker.ignoreCase),
        significantLines(actual, checker.ignoreCase),
      );
    case 'tokens':
      return compareSequences(
        'token',
        tokens(expected, checker.ignoreCase),
        tokens(actual, checker.ignoreCase),
      );
    case 'float':
      return compareSequences('token', tokens(expected), tokens(actual), (e, a) =>
        numbersClose(e, a, checker.absoluteEpsilon, checker.relativeEpsilon),
      );
    case 'settings': {
      let e = expected;
      let a = actual;
      if (checker.trim) {
        e = e.trim();
        a = a.trim();
      }
      if (!checker.caseSensitive) {
        e = e.toLowerCase();
        a = a.toLowerCase();
      }
      if (!checker.whitespace) {
        e = e.replace(/\s+/g, ' ');
        a = a.replace(/\s+/g, ' ');
      }
      return e === a ? { ok: true } : { ok: false, message: firstDifference(e, a) };
    }
  }
}
