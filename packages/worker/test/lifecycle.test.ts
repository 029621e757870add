/**
 * Workers that die, stop, or lose their server: a SIGKILLed worker's job is finished by another,
 * SIGTERM lets a running job finish (or hands it back) and exits 0, and a nats-server restart
 * loses nothing. Workers here are separate processes running the built worker.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { NatsServer } from '@coderunner/test-helpers';
import { type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FinalEvent } from '@coderunner/protocol';
import {
  readResults,
  spawnWorker,
  startWorker,
  waitFor,
  waitForFinals,
  cSubmission,
  closeBus,
  openBus,
} from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;

beforeAll(async () => {
  ({ server, nc, js } = await openBus());
});

afterAll(() => closeBus({ server, nc, js }));

function sleeper(id: string, seconds: number): string {
  return JSON.stringify({
    id,
    language: 'python',
    code: `import time\ntime.sleep(${seconds})\nprint("slept")`,
    wallTimeLimitInMs: 20_000,
    testCases: [{ expectOutput: 'slept' }],
  });
}

async function accepted(id: string): Promise<void> {
  await waitFor(
    async () => ((await readResults(nc)).get(id) ?? []).some((e) => e.type === 'accepted'),
    30_000,
  );
}

async function onlyFinal(id: string): Promise<FinalEvent> {
  const finals = await waitForFinals(nc, [id], 60_000);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const all = ((await readResults(nc)).get(id) ?? []).filter((e): e is FinalEvent => e.type === 'final');
  expect(all).toHaveLength(1);
  return finals.get(id)?.[0] as FinalEvent;
}

describe('worker lifecycle', () => {
  it('a worker SIGKILLed mid-job: another worker finishes the job, with one final', async () => {
    const first = await spawnWorker(server.url, { RUNNER_NATS_ACKWAITSEC: '2' });
    await js.publish('submission.created', sleeper('killed-mid-job', 3));
    await accepted('killed-mid-job');
    first.child.kill('SIGKILL');
    await first.exited;
    const second = await startWorker(server.url, { RUNNER_NATS_ACKWAITSEC: '2' });
    try {
      const final = await onlyFinal('killed-mid-job');
      expect(final).toMatchObject({ status: 'success', attempt: 2 });
    } finally {
      await second.stop();
    }
  }, 90_000);

  it('SIGTERM during a long job: the job finishes, then the worker exits 0', async () => {
    const worker = await spawnWorker(server.url);
    await js.publish('submission.created', sleeper('term-finishes', 2));
    await accepted('term-finishes');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    const final = await onlyFinal('term-finishes');
    expect(final).toMatchObject({ status: 'success', attempt: 1 });
    expect(worker.output()).toContain('stopping: no more pulls, finishing running jobs');
  }, 60_000);

  it('SIGTERM with a job longer than the grace period: the job is handed back and finished elsewhere', async () => {
    const worker = await spawnWorker(server.url, { RUNNER_RUNNER_SHUTDOWNGRACESEC: '1' });
    await js.publish('submission.created', sleeper('term-hands-back', 4));
    await accepted('term-hands-back');
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.output()).toContain('grace period over: handing back unfinished jobs');
    const other = await startWorker(server.url);
    try {
      const final = await onlyFinal('term-hands-back');
      expect(final).toMatchObject({ status: 'success', attempt: 2 });
    } finally {
      await other.stop();
    }
  }, 60_000);

  it('nats-server restarted mid-run (file storage): every submission still gets its final', async () => {
    const worker = await startWorker(server.url, { RUNNER_NATS_ACKWAITSEC: '3' });
    try {
      const before = Array.from({ length: 20 }, (_, i) => `restart-before-${i}`);
      const after = Array.from({ length: 20 }, (_, i) => `restart-after-${i}`);
      for (const id of before)
        await js.publish('submission.created', JSON.stringify(cSubmission(id)), { msgID: id });
      await server.restart();
      for (const id of after) {
        // The client reconnects on its own; a publish during the reconnect is retried with its id.
        for (let attempt = 0; ; attempt++) {
          try {
            await js.publish('submission.created', JSON.stringify(cSubmission(id)), {
              msgID: id,
              timeout: 2000,
            });
            break;
          } catch (error) {
            if (attempt > 20) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
      }
      const ids = [...before, ...after];
      await waitForFinals(nc, ids, 120_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const events = await readResults(nc);
      const counts = ids.map((id) => (events.get(id) ?? []).filter((e) => e.type === 'final').length);
      expect(counts.filter((c) => c !== 1)).toEqual([]);
    } finally {
      await worker.stop();
    }
  }, 180_000);
});
