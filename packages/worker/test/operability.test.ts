/** What operators and tools see: health, readiness, metrics, and the NATS services API. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { LanguageInfo } from '@coderunner/sandbox';
import type { Worker } from '../src/index.js';
import { cSubmission, freePort, removeTempDirs, startWorker, waitFor, waitForFinals } from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let worker: Worker;
let base: string;

beforeAll(async () => {
  server = await startNatsServer();
  const port = await freePort();
  // A short ack_wait: a job that outlasts it must be kept by the worker's heartbeats.
  worker = await startWorker(server.url, {
    RUNNER_HTTP_PORT: String(port),
    RUNNER_HTTP_HOST: '127.0.0.1',
    RUNNER_NATS_ACKWAITSEC: '1',
  });
  base = `http://127.0.0.1:${port}`;
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await worker.stop();
  await nc.close();
  await server.cleanup();
  await removeTempDirs();
});

describe('operability', () => {
  it('answers /healthz and /readyz while connected and consuming', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
  });

  it('counts jobs by verdict in /metrics', async () => {
    await jetstream(nc).publish('submission.created', JSON.stringify(cSubmission('metrics-1')));
    await waitForFinals(nc, ['metrics-1']);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^coderunner_jobs_total\{verdict="success"\} [1-9]/m);
    expect(text).toMatch(/^coderunner_job_duration_seconds_count [1-9]/m);
    expect(text).toContain('coderunner_jobs_in_flight');
    expect(text).toContain('coderunner_redeliveries_total');
    expect(text).toContain('coderunner_sandbox_failures_total');
    // The process's own figures, the event loop's lag among them (sampled every 250 ms).
    expect(text).toMatch(/^coderunner_worker_nodejs_eventloop_lag_p99_seconds \d/m);
  });

  it('keeps a job longer than ack_wait (delivered once), counted in flight while it runs', async () => {
    const sleeper = {
      ...cSubmission(
        'long-1',
        '#include <stdio.h>\n#include <time.h>\nint main(void){struct timespec t={2,500000000};nanosleep(&t,0);puts("3");return 0;}',
      ),
      testCases: [{ id: 't1', input: '', expectOutput: '3\n' }],
      wallTimeLimitInMs: 8000,
    };
    const inFlight = async (): Promise<string | undefined> =>
      /^coderunner_jobs_in_flight (\d+)/m.exec(await (await fetch(`${base}/metrics`)).text())?.[1];
    const jsm = await jetstreamManager(nc);
    const accepted = nc.subscribe('submission.result.long-1', { max: 1 });
    await jetstream(nc).publish('submission.created', JSON.stringify(sleeper));
    for await (const _event of accepted) break;
    expect(await inFlight()).toBe('1');
    const finals = await waitForFinals(nc, ['long-1']);
    const final = finals.get('long-1')?.[0];
    expect(final).toMatchObject({ status: 'success', attempt: 1 });
    const consumer = await jsm.consumers.info('SUBMISSIONS', 'coderunner_prod_group');
    expect(consumer.num_redelivered).toBe(0);
    await waitFor(async () => (await inFlight()) === '0');
  });

  it('is visible through the NATS services API and answers the languages endpoint', async () => {
    const ping = await nc.request('$SRV.PING.coderunner', '', { timeout: 2000 });
    expect(ping.json<{ name: string; metadata: Record<string, string> }>()).toMatchObject({
      name: 'coderunner',
      metadata: { sandboxType: 'bwrap' },
    });
    const reply = await nc.request('coderunner.languages', '', { timeout: 2000 });
    const languages = reply.json<LanguageInfo[]>();
    expect(languages.map((l) => l.id)).toEqual(['c', 'cpp', 'go', 'python', 'java', 'javascript']);
    expect(languages.every((l) => l.available && typeof l.version === 'string')).toBe(true);
  });

  it('reports unhealthy after it stopped', async () => {
    const port = await freePort();
    const other = await startWorker(server.url, {
      RUNNER_HTTP_PORT: String(port),
      RUNNER_HTTP_HOST: '127.0.0.1',
    });
    expect(other.ready()).toBe(true);
    await other.stop();
    expect(other.ready()).toBe(false);
    expect(other.state).toBe('stopped');
  });
});
