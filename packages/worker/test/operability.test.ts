/** What operators and tools see: health, readiness, metrics, and the NATS services API. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { LanguageInfo } from '@coderunner/sandbox';
import type { Worker } from '../src/index.js';
import { cSubmission, freePort, removeTempDirs, startWorker, waitForFinals } from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let worker: Worker;
let base: string;

beforeAll(async () => {
  server = await startNatsServer();
  const port = await freePort();
  worker = await startWorker(server.url, { RUNNER_HTTP_PORT: String(port), RUNNER_HTTP_HOST: '127.0.0.1' });
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
