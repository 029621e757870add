/** Shared helpers of the worker's integration tests: real nats-server, real workers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FinalEvent } from '@coderunner/protocol';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { readResults, startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createLogger, loadConfig, Worker, type WorkerConfig, type WorkerOptions } from '../src/index.js';

export { readResults };

/** The deployment's NATS accounts and permissions (deploy/nats/accounts.conf), as a server config. */
export const DEPLOY_ACCOUNTS = readFileSync(
  fileURLToPath(new URL('../../../deploy/nats/accounts.conf', import.meta.url)),
  'utf8',
);
/** The passwords DEPLOY_ACCOUNTS reads from the server's environment. */
export const DEPLOY_PASSWORDS = {
  NATS_WORKER_PASSWORD: 'worker-test-password',
  NATS_CLIENT_PASSWORD: 'client-test-password',
  NATS_ADMIN_PASSWORD: 'admin-test-password',
  NATS_SYS_PASSWORD: 'sys-test-password',
};

/** Each worker of a test gets its own uid range, as separate hosts would. */
let nextUidBase = 63000;

const tempDirs: string[] = [];

export async function tempDir(prefix = 'coderunner-worker-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** The environment of a worker for a test: short timings, its own sandbox dir and uid range. */
export async function workerEnv(
  url: string,
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const uidBase = nextUidBase;
  nextUidBase += 16;
  return {
    RUNNER_NATS_URL: url,
    RUNNER_RUNNER_SANDBOXBASEDIR: await tempDir('coderunner-worker-sandbox-'),
    RUNNER_RUNNER_UIDBASE: String(uidBase),
    RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
    RUNNER_RUNNER_COMPILECACHEMB: '64',
    RUNNER_HTTP_PORT: '0',
    RUNNER_LOG_LEVEL: 'error',
    RUNNER_NATS_PULLEXPIRESMS: '2000',
    ...extra,
  };
}

export async function testConfig(url: string, extra: Record<string, string> = {}): Promise<WorkerConfig> {
  return loadConfig({ env: await workerEnv(url, extra) });
}

/** A worker in this process. */
export async function startWorker(
  url: string,
  extra: Record<string, string> = {},
  options: WorkerOptions = {},
): Promise<Worker> {
  const config = await testConfig(url, extra);
  return Worker.start(config, { logger: createLogger(config.log.level, process.stderr), ...options });
}

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A worker in its own process (built `dist/bin.js`), for tests that kill it. */
export async function spawnWorker(url: string, extra: Record<string, string> = {}): Promise<WorkerProcess> {
  const env = { ...process.env, ...(await workerEnv(url, { RUNNER_LOG_LEVEL: 'info', ...extra })) };
  const child = spawn(process.execPath, [bin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  await waitFor(
    () => output.includes('worker running') || child.exitCode !== null,
    30_000,
    () => output,
  );
  if (child.exitCode !== null) throw new Error(`worker exited at start:\n${output}`);
  return { child, output: () => output, exited };
}

/** Polls until `check` is true. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  detail?: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting${detail ? `:\n${detail()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The finals of each id, waiting until every id in `ids` has one. */
export async function waitForFinals(
  nc: NatsConnection,
  ids: readonly string[],
  timeoutMs = 60_000,
): Promise<Map<string, FinalEvent[]>> {
  let finals = new Map<string, FinalEvent[]>();
  await waitFor(
    async () => {
      const events = await readResults(nc);
      finals = new Map(
        [...events].map(
          ([id, list]) => [id, list.filter((e): e is FinalEvent => e.type === 'final')] as const,
        ),
      );
      return ids.every((id) => (finals.get(id)?.length ?? 0) > 0);
    },
    timeoutMs,
    () => `missing finals: ${ids.filter((id) => !finals.get(id)?.length).join(', ')}`,
  );
  return finals;
}

export function cSubmission(
  id: string,
  code = '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}',
) {
  return {
    id,
    language: 'c',
    code,
    testCases: [
      { id: 't1', input: '1 2\n', expectOutput: '3\n' },
      { id: 't2', input: '20 22\n', expectOutput: '42\n' },
    ],
  };
}

export const encoder = new TextEncoder();

/** A nats-server of one test file, and a client connection to it. */
export interface Bus {
  server: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
}

export async function openBus(): Promise<Bus> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  return { server, nc, js: jetstream(nc) };
}

/** Closes the connection, stops the server and removes the test's temp dirs. */
export async function closeBus(bus: Bus | undefined): Promise<void> {
  await bus?.nc.close();
  await bus?.server.cleanup();
  await removeTempDirs();
}
