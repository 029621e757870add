/**
 * The TypeScript client against a real nats-server and a real worker: submit, replay, status,
 * wait; local validation; typed errors; replay after the worker is gone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { createLogger, loadConfig, Worker } from '@coderunner/worker';
import { connect as natsConnect } from '@nats-io/transport-node';
import type { ResultEvent } from '@coderunner/protocol';
import { ClientError, connect, type CoderunnerClient } from '../src/index.js';

let server: NatsServer;
let worker: Worker | undefined;
let client: CoderunnerClient;
let sandboxDir: string;

const sum = {
  language: 'python',
  code: 'a, b = map(int, input().split())\nprint(a + b)',
  testCases: [
    { id: 'small', input: '1 2', expectOutput: '3' },
    { id: 'large', input: '40 2', expectOutput: '42' },
  ],
};

beforeAll(async () => {
  server = await startNatsServer();
  sandboxDir = await mkdtemp(join(tmpdir(), 'coderunner-client-test-'));
  const config = loadConfig({
    env: {
      RUNNER_NATS_URL: server.url,
      RUNNER_RUNNER_SANDBOXBASEDIR: sandboxDir,
      RUNNER_RUNNER_UIDBASE: '64500',
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
    },
  });
  worker = await Worker.start(config, { logger: createLogger('error', process.stderr) });
  client = await connect({ servers: server.url });
});

afterAll(async () => {
  await client.close();
  await worker?.stop();
  await server.cleanup();
  await rm(sandboxDir, { recursive: true, force: true });
});

describe('the client', () => {
  it('submits and waits for the final', async () => {
    const final = await client.submitAndWait({ id: 'sdk-sum', ...sum });
    expect(final).toMatchObject({
      type: 'final',
      submissionId: 'sdk-sum',
      status: 'success',
      passed: 2,
      total: 2,
    });
  });

  it('reports every event to onEvent while waiting, in order', async () => {
    const seen: string[] = [];
    await client.submitAndWait({ id: 'sdk-events', ...sum }, { onEvent: (e) => seen.push(e.type) });
    expect(seen).toEqual(['accepted', 'compiled', 'test', 'test', 'final']);
  });

  it('replays every event of a finished submission from the stream', async () => {
    const events: ResultEvent[] = [];
    for await (const event of client.results('sdk-sum')) events.push(event);
    expect(events.map((e) => e.type)).toEqual(['accepted', 'compiled', 'test', 'test', 'final']);
  });

  it('reads the latest state by id, and null for an unknown id', async () => {
    expect(await client.status('sdk-sum')).toMatchObject({ type: 'final', status: 'success' });
    expect(await client.status('never-submitted')).toBeNull();
  });

  it('returns the id on submit, and a resubmission of the same id runs once', async () => {
    expect(await client.submit({ id: 'sdk-twice', ...sum })).toBe('sdk-twice');
    expect(await client.submit({ id: 'sdk-twice', ...sum })).toBe('sdk-twice');
    await client.waitForFinal('sdk-twice');
    const events: ResultEvent[] = [];
    for await (const event of client.results('sdk-twice', { follow: false })) events.push(event);
    expect(events.filter((e) => e.type === 'final')).toHaveLength(1);
  });

  it('submits three programs in parallel (the README example)', async () => {
    const programs = {
      c: '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}',
      python: 'print(sum(map(int, input().split())))',
      javascript:
        "const [a, b] = require('fs').readFileSync(0, 'utf8').split(' ').map(Number);\nconsole.log(a - b);",
    };
    const finals = await Promise.all(
      Object.entries(programs).map(([language, code]) =>
        client.submitAndWait({
          id: `readme-${language}`,
          language,
          code,
          testCases: [{ input: '2 3', expectOutput: '5' }],
        }),
      ),
    );
    expect(finals.map((f) => [f.submissionId, f.status])).toEqual([
      ['readme-c', 'success'],
      ['readme-python', 'success'],
      ['readme-javascript', 'wrong_answer'],
    ]);
  });

  it('lists the languages the workers offer', async () => {
    const languages = await client.languages();
    expect(languages.filter((l) => l.available).map((l) => l.id)).toEqual([
      'c',
      'cpp',
      'go',
      'python',
      'java',
      'javascript',
    ]);
  });
});

describe('errors', () => {
  it('rejects an invalid submission locally, naming every problem, and sends nothing', async () => {
    const error = await client
      .submit({ id: 'a.b', language: 'c', code: 1, testCases: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('INVALID_SUBMISSION');
    expect((error as ClientError).problems.map((p) => p.path)).toEqual(['id', 'code', 'testCases']);
    expect(await client.status('a')).toBeNull();
  });

  it('gives up waiting with TIMEOUT', async () => {
    const error = await client
      .waitForFinal('nobody-submitted-this', { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('says NATS_UNREACHABLE when there is no server', async () => {
    const error = await connect({ servers: 'nats://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NATS_UNREACHABLE' });
    expect((error as Error).message).toMatch(/^cannot connect to nats:\/\/127\.0\.0\.1:1/);
  });

  it('says STREAM_MISSING when no worker has created the streams', async () => {
    const empty = await startNatsServer();
    const other = await connect({ servers: empty.url, publishTimeoutMs: 1000 });
    try {
      const error = await other.submit({ id: 'nowhere', ...sum }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STREAM_MISSING' });
    } finally {
      await other.close();
      await empty.cleanup();
    }
  });

  it("refuses a submission larger than the server's max payload before sending it", async () => {
    const small = await startNatsServer({ config: 'max_payload: 4096' });
    const other = await connect({ servers: small.url });
    try {
      const error = await other
        .submit({ id: 'too-large', ...sum, code: 'x'.repeat(10_000) })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', retryable: false });
      expect((error as Error).message).toMatch(
        /^the submission is \d+ bytes; the server accepts at most 4096$/,
      );
    } finally {
      await other.close();
      await small.cleanup();
    }
  });

  it('uses a connection the caller owns without closing it', async () => {
    const nc = await natsConnect({ servers: server.url });
    const borrowed = await connect({ connection: nc });
    expect(await borrowed.status('sdk-sum')).toMatchObject({ type: 'final' });
    await borrowed.close();
    expect(nc.isClosed()).toBe(false);
    await nc.close();
  });
});

describe('after the worker is gone', () => {
  it('still replays finished submissions from the stream', async () => {
    await worker?.stop();
    worker = undefined;
    const events: ResultEvent[] = [];
    for await (const event of client.results('sdk-events')) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: 'final', status: 'success' });
    await expect(client.languages(500)).rejects.toMatchObject({ code: 'NO_WORKERS' });
  });
});
