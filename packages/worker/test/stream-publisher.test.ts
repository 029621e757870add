/**
 * The stream publisher against a real nats-server: each message stored answers its own caller
 * with its sequence; the server's refusals, a subject no stream stores and a silence each end in
 * their own `PublishError`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PublishError } from '../src/errors.js';
import { StreamPublisher } from '../src/stream-publisher.js';

const STREAM = 'PUBTEST';
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
let publisher: StreamPublisher;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: ['pubtest.>'], duplicate_window: 60e9 });
  publisher = new StreamPublisher(nc);
});

afterAll(async () => {
  publisher.close();
  await nc.close();
  await server.cleanup();
});

async function failure(p: Promise<unknown>): Promise<PublishError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PublishError);
  return error as PublishError;
}

describe('a stream publisher', () => {
  it('stores a message and answers with its sequence; the same id again stores nothing', async () => {
    const first = await publisher.publish('pubtest.one', text('a'), { msgId: 'one', timeoutMs: 2000 });
    expect(first).toEqual({ stream: STREAM, seq: expect.any(Number), duplicate: false });
    const again = await publisher.publish('pubtest.one', text('b'), { msgId: 'one', timeoutMs: 2000 });
    expect(again).toEqual({ stream: STREAM, seq: first.seq, duplicate: true });
    const stored = await jsm.streams.getMessage(STREAM, { seq: first.seq });
    expect(stored?.string()).toBe('a');
    expect(stored?.header.get('Nats-Msg-Id')).toBe('one');
  });

  it('answers each of many concurrent publishes with the sequence of its own message', async () => {
    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        publisher.publish(`pubtest.many.${i}`, text(String(i)), { msgId: `many-${i}`, timeoutMs: 5000 }),
      ),
    );
    expect(new Set(acks.map((a) => a.seq)).size).toBe(200);
    for (const i of [0, 57, 199]) {
      const stored = await jsm.streams.getMessage(STREAM, { seq: acks[i]?.seq ?? 0 });
      expect(stored?.subject).toBe(`pubtest.many.${i}`);
    }
  });

  it('stores after the expected last message of the subject, and is refused (10071) after another', async () => {
    const chained = { stream: STREAM, timeoutMs: 2000 };
    const a = await publisher.publish('pubtest.chain', text('1'), {
      ...chained,
      msgId: 'c1',
      lastSubjectSequence: 0,
    });
    const b = await publisher.publish('pubtest.chain', text('2'), {
      ...chained,
      msgId: 'c2',
      lastSubjectSequence: a.seq,
    });
    expect(b.seq).toBeGreaterThan(a.seq);
    const stale = await failure(
      publisher.publish('pubtest.chain', text('3'), { ...chained, msgId: 'c3', lastSubjectSequence: a.seq }),
    );
    expect(stale.code).toBe('REJECTED');
    expect(stale.apiCode).toBe(10071);
    expect(stale.retryable).toBe(false);
    expect(stale.message).toMatch(/wrong last sequence/);
    const first = await failure(
      publisher.publish('pubtest.chain', text('4'), { ...chained, msgId: 'c4', lastSubjectSequence: 0 }),
    );
    expect(first.apiCode).toBe(10071);
  });

  it('is refused when the subject is stored by another stream than the one expected', async () => {
    const error = await failure(
      publisher.publish('pubtest.other', text('x'), { msgId: 'o', stream: 'NOTTHIS', timeoutMs: 2000 }),
    );
    expect(error.code).toBe('REJECTED');
    expect(error.apiCode).toBe(10060);
  });

  it('refuses a header value with a line break, which would end the headers early', async () => {
    const error = await failure(
      publisher.publish('pubtest.broken', text('x'), {
        msgId: 'a\r\nNats-Expected-Stream: X',
        timeoutMs: 2000,
      }),
    );
    expect(error.code).toBe('REJECTED');
    expect(error.message).toMatch(/line break/);
    const stored = await jsm.streams.getMessage(STREAM, { last_by_subj: 'pubtest.broken' }).catch(() => null);
    expect(stored ?? null).toBeNull();
  });

  it('says at once when no stream stores the subject', async () => {
    const started = Date.now();
    const error = await failure(publisher.publish('nostream.x', text('x'), { msgId: 'n', timeoutMs: 5000 }));
    expect(error.code).toBe('NO_RESPONDERS');
    expect(error.message).toContain('nostream.x');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('times out when nothing answers, and ignores an answer that comes after', async () => {
    // A plain subscriber takes the subject and answers late: no stream stores it.
    const late = nc.subscribe('silent.x', {
      callback: (_error, msg) => {
        setTimeout(() => msg.respond(text('{"stream":"X","seq":1}')), 400);
      },
    });
    const error = await failure(publisher.publish('silent.x', text('x'), { msgId: 's', timeoutMs: 200 }));
    expect(error.code).toBe('TIMEOUT');
    expect(error.retryable).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Still answering the next one correctly.
    const next = await publisher.publish('pubtest.after', text('y'), { msgId: 'after', timeoutMs: 2000 });
    expect(next.duplicate).toBe(false);
    late.unsubscribe();
  });

  it('times out each publish at its own deadline, a shorter one set after a longer one included', async () => {
    const silent = nc.subscribe('silent.deadlines.*');
    await nc.flush();
    const started = Date.now();
    const times = (p: Promise<unknown>): Promise<{ code: string; ms: number }> =>
      failure(p).then((error) => ({ code: error.code, ms: Date.now() - started }));
    const long = times(
      publisher.publish('silent.deadlines.long', text('l'), { msgId: 'dl', timeoutMs: 1500 }),
    );
    const short = times(
      publisher.publish('silent.deadlines.short', text('s'), { msgId: 'ds', timeoutMs: 200 }),
    );
    // Answered ones in between are not disturbed.
    const stored = await publisher.publish('pubtest.between', text('b'), {
      msgId: 'between',
      timeoutMs: 2000,
    });
    expect(stored.duplicate).toBe(false);
    const [shortEnd, longEnd] = await Promise.all([short, long]);
    expect(shortEnd.code).toBe('TIMEOUT');
    expect(shortEnd.ms).toBeGreaterThanOrEqual(190);
    expect(shortEnd.ms).toBeLessThan(1000);
    expect(longEnd.code).toBe('TIMEOUT');
    expect(longEnd.ms).toBeGreaterThanOrEqual(1490);
    silent.unsubscribe();
  });

  it('rejects what still waits when closed, and what is published on a closed connection', async () => {
    const own = await connect({ servers: server.url });
    const closing = new StreamPublisher(own);
    const silent = own.subscribe('silent.closing');
    await own.flush();
    const waiting = closing.publish('silent.closing', text('x'), { msgId: 'w', timeoutMs: 10_000 });
    closing.close();
    expect((await failure(waiting)).code).toBe('CLOSED');
    silent.unsubscribe();
    const unclosed = new StreamPublisher(own);
    await own.close();
    const closed = await failure(
      unclosed.publish('pubtest.closed', text('x'), { msgId: 'z', timeoutMs: 1000 }),
    );
    expect(closed.code).toBe('CLOSED');
  });
});
