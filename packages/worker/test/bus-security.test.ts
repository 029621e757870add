/**
 * The bus with authentication on, as deployed (deploy/nats/accounts.conf) plus a second tenant
 * account: a user of another account sees none of the service's results, cannot reach its
 * streams and cannot enqueue into it or forge its results; a client of the service's own account
 * reads results but may not publish them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { Worker } from '../src/index.js';
import {
  cSubmission,
  DEPLOY_ACCOUNTS,
  DEPLOY_PASSWORDS,
  readResults,
  removeTempDirs,
  startWorker,
  waitForFinals,
} from './helpers.js';

const TENANT = `
  TENANT {
    jetstream: enabled
    users: [{ user: tenant, password: tenant-test-password }]
  }
`;

let server: NatsServer;
let worker: Worker;
let client: NatsConnection;
let tenant: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer({
    config: DEPLOY_ACCOUNTS.replace(/^accounts \{$/m, `accounts {${TENANT}`),
    env: DEPLOY_PASSWORDS,
  });
  worker = await startWorker(server.url, {
    RUNNER_NATS_USER: 'worker',
    RUNNER_NATS_PASSWORD: DEPLOY_PASSWORDS.NATS_WORKER_PASSWORD,
  });
  client = await connect({
    servers: server.url,
    user: 'client',
    pass: DEPLOY_PASSWORDS.NATS_CLIENT_PASSWORD,
  });
  tenant = await connect({ servers: server.url, user: 'tenant', pass: 'tenant-test-password' });
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await client?.close();
  await tenant?.close();
  await server?.cleanup();
  await removeTempDirs();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('another account', () => {
  it('sees none of the results while a submission is judged', async () => {
    const seen: string[] = [];
    const sub = tenant.subscribe('>', {
      callback: (_error, msg: Msg) => {
        seen.push(msg.subject);
      },
    });
    await tenant.flush();
    await jetstream(client).publish('submission.created', JSON.stringify(cSubmission('judged-in-private')));
    const finals = await waitForFinals(client, ['judged-in-private']);
    expect(finals.get('judged-in-private')?.[0]?.status).toBe('success');
    await tenant.flush();
    sub.unsubscribe();
    expect(seen).toEqual([]);
  }, 60_000);

  it("cannot reach the service's streams", async () => {
    const jsm = await jetstreamManager(tenant);
    await expect(jsm.streams.info('RESULTS')).rejects.toThrow(/stream not found/);
    await expect(jsm.streams.info('SUBMISSIONS')).rejects.toThrow(/stream not found/);
    await expect(
      jsm.direct.getMessage('RESULTS', { last_by_subj: 'submission.result.judged-in-private' }),
    ).rejects.toThrow();
  });

  it('cannot enqueue into the service nor forge its results', async () => {
    tenant.publish('submission.created', JSON.stringify(cSubmission('from-another-account')));
    tenant.publish(
      'submission.result.judged-in-private',
      JSON.stringify({ type: 'final', submissionId: 'judged-in-private', status: 'wrong_answer' }),
    );
    await tenant.flush();
    await sleep(2000); // time enough for a worker to pick up a submission it could see
    const events = await readResults(client);
    expect(events.has('from-another-account')).toBe(false);
    const finals = (events.get('judged-in-private') ?? []).filter((e) => e.type === 'final');
    expect(finals).toHaveLength(1);
    expect(finals[0]).toMatchObject({ status: 'success' });
  }, 30_000);
});

describe("a client of the service's account", () => {
  it('reads results but may not publish them', async () => {
    client.publish(
      'submission.result.judged-in-private',
      JSON.stringify({ type: 'final', status: 'success' }),
    );
    await client.flush();
    const finals = (await readResults(client)).get('judged-in-private')?.filter((e) => e.type === 'final');
    expect(finals).toHaveLength(1);
    expect(server.log()).toMatch(/Publish Violation.*submission\.result\.judged-in-private/);
  });
});
