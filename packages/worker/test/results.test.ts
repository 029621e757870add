/**
 * A submission's result channel against a real nats-server: events queued with `send` are stored
 * in order, each expecting the sequence of the one before, while the caller goes on; an attempt
 * that another one overtook learns it (SUPERSEDED) and stores nothing more. A first delivery
 * stores its first event without reading the subject first, unless the subject is not empty.
 */
import type { ResultEvent } from '@coderunner/protocol';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig, namesOf, WorkerError } from '../src/index.js';
import { provision } from '../src/provision.js';
import { errorFinal } from '../src/finals.js';
import { ResultChannel, type ResultOptions } from '../src/results.js';
import { StreamPublisher } from '../src/stream-publisher.js';
import { readResults } from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let options: ResultOptions;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  const config = loadConfig({ env: { RUNNER_NATS_URL: server.url } });
  const names = namesOf(config);
  await provision(jsm, config, names);
  options = {
    publisher: new StreamPublisher(nc),
    jsm,
    resultsStream: names.resultsStream,
    resultPrefix: names.resultPrefix,
    timeoutMs: 2000,
    retries: 2,
  };
});

afterAll(async () => {
  await nc.close();
  await server.cleanup();
});

const base = (id: string, attempt = 1) => ({
  submissionId: id,
  attempt,
  workerId: 'w',
  at: new Date().toISOString(),
});
const test = (id: string, index: number, attempt = 1): ResultEvent => ({
  type: 'test',
  ...base(id, attempt),
  testCaseId: `t${index}`,
  index,
  status: 'success',
  timeUsedInMs: 1,
  wallTimeInMs: 1,
  memoryUsedInKb: 1,
  exitCode: 0,
  signal: null,
  output: `${index}\n`,
  error: '',
});

async function stored(id: string): Promise<ResultEvent[]> {
  return (await readResults(nc, options.resultsStream)).get(id) ?? [];
}

describe('a result channel', () => {
  it('stores queued events in order, more of them than it lets wait at once', async () => {
    const channel = await ResultChannel.open(options, 'in-order');
    await channel.send({ type: 'accepted', ...base('in-order'), queuedInMs: 0 });
    for (let i = 0; i < 20; i++) await channel.send(test('in-order', i));
    await channel.flush();
    const events = await stored('in-order');
    expect(events.map((e) => (e.type === 'test' ? e.index : e.type))).toEqual([
      'accepted',
      ...Array.from({ length: 20 }, (_, i) => i),
    ]);
  });

  it('tells an attempt that another overtook, and stores nothing more of it', async () => {
    const slow = await ResultChannel.open(options, 'overtaken');
    const fast = await ResultChannel.open(options, 'overtaken');
    await fast.publish({ type: 'accepted', ...base('overtaken', 2), queuedInMs: 0 });
    await slow.send({ type: 'accepted', ...base('overtaken', 1), queuedInMs: 0 });
    const failure = await slow.flush().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WorkerError);
    expect((failure as WorkerError).code).toBe('SUPERSEDED');
    await expect(slow.send(test('overtaken', 0, 1))).rejects.toMatchObject({ code: 'SUPERSEDED' });
    await slow.settled();
    expect((await stored('overtaken')).map((e) => e.attempt)).toEqual([2]);
  });

  describe('started with its first event', () => {
    const accepted = (id: string, attempt = 1): ResultEvent => ({
      type: 'accepted',
      ...base(id, attempt),
      queuedInMs: 0,
    });
    /** Counts the direct gets sent to the server (each is a read of a subject's last event). */
    async function countingReads<T>(body: () => Promise<T>): Promise<{ value: T; reads: number }> {
      let reads = 0;
      const sub = nc.subscribe('$JS.API.DIRECT.GET.>', {
        callback: () => {
          reads++;
        },
      });
      await nc.flush();
      const value = await body();
      await nc.flush();
      sub.unsubscribe();
      return { value, reads };
    }

    it('on a first delivery to an empty subject, stores it without a read', async () => {
      const { value: channel, reads } = await countingReads(() =>
        ResultChannel.start(options, 'first-empty', accepted('first-empty'), true),
      );
      expect(reads).toBe(0);
      await channel?.publish(test('first-empty', 0));
      expect((await stored('first-empty')).map((e) => e.type)).toEqual(['accepted', 'test']);
    });

    it('on a first delivery of an id that already has events, reads them and goes after them', async () => {
      const earlier = await ResultChannel.open(options, 'resubmitted');
      await earlier.publish(accepted('resubmitted', 3));
      const { value: channel, reads } = await countingReads(() =>
        ResultChannel.start(options, 'resubmitted', accepted('resubmitted'), true),
      );
      expect(reads).toBe(1);
      await channel?.flush();
      await channel?.publish(test('resubmitted', 0));
      expect((await stored('resubmitted')).map((e) => `${e.type}:${e.attempt}`)).toEqual([
        'accepted:3',
        'accepted:1',
        'test:1',
      ]);
    });

    it('stores nothing when a final is already there, first delivery or not', async () => {
      const done = await ResultChannel.open(options, 'finished');
      await done.publish(errorFinal(base('finished'), 'internal_error', 'stored earlier'));
      expect(await ResultChannel.start(options, 'finished', accepted('finished', 2), true)).toBeUndefined();
      expect(await ResultChannel.start(options, 'finished', accepted('finished', 2), false)).toBeUndefined();
      expect((await stored('finished')).map((e) => e.type)).toEqual(['final']);
    });

    it('on a redelivery, reads the subject first', async () => {
      const { value: channel, reads } = await countingReads(() =>
        ResultChannel.start(options, 'redelivered', accepted('redelivered', 2), false),
      );
      expect(reads).toBe(1);
      await channel?.flush();
      expect((await stored('redelivered')).map((e) => e.attempt)).toEqual([2]);
    });
  });
});
