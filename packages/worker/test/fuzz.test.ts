/**
 * Generated hostile messages thrown at a live worker: it never crashes or stalls, every message
 * with a readable id gets exactly one final, the queue drains, and memory stays bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeMessage, readableSubmissionId } from '@coderunner/protocol';
import { jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsServer } from '@coderunner/test-helpers';
import type { Worker } from '../src/index.js';
import {
  closeBus,
  cSubmission,
  encoder,
  openBus,
  readResults,
  startWorker,
  waitFor,
  waitForFinals,
} from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let worker: Worker;

beforeAll(async () => {
  ({ server, nc, js } = await openBus());
  worker = await startWorker(server.url, { RUNNER_LIMITS_MAXMESSAGEBYTES: '262144' });
});

afterAll(async () => {
  await worker.stop();
  await closeBus({ server, nc, js });
});

const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

/** One hostile message for index `i`: bytes, any JSON, or a submission with something wrong. */
function hostile(i: number): fc.Arbitrary<Uint8Array> {
  const id = `fz-${i}`;
  const base = { id, language: 'python', code: 'print(1)', testCases: [{ input: '', expectOutput: '1' }] };
  const json = (value: unknown): Uint8Array => encoder.encode(JSON.stringify(value));
  return fc.oneof(
    fc.uint8Array({ maxLength: 2048 }),
    fc.jsonValue({ maxDepth: 4 }).map(json),
    fc.anything().map((value) => json({ ...base, code: value })),
    fc
      .constantFrom(-1, 0, 2 ** 53, 1e308)
      .map((limit) => json({ ...base, timeLimitInMs: limit, memoryLimitInKb: limit })),
    fc
      .nat({ max: 3 })
      .map((n) => json({ ...base, testCases: Array.from({ length: 20_000 * n }, () => ({ input: 'x' })) })),
    fc.constant(encoder.encode(`{"id":"${id}","language":"c","code":"","testCases":${deep(20_000)}}`)),
    fc.constant(
      encoder.encode(`{"__proto__":{"polluted":1},"id":"${id}","language":"c","code":"","testCases":[{}]}`),
    ),
    fc.string({ maxLength: 200_000, minLength: 100_000 }).map((code) => json({ ...base, code })),
    fc.constant(
      new Uint8Array([...encoder.encode(`{"id":"${id}","code":"`), 0xff, 0xfe, ...encoder.encode('"}')]),
    ),
  );
}

describe('fuzzed messages against a live worker', () => {
  it('never crash or stall it; every readable id gets exactly one final', async () => {
    const rssBefore = process.memoryUsage().rss;
    const messages = Array.from(
      { length: 150 },
      (_, i) => fc.sample(hostile(i), { numRuns: 1, seed: 42 + i })[0] as Uint8Array,
    );
    const ids = new Set<string>();
    for (const data of messages) {
      const id = readableSubmissionId(decodeMessage(data).value);
      if (id !== undefined) ids.add(id);
      await js.publish('submission.created', data);
    }
    const jsm = await jetstreamManager(nc);
    await waitFor(async () => (await jsm.streams.info('SUBMISSIONS')).state.messages === 0, 120_000);
    const finals = await waitForFinals(nc, [...ids], 60_000);
    for (const id of ids) expect(finals.get(id)).toHaveLength(1);
    // Still serving.
    await js.publish('submission.created', JSON.stringify(cSubmission('fz-after')));
    const after = await waitForFinals(nc, ['fz-after']);
    expect(after.get('fz-after')?.[0]?.status).toBe('success');
    expect(worker.ready()).toBe(true);
    const events = await readResults(nc);
    expect([...events.keys()].every((id) => id.startsWith('fz-'))).toBe(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(300 * 1024 * 1024);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 240_000);
});
