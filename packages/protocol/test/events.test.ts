import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  ProtocolError,
  decodeEvent,
  encodeEvent,
  eventSchemas,
  submissionSchema,
  type AcceptedEvent,
  type CompiledEvent,
  type FinalEvent,
  type ResultEvent,
  type TestEvent,
  type TestResult,
} from '../src/index.js';

const base = { submissionId: 'sub-1', attempt: 1, at: '2026-01-02T03:04:05.678Z', workerId: 'w1' };

const accepted: AcceptedEvent = { type: 'accepted', ...base, queuedInMs: 12 };
const compiled: CompiledEvent = {
  type: 'compiled',
  ...base,
  status: 'success',
  output: '',
  timeInMs: 43.5,
  cached: false,
};
const testResult: TestResult = {
  testCaseId: 'test1',
  index: 0,
  status: 'wrong_answer',
  timeUsedInMs: 1.2,
  wallTimeInMs: 3.4,
  memoryUsedInKb: 1024,
  exitCode: 0,
  signal: null,
  output: 'Hello\n',
  error: '',
  message: 'line 1: expected "Hello, World!", got "Hello"',
};
const test: TestEvent = { type: 'test', ...base, ...testResult };
const final: FinalEvent = {
  type: 'final',
  ...base,
  status: 'wrong_answer',
  tests: [testResult, { ...testResult, testCaseId: 'test2', index: 1, status: 'skipped', exitCode: null }],
  compile: { status: 'success', output: '', timeInMs: 43.5, cached: true },
  passed: 0,
  total: 2,
  maxTimeUsedInMs: 1.2,
  maxMemoryUsedInKb: 1024,
};
const invalidFinal: FinalEvent = {
  type: 'final',
  ...base,
  status: 'invalid_submission',
  tests: [],
  compile: null,
  passed: 0,
  total: 0,
  maxTimeUsedInMs: 0,
  maxMemoryUsedInKb: 0,
  error: 'invalid submission: language is required',
  problems: ['language is required'],
};

describe('result events', () => {
  it.each<[string, ResultEvent]>([
    ['accepted', accepted],
    ['compiled', compiled],
    ['test', test],
    ['final', final],
    ['final of an invalid submission', invalidFinal],
    [
      'test killed by a signal',
      { ...test, status: 'time_limit_exceeded', exitCode: null, signal: 'SIGKILL' },
    ],
  ])('%s round-trips through encode and decode unchanged', (_name, event) => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
  });

  it('refuses to encode an event that breaks its schema, naming the field', () => {
    const broken = { ...test, status: 'great' } as unknown as ResultEvent;
    expect(() => encodeEvent(broken)).toThrow(/status must be one of "success", .*got "great"/);
  });

  it('refuses to decode an unknown event type', () => {
    expect(() => decodeEvent('{"type":"progress"}')).toThrow(ProtocolError);
    expect(() => decodeEvent('{"type":"progress"}')).toThrow(
      /type must be one of "accepted", "compiled", "test", "final"/,
    );
  });

  it('names every missing field of a decoded event', () => {
    try {
      decodeEvent('{"type":"final","submissionId":"x","attempt":1,"at":"2026-01-01T00:00:00Z"}');
      throw new Error('decoded');
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      const problems = (error as ProtocolError).problems.map((p) => p.message);
      expect(problems).toEqual(
        expect.arrayContaining([
          'status is required',
          'tests is required',
          'compile is required',
          'passed is required',
        ]),
      );
      expect((error as ProtocolError).code).toBe('INVALID_EVENT');
    }
  });

  it('rejects a timestamp that is not ISO 8601', () => {
    expect(() => decodeEvent(JSON.stringify({ ...accepted, at: 'yesterday' }))).toThrow(
      /at must be a date-time string/,
    );
  });
});

describe('schema files', () => {
  const file = (name: string): unknown =>
    JSON.parse(readFileSync(new URL(`../schemas/${name}`, import.meta.url), 'utf8'));

  it.each([
    ['submission.json', submissionSchema],
    ['event-accepted.json', eventSchemas.accepted],
    ['event-compiled.json', eventSchemas.compiled],
    ['event-test.json', eventSchemas.test],
    ['event-final.json', eventSchemas.final],
  ])('%s matches the schema the code validates with (rebuild to refresh it)', (name, schema) => {
    expect(file(name)).toEqual({ $schema: 'http://json-schema.org/draft-07/schema#', ...schema });
  });
});
