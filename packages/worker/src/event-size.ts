/**
 * Keeps every result event within the server's max payload: outputs are cut to excerpts (UTF-8
 * safe) and flagged `truncated`, rather than the publish failing.
 */
import type { FinalEvent, TestResult } from '@coderunner/protocol';

/** Cuts `text` to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let cut = Buffer.from(text, 'utf8').subarray(0, Math.max(0, maxBytes)).toString('utf8');
  if (cut.endsWith('\uFFFD') && !text.startsWith(cut)) cut = cut.slice(0, -1);
  return cut;
}

/** A test result with its output and error cut to `maxBytes` each. */
export function boundTest(test: TestResult, maxBytes: number): TestResult {
  const output = cutUtf8(test.output, maxBytes);
  const error = cutUtf8(test.error, maxBytes);
  const message = test.message === undefined ? undefined : cutUtf8(test.message, Math.max(maxBytes, 256));
  if (output === test.output && error === test.error && message === test.message) return test;
  return { ...test, output, error, ...(message !== undefined ? { message } : {}), truncated: true };
}

const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * An upper bound of `size(value)` without serializing it (a tenth of the cost for a small
 * final): a UTF-16 unit takes at most 6 bytes in JSON (`\u001f`, a lone surrogate), a number at
 * most 24 characters.
 */
export function sizeBound(value: unknown): number {
  if (typeof value === 'string') return 6 * value.length + 2;
  if (typeof value === 'number') return 24;
  if (typeof value !== 'object' || value === null) return 5; // true, false, null; undefined is left out
  let bytes = 2;
  if (Array.isArray(value)) for (const item of value as unknown[]) bytes += sizeBound(item) + 1;
  else
    for (const key in value) bytes += 6 * key.length + 4 + sizeBound((value as Record<string, unknown>)[key]);
  return bytes;
}

/**
 * A final event that fits in `maxPayload` bytes: each test's outputs are cut to the largest
 * excerpt that lets the whole event fit, down to nothing, and the event says so.
 */
export function boundFinal(event: FinalEvent, perTestBytes: number, maxPayload: number): FinalEvent {
  const headroom = 4096;
  const budget = maxPayload - headroom;
  const compile = event.compile && { ...event.compile, output: cutUtf8(event.compile.output, perTestBytes) };
  let candidate: FinalEvent = {
    ...event,
    compile,
    tests: event.tests.map((t) => boundTest(t, perTestBytes)),
  };
  if (sizeBound(candidate) <= budget || size(candidate) <= budget) return withFlag(candidate, event);
  const bare = size({ ...candidate, tests: candidate.tests.map((t) => boundTest(t, 0)) });
  const share = Math.floor((budget - bare) / Math.max(1, 2 * event.tests.length));
  for (const bytes of [Math.min(share, perTestBytes), 256, 64, 0]) {
    candidate = { ...candidate, tests: event.tests.map((t) => boundTest(t, Math.max(0, bytes))) };
    if (size(candidate) <= budget) return { ...candidate, truncated: true };
  }
  return { ...candidate, truncated: true };
}

function withFlag(candidate: FinalEvent, original: FinalEvent): FinalEvent {
  const cut =
    candidate.tests.some((t, i) => t !== original.tests[i]) ||
    candidate.compile?.output !== original.compile?.output;
  return cut ? { ...candidate, truncated: true } : candidate;
}
