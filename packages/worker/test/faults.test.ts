/**
 * Faults of our own are retried with a delay and, after max_deliver, become an internal_error
 * final and a dead letter — whether the worker sees the last failure itself or the server gives
 * up on a message nobody acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { createEngine, SandboxError, type Engine } from '@coderunner/sandbox';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { FinalEvent } from '@coderunner/protocol';
import type { JobOutcome, Worker } from '../src/index.js';
import {
  cSubmission,
  readResults,
  startWorker,
  tempDir,
  waitFor,
  waitForFinals,
  closeBus,
  openBus,
} from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ server, nc, js } = await openBus());
});

afterAll(() => closeBus({ server, nc, js }));

/** An engine whose sandbox "cannot start" for submissions whose id begins with `fault`. */
async function faultyEngine(): Promise<{ engine: Engine; calls: Map<string, number[]>; baseDir: string }> {
  const baseDir = await tempDir();
  const engine = await createEngine({ baseDir, uidBase: 63900, slots: 2 });
  const calls = new Map<string, number[]>();
  const judge = engine.judge.bind(engine);
  engine.judge = (submission, options) => {
    if (!submission.id.startsWith('fault')) return judge(submission, options);
    calls.set(submission.id, [...(calls.get(submission.id) ?? []), Date.now()]);
    // Like a real one, the fault's message names a host path.
    return Promise.reject(
      new SandboxError('SANDBOX_START_FAILED', `injected: cannot create ${baseDir}/s0-1/box`),
    );
  };
  return { engine, calls, baseDir };
}

describe('faults', () => {
  let worker: Worker;
  let calls: Map<string, number[]>;
  let baseDir: string;
  const outcomes: JobOutcome[] = [];

  beforeAll(async () => {
    const faulty = await faultyEngine();
    calls = faulty.calls;
    baseDir = faulty.baseDir;
    worker = await startWorker(
      server.url,
      { RUNNER_NATS_MAXDELIVER: '3', RUNNER_RUNNER_RETRYBACKOFFMS: '300,600' },
      { engine: faulty.engine, onJob: (outcome) => outcomes.push(outcome) },
    );
  });
  afterAll(() => worker.stop());

  it('a sandbox fault is retried with backoff, then becomes an internal_error final and a dead letter', async () => {
    await js.publish('submission.created', JSON.stringify(cSubmission('fault-1')));
    const finals = await waitForFinals(nc, ['fault-1']);
    const final = (finals.get('fault-1') as FinalEvent[])[0] as FinalEvent;
    expect(final.status).toBe('internal_error');
    // The client learns the error code; the host path stays with the operators' dead letter.
    expect(final.error).toBe(
      'the service could not judge this submission after 3 deliveries (SANDBOX_START_FAILED)',
    );
    expect(JSON.stringify(final)).not.toContain(baseDir);
    const times = calls.get('fault-1') ?? [];
    expect(times).toHaveLength(3);
    // Delays of 300 and 600 ms between the attempts, as configured.
    expect((times[1] as number) - (times[0] as number)).toBeGreaterThanOrEqual(280);
    expect((times[2] as number) - (times[1] as number)).toBeGreaterThanOrEqual(580);
    expect(outcomes.filter((o) => o === 'retry')).toHaveLength(2);
    const jsm = await jetstreamManager(nc);
    const letter = await jsm.streams.getMessage('SUBMISSIONS_DLQ', {
      last_by_subj: 'submission.dead.fault-1',
    });
    expect(JSON.parse(letter?.string() ?? '{}')).toMatchObject({ id: 'fault-1' });
    expect(letter?.header.get('Coderunner-Deliveries')).toBe('3');
    expect(letter?.header.get('Coderunner-Reason')).toBe(
      `SANDBOX_START_FAILED: injected: cannot create ${baseDir}/s0-1/box`,
    );
    await waitFor(async () => (await jsm.streams.info('SUBMISSIONS')).state.messages === 0);
  });

  it('keeps serving other submissions meanwhile', async () => {
    await js.publish('submission.created', JSON.stringify(cSubmission('healthy-1')));
    const finals = await waitForFinals(nc, ['healthy-1']);
    expect(finals.get('healthy-1')?.[0]?.status).toBe('success');
  });
});

describe('a message nobody acknowledges', () => {
  it('is turned into an internal_error final and a dead letter from the max-deliveries advisory', async () => {
    const server2 = await startNatsServer();
    const nc2 = await connect({ servers: server2.url });
    try {
      // A worker provisions the streams, then leaves; a "stalled worker" takes the message and never
      // acknowledges it, until the server stops delivering it.
      const first = await startWorker(server2.url, {
        RUNNER_NATS_MAXDELIVER: '2',
        RUNNER_NATS_ACKWAITSEC: '1',
      });
      await first.stop();
      const js2 = jetstream(nc2);
      await js2.publish('submission.created', JSON.stringify(cSubmission('abandoned')));
      const consumer = await js2.consumers.get('SUBMISSIONS', 'coderunner_prod_group');
      for (let delivery = 1; delivery <= 2; delivery++) {
        const m = await consumer.next({ expires: 5000 });
        expect(m?.info.deliveryCount).toBe(delivery);
      }
      const jsm2 = await jetstreamManager(nc2);
      expect((await jsm2.consumers.info('SUBMISSIONS', 'coderunner_prod_group')).config.ack_policy).toBe(
        AckPolicy.Explicit,
      );
      // The advisory is sent while a pull waits: the next worker's pulls do that, and it handles it.
      const second = await startWorker(server2.url, {
        RUNNER_NATS_MAXDELIVER: '2',
        RUNNER_NATS_ACKWAITSEC: '1',
      });
      try {
        const finals = await waitForFinals(nc2, ['abandoned'], 30_000);
        expect(finals.get('abandoned')?.[0]).toMatchObject({ status: 'internal_error' });
        expect(finals.get('abandoned')?.[0]?.error).toMatch(/after 2 deliveries/);
        await waitFor(async () => (await jsm2.streams.info('SUBMISSIONS')).state.messages === 0);
        const letter = await jsm2.streams.getMessage('SUBMISSIONS_DLQ', {
          last_by_subj: 'submission.dead.abandoned',
        });
        expect(letter).not.toBeNull();
        const events = (await readResults(nc2)).get('abandoned') ?? [];
        expect(events.filter((e) => e.type === 'final')).toHaveLength(1);
      } finally {
        await second.stop();
      }
    } finally {
      await nc2.close();
      await server2.cleanup();
    }
  });
});
