/**
 * Several workers on one consumer share the load, each job runs once, and no worker ever judges
 * more messages than it has slots, or holds more than twice that (a slot's next message is judged
 * while the last one's final is stored) — even when jobs outlast a pull's expiry.
 */
import { getEventListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { NatsServer } from '@coderunner/test-helpers';
import { jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Worker } from '../src/index.js';
import { cSubmission, readResults, startWorker, waitFor, closeBus, openBus } from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  ({ server, nc, js } = await openBus());
});

afterAll(() => closeBus({ server, nc, js }));

/** Samples the consumer's ack-pending count and each worker's counts until `until` resolves. */
async function sampleWhile<T>(
  workers: Worker[],
  until: Promise<T>,
): Promise<{ ackPending: number; holding: number; judging: number }> {
  let done = false;
  void until.finally(() => (done = true));
  const peak = { ackPending: 0, holding: 0, judging: 0 };
  while (!done) {
    const info = await jsm.consumers.info('SUBMISSIONS', 'coderunner_prod_group');
    peak.ackPending = Math.max(peak.ackPending, info.num_ack_pending);
    peak.holding = Math.max(peak.holding, ...workers.map((w) => w.holding));
    peak.judging = Math.max(peak.judging, ...workers.map((w) => w.judging));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await until;
  return peak;
}

describe('load', () => {
  it('500 submissions with 2 workers × 2 slots: every one gets exactly one final', async () => {
    const workers = [await startWorker(server.url), await startWorker(server.url)];
    jsm = await jetstreamManager(nc);
    try {
      const ids = Array.from({ length: 500 }, (_, i) => `load-${i}`);
      await Promise.all(
        ids.map((id) => js.publish('submission.created', JSON.stringify(cSubmission(id)), { msgID: id })),
      );
      const drained = waitFor(async () => {
        const info = await jsm.streams.info('SUBMISSIONS');
        return info.state.messages === 0;
      }, 180_000);
      const peak = await sampleWhile(workers, drained);
      const events = await readResults(nc);
      const finals = ids.map((id) => (events.get(id) ?? []).filter((e) => e.type === 'final'));
      expect(finals.filter((f) => f.length !== 1).length).toBe(0);
      // The first final that is not a success, shown whole when there is one.
      expect(
        finals
          .map((f) => f[0])
          .filter((f) => f?.status !== 'success')
          .slice(0, 1),
      ).toEqual([]);
      expect(peak.ackPending).toBeLessThanOrEqual(8);
      expect(peak.holding).toBeLessThanOrEqual(4);
      expect(peak.judging).toBeLessThanOrEqual(2);
      expect(peak.judging).toBeGreaterThan(0);
      // The runs share one listener on the worker's one cancel signal: none is left per run.
      for (const w of workers) {
        const cancel = (w as unknown as { cancel: AbortController }).cancel;
        expect(getEventListeners(cancel.signal, 'abort').length).toBeLessThanOrEqual(1);
      }
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  }, 240_000);

  it('holds no more than its slots while jobs run longer than a pull waits', async () => {
    // Jobs of ~2.5 s against pulls that expire after 500 ms: a consumer that re-pulls on every
    // expiry would pile up messages.
    const worker = await startWorker(server.url, { RUNNER_NATS_PULLEXPIRESMS: '1000' });
    jsm = await jetstreamManager(nc);
    try {
      const slow = 'import time\ntime.sleep(2.5)\nprint("done")';
      const ids = Array.from({ length: 6 }, (_, i) => `slow-${i}`);
      for (const id of ids) {
        await js.publish(
          'submission.created',
          JSON.stringify({
            id,
            language: 'python',
            code: slow,
            wallTimeLimitInMs: 10_000,
            testCases: [{ expectOutput: 'done' }],
          }),
        );
      }
      const drained = waitFor(
        async () => (await jsm.streams.info('SUBMISSIONS')).state.messages === 0,
        60_000,
      );
      const peak = await sampleWhile([worker], drained);
      // Re-pulling on every expiry would have taken all six.
      expect(peak.ackPending).toBeLessThanOrEqual(4);
      expect(peak.ackPending).toBeGreaterThan(0);
      expect(peak.judging).toBeLessThanOrEqual(2);
      const events = await readResults(nc);
      expect(ids.map((id) => events.get(id)?.find((e) => e.type === 'final')?.status)).toEqual(
        ids.map(() => 'success'),
      );
    } finally {
      await worker.stop();
    }
  }, 120_000);
});
