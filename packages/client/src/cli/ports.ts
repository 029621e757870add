/** Whether a TCP port is free, and waiting until a server accepts connections on one. */
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when nothing listens on the port (it can be bound on `host`; default: every address). */
export function portFree(port: number, host?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** True when a connection to host:port is accepted. */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until host:port accepts a connection, `giveUp()` says to stop, or time runs out. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  giveUp: () => boolean = () => false,
  host = '127.0.0.1',
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !giveUp()) {
    if (await accepts(port, host)) return true;
    await sleep(100);
  }
  return false;
}
