/** The pull source against a real nats-server: what a pull brings and how it ends. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PullSource } from '../src/pull.js';

const STREAM = 'PULLTEST';
const CONSUMER = 'pullers';

let server: NatsServer;
let nc: NatsConnection;
let source: PullSource | undefined;

async function setUp(count: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(STREAM).catch(() => undefined);
  await jsm.streams.add({ name: STREAM, subjects: ['pulltest.>'] });
  await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: 30e9 });
  const js = jetstream(nc);
  for (let i = 0; i < count; i++) await js.publish('pulltest.x', String(i));
}

function collect(): { got: JsMsg[]; source: PullSource } {
  const got: JsMsg[] = [];
  source = new PullSource(nc, STREAM, CONSUMER, (m) => got.push(m));
  return { got, source };
}

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterEach(() => {
  source?.close();
  source = undefined;
});

afterAll(async () => {
  await nc.close();
  await server.cleanup();
});

describe('PullSource', () => {
  it('a pull brings as many messages as it asked for, in order, and ends filled', async () => {
    await setUp(5);
    const { got, source } = collect();
    expect(await source.pull(3, 5000)).toBe('filled');
    expect(got.map((m) => m.string())).toEqual(['0', '1', '2']);
    expect(got.map((m) => m.info.deliveryCount)).toEqual([1, 1, 1]);
    // The next pull, on the same subscription, brings the rest; an ack and a nak reach the server.
    got.splice(0).forEach((m) => m.ack());
    expect(await source.pull(2, 5000)).toBe('filled');
    expect(got.map((m) => m.string())).toEqual(['3', '4']);
    got[0]!.ack();
    got[1]!.nak();
    expect(await source.pull(1, 5000)).toBe('filled');
    expect(got[2]!.string()).toBe('4');
    expect(got[2]!.info.deliveryCount).toBe(2);
  });

  it('a pull the stream cannot fill ends with 408 when it expires, keeping what came', async () => {
    await setUp(1);
    const { got, source } = collect();
    const started = Date.now();
    expect(await source.pull(4, 1000)).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(got.map((m) => m.string())).toEqual(['0']);
  });

  it('a waiting pull kept alive by its heartbeats lasts until it expires', async () => {
    await setUp(0);
    const { source } = collect();
    // Heartbeats every second; without them the pull would count as lost after three.
    const started = Date.now();
    expect(await source.pull(1, 4500)).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4400);
  });

  it('a waiting pull is filled by a message published later', async () => {
    await setUp(0);
    const { got, source } = collect();
    const pulled = source.pull(1, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await jetstream(nc).publish('pulltest.x', 'late');
    expect(await pulled).toBe('filled');
    expect(got.map((m) => m.string())).toEqual(['late']);
  });

  it('interrupt ends the waiting pull at once', async () => {
    await setUp(0);
    const { source } = collect();
    const pulled = source.pull(1, 30_000);
    source.interrupt();
    expect(await pulled).toBe('interrupted');
  });

  it('a pull on a consumer that is gone ends with the server status (409 or 404), not a hang', async () => {
    await setUp(0);
    const { source } = collect();
    const pulled = source.pull(1, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await (await jetstreamManager(nc)).consumers.delete(STREAM, CONSUMER);
    const end = await pulled;
    expect(typeof end).toBe('number');
    expect([404, 409]).toContain(end);
  });

  it('a pull whose server falls silent ends as lost once two heartbeats are missed', async () => {
    await setUp(0);
    const { source } = collect();
    const pulled = source.pull(1, 1000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Stopped, the server neither answers nor closes the connection: only the heartbeats tell.
    process.kill(server.pid!, 'SIGSTOP');
    try {
      const started = Date.now();
      expect(await pulled).toBe('lost');
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
  });

  it('a pull whose server restarts ends (409 on shutdown, or lost), not a hang', async () => {
    await setUp(0);
    const { source } = collect();
    const pulled = source.pull(1, 1000);
    await server.restart();
    expect(['lost', 409]).toContain(await pulled);
  });

  it('a pull nobody answers (no JetStream) ends with 503 no responders', async () => {
    const plain = await startNatsServer({ jetstream: false });
    const other = await connect({ servers: plain.url });
    try {
      const lonely = new PullSource(other, STREAM, CONSUMER, () => undefined);
      expect(await lonely.pull(1, 30_000)).toBe(503);
      lonely.close();
    } finally {
      await other.close();
      await plain.cleanup();
    }
  });
});
