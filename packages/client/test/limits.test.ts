/**
 * What a publisher sees at the edges of the bus, through the SDK and the CLI: a full work queue
 * (SUBMISSIONS at its configured limit, `discard: new`) refuses more with QUEUE_FULL and loses
 * none of what it took, and a submission over the server's max payload is refused before sending.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { createLogger, loadConfig, Worker } from '@coderunner/worker';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect } from '@nats-io/transport-node';
import { ClientError, connect, type CoderunnerClient } from '../src/index.js';
import { EXIT } from '../src/cli/exit-codes.js';
import { runCli } from './cli-runner.js';

const tempDirs: string[] = [];
const servers: NatsServer[] = [];
let dir: string;
let sandbox: string;

const ECHO = {
  language: 'python',
  code: 'print(input())',
  testCases: [{ input: 'queued', expectOutput: 'queued' }],
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coderunner-limits-test-'));
  sandbox = await mkdtemp(join(tmpdir(), 'coderunner-limits-sandbox-'));
  tempDirs.push(dir, sandbox);
  await writeFile(join(dir, 'echo.py'), ECHO.code);
  await writeFile(join(dir, 'large.py'), `# ${'x'.repeat(10_000)}\nprint(1)\n`);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.cleanup()));
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function server(config?: string): Promise<NatsServer> {
  const started = await startNatsServer(config ? { config } : {});
  servers.push(started);
  return started;
}

function startWorker(url: string): Promise<Worker> {
  const config = loadConfig({
    env: {
      RUNNER_NATS_URL: url,
      RUNNER_NATS_SUBMISSIONSMAXMSGS: '5',
      RUNNER_RUNNER_SANDBOXBASEDIR: sandbox,
      RUNNER_RUNNER_UIDBASE: '64300',
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
      RUNNER_NATS_PULLEXPIRESMS: '1000',
    },
  });
  return Worker.start(config, { logger: createLogger('error', process.stderr) });
}

describe('a full work queue', () => {
  let bus: NatsServer;
  let client: CoderunnerClient;

  beforeAll(async () => {
    bus = await server();
    // A worker creates the streams with a limit of 5 waiting submissions, then goes away.
    await (await startWorker(bus.url)).stop();
    client = await connect({ servers: bus.url });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
  });

  it('takes submissions up to its limit, then refuses more with QUEUE_FULL', async () => {
    for (let i = 0; i < 5; i++) await client.submit({ id: `queued-${i}`, ...ECHO });
    const error = await client.submit({ id: 'one-too-many', ...ECHO }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'QUEUE_FULL', retryable: true });
    expect((error as Error).message).toMatch(/the queue is full/);
  });

  it('makes the CLI say so and exit with the server code', async () => {
    const run = await runCli(dir, ['--server', bus.url, 'submit', 'echo.py', '--id', 'cli-too-many']);
    expect(run.code).toBe(EXIT.server);
    expect(run.stderr).toMatch(/^coderunner: .*the queue is full/);
    expect(run.stdout).toBe('');
  });

  it('keeps what it took: a worker judges all five, and then the queue takes more', async () => {
    const nc = await natsConnect({ servers: bus.url });
    expect((await (await jetstreamManager(nc)).streams.info('SUBMISSIONS')).state.messages).toBe(5);
    await nc.close();
    const worker = await startWorker(bus.url);
    try {
      const finals = await Promise.all(
        Array.from({ length: 5 }, (_, i) => client.waitForFinal(`queued-${i}`, { timeoutMs: 30_000 })),
      );
      expect(finals.map((f) => f.status)).toEqual(Array(5).fill('success'));
      // The refused ones were never stored, so never judged.
      expect(await client.status('one-too-many')).toBeNull();
      expect(await client.status('cli-too-many')).toBeNull();
      const final = await client.submitAndWait({ id: 'one-too-many', ...ECHO }, { timeoutMs: 30_000 });
      expect(final.status).toBe('success');
    } finally {
      await worker.stop();
    }
  }, 60_000);
});

describe("a submission over the server's max payload", () => {
  it('is refused by the CLI before sending, naming both sizes', async () => {
    const small = await server('max_payload: 4096');
    const run = await runCli(dir, ['--server', small.url, 'submit', 'large.py', '--id', 'too-large']);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toMatch(
      /^coderunner: the submission is \d+ bytes; the server accepts at most 4096\n$/,
    );
  });
});
