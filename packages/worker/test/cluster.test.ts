/**
 * A three-node JetStream cluster (real nats-server processes, the deployment's accounts and
 * permissions from deploy/nats/accounts.conf): two workers connected to all three servers with
 * replicated streams; the server leading SUBMISSIONS is SIGKILLed in the middle of a load, and
 * every submission still ends with exactly one final, a success.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsCluster, type NatsCluster } from '@coderunner/test-helpers';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Worker } from '../src/index.js';
import {
  cSubmission,
  DEPLOY_ACCOUNTS as accounts,
  DEPLOY_PASSWORDS as passwords,
  readResults,
  removeTempDirs,
  startWorker,
  waitFor,
} from './helpers.js';

let cluster: NatsCluster;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const workers: Worker[] = [];

beforeAll(async () => {
  cluster = await startNatsCluster({ config: accounts, env: passwords });
  // The test is a client as the deployment defines one: it may enqueue and read results only.
  nc = await connect({
    servers: [...cluster.urls],
    user: 'client',
    pass: passwords.NATS_CLIENT_PASSWORD,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await nc?.close();
  await cluster?.cleanup();
  await removeTempDirs();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes with the id as message id, retrying (same id) through leader elections. */
async function publish(id: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await js.publish('submission.created', JSON.stringify(cSubmission(id)), { msgID: id, timeout: 2000 });
      return attempt;
    } catch (error) {
      if (attempt >= 60) throw error;
      await sleep(250);
    }
  }
}

/** The leader of a stream, as the servers report it (undefined while there is none). */
async function streamLeader(stream: string): Promise<string | undefined> {
  try {
    return (await jsm.streams.info(stream)).cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every stored event, read again until a read succeeds: for some seconds after a server is lost,
 * creating the ordered consumer can time out on nats-server 2.9.10 even once the streams have
 * new leaders.
 */
async function readResultsRetrying(): Promise<Awaited<ReturnType<typeof readResults>>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await readResults(nc);
    } catch (error) {
      if (attempt >= 10) throw error;
      await sleep(1000);
    }
  }
}

/** The permission violations the servers logged. */
function violations(): string[] {
  return cluster.servers.flatMap((s) => s.log().split('\n')).filter((line) => /Violation/i.test(line));
}

describe('a three-node JetStream cluster', () => {
  it('workers replicate the streams and lose nothing when the SUBMISSIONS leader is killed', async () => {
    const started = Date.now();
    const workerEnv = {
      RUNNER_NATS_REPLICAS: '3',
      RUNNER_NATS_USER: 'worker',
      RUNNER_NATS_PASSWORD: passwords.NATS_WORKER_PASSWORD,
    };
    // One after the other: on nats-server 2.9.10 two workers provisioning the same R3 streams at
    // the same moment can see a stream create or update time out (the server does not answer a
    // request that races another create of the same stream), and a worker stops at start when
    // provisioning fails. The second worker here finds the streams and updates them.
    for (let i = 0; i < 2; i++) workers.push(await startWorker(cluster.url, workerEnv));

    for (const stream of ['SUBMISSIONS', 'RESULTS']) {
      const info = await jsm.streams.info(stream);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.leader).toBeTruthy();
      expect(info.cluster?.replicas ?? []).toHaveLength(2);
    }

    const ids = Array.from({ length: 150 }, (_, i) => `cluster-${i}`);
    const leader = await streamLeader('SUBMISSIONS');
    expect(leader).toBeDefined();
    let retried = 0;
    for (const [index, id] of ids.entries()) {
      if (index === 50) {
        // Mid-load: the workers hold jobs, more are queued, and more are still to come.
        await cluster.server(leader as string).kill();
      }
      retried += await publish(id);
    }

    // A new leader is elected among the two that are left, for the streams and the metadata.
    await waitFor(async () => {
      const [submissions, results] = await Promise.all([
        streamLeader('SUBMISSIONS'),
        streamLeader('RESULTS'),
      ]);
      return [submissions, results].every((l) => l !== undefined && l !== leader);
    }, 30_000);
    await cluster.waitForMetaLeader(30_000);

    let events = new Map<string, { type: string; status?: string }[]>();
    const finalsOf = (id: string) => (events.get(id) ?? []).filter((e) => e.type === 'final');
    await waitFor(
      async () => {
        events = await readResults(nc).catch(() => events);
        return ids.every((id) => finalsOf(id).length > 0);
      },
      90_000,
      () => `missing finals: ${ids.filter((id) => finalsOf(id).length === 0).join(', ')}`,
    );
    // Late duplicates would show up now, if any.
    await sleep(1000);
    events = await readResultsRetrying();

    expect(ids.filter((id) => finalsOf(id).length !== 1)).toEqual([]);
    expect(ids.map((id) => finalsOf(id)[0]).filter((f) => f?.status !== 'success')).toEqual([]);
    // The workers and this client did all of it within the deployment's permissions.
    expect(violations()).toEqual([]);
    process.stderr.write(
      `cluster test: killed ${leader} (SUBMISSIONS leader) after 50 of ${ids.length} submissions; ` +
        `${retried} publish retries; new leader ${await streamLeader('SUBMISSIONS')}; ` +
        `${ids.length} finals in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
  }, 150_000);

  it('a client may not publish results (deployment permissions)', async () => {
    // A permissions violation closes nothing: the publish gets no acknowledgement.
    await expect(
      js.publish('submission.result.forged', JSON.stringify({ type: 'final' }), { timeout: 2000 }),
    ).rejects.toThrow();
    const forged = await jsm.direct
      .getMessage('RESULTS', { last_by_subj: 'submission.result.forged' })
      .catch(() => null);
    expect(forged).toBeNull();
    expect(violations().join('\n')).toMatch(/Publish Violation.*submission\.result\.forged/);
  }, 30_000);
});
