/**
 * What the worker relies on from the patched `@nats-io/nats-core` and `@nats-io/transport-node`
 * (patches/): what is sent in one turn of the event loop — here across microtasks, as a job's
 * promise chain sends an event and then the next pull — goes to the server in one write, and
 * arrives in order; what is read is parsed at once, in order.
 */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { connect, type NatsConnection } from '@nats-io/transport-node';

let server: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc.close();
  await server.cleanup();
});

it('sends what one turn of the event loop publishes in one write, in order', async () => {
  const got: string[] = [];
  const sub = nc.subscribe('turn.>', { callback: (_e, m) => void got.push(m.subject) });
  await nc.flush();
  // The connection's transport (not public API): its sends are the writes to the socket.
  const transport = (nc as unknown as { protocol: { transport: { send: (frame: Uint8Array) => void } } })
    .protocol.transport;
  const send = transport.send.bind(transport);
  let writes = 0;
  transport.send = (frame) => {
    writes++;
    send(frame);
  };
  await new Promise<void>((resolve) =>
    setTimeout(() => {
      nc.publish('turn.a');
      void Promise.resolve()
        .then(() => nc.publish('turn.b'))
        .then(() => queueMicrotask(() => nc.publish('turn.c')));
      setImmediate(resolve);
    }, 0),
  );
  transport.send = send;
  expect(writes).toBe(1);
  await nc.flush();
  expect(got).toEqual(['turn.a', 'turn.b', 'turn.c']);
  sub.unsubscribe();
});

it('parses what it reads as it reads it, without iterating over the reads', async () => {
  // The transport's reader (patches/@nats-io__transport-node…): set when the connection dialled.
  const transport = (nc as unknown as { protocol: { transport: { reader?: (frame: Uint8Array) => void } } })
    .protocol.transport;
  expect(typeof transport.reader).toBe('function');
  const got: string[] = [];
  const sub = nc.subscribe('read.>', { callback: (_e, m) => void got.push(m.string()) });
  for (let i = 0; i < 100; i++) nc.publish(`read.${i % 3}`, String(i));
  await nc.flush();
  expect(got).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
  sub.unsubscribe();
});
