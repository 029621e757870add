/**
 * The job pipeline against a real nats-server and the real sandbox: the seed example end to end,
 * de-duplication, and every kind of bad input answered without stopping the worker.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { NatsServer } from '@coderunner/test-helpers';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { SEED_EXAMPLE, type FinalEvent } from '@coderunner/protocol';
import type { Worker } from '../src/index.js';
import {
  cSubmission,
  encoder,
  readResults,
  closeBus,
  openBus,
  startWorker,
  waitFor,
  waitForFinals,
} from './helpers.js';

let server: NatsServer;
let nc: NatsConnection;
let js: JetStreamClient;
let worker: Worker;

beforeAll(async () => {
  ({ server, nc, js } = await openBus());
  worker = await startWorker(server.url, {
    RUNNER_LIMITS_MAXMESSAGEBYTES: '65536',
    RUNNER_LIMITS_MAXTESTCASES: '50',
    RUNNER_LIMITS_MAXCODEBYTES: '20000',
    RUNNER_LIMITS_MAXTOTALINPUTBYTES: '30000',
  });
});

afterAll(async () => {
  await worker.stop();
  await closeBus({ server, nc, js });
});

async function finalOf(id: string): Promise<FinalEvent> {
  const finals = await waitForFinals(nc, [id]);
  return (finals.get(id) as FinalEvent[])[0] as FinalEvent;
}

describe('the pipeline', () => {
  it("runs the seed service's example message: accepted, compiled, test, final success", async () => {
    await js.publish('submission.created', JSON.stringify(SEED_EXAMPLE));
    const final = await finalOf('unique-submission-id');
    expect(final.status).toBe('success');
    const events = (await readResults(nc)).get('unique-submission-id') ?? [];
    expect(events.map((e) => e.type)).toEqual(['accepted', 'compiled', 'test', 'final']);
    expect(events[2]).toMatchObject({
      type: 'test',
      testCaseId: 'test1',
      status: 'success',
      output: 'Hello, World!\n',
    });
    expect(final).toMatchObject({ passed: 1, total: 1, attempt: 1 });
  });

  it('processes a plain core-NATS publish like a JetStream publish', async () => {
    nc.publish('submission.created', JSON.stringify(cSubmission('core-publish')));
    expect((await finalOf('core-publish')).status).toBe('success');
  });

  it('runs a submission published five times with the same id once, with one final', async () => {
    const body = JSON.stringify(cSubmission('five-times'));
    const acks = [];
    for (let i = 0; i < 5; i++)
      acks.push(await js.publish('submission.created', body, { msgID: 'five-times' }));
    expect(acks.filter((a) => !a.duplicate)).toHaveLength(1);
    await finalOf('five-times');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const events = (await readResults(nc)).get('five-times') ?? [];
    expect(events.filter((e) => e.type === 'final')).toHaveLength(1);
    expect(events.filter((e) => e.type === 'accepted')).toHaveLength(1);
  });

  it('does not judge again an id that already has a final, even past the de-duplication window', async () => {
    await js.publish('submission.created', JSON.stringify(cSubmission('again')));
    await finalOf('again');
    // A publish without a message id is not de-duplicated by the stream: the worker must see the final.
    nc.publish('submission.created', JSON.stringify(cSubmission('again')));
    nc.publish('submission.created', JSON.stringify(cSubmission('again')));
    await waitFor(
      async () =>
        (await js.consumers.get('SUBMISSIONS', 'coderunner_prod_group').then((c) => c.info())).num_pending ===
        0,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const events = (await readResults(nc)).get('again') ?? [];
    // The copies were stopped before storing anything: the first judging's events only.
    expect(events.map((e) => e.type)).toEqual(['accepted', 'compiled', 'test', 'test', 'final']);
  });
});

describe('bad input', () => {
  const invalid = async (id: string, body: string | Uint8Array): Promise<FinalEvent> => {
    await js.publish('submission.created', body);
    const final = await finalOf(id);
    expect(final.status).toBe('invalid_submission');
    return final;
  };

  it('a schema violation gets an invalid_submission final naming every problem', async () => {
    const final = await invalid(
      'bad-schema',
      JSON.stringify({ id: 'bad-schema', language: 'c', code: 5, testCases: [{ input: 1 }] }),
    );
    expect(final.problems).toEqual([
      'code must be a string, got number',
      'testCases[0].input must be a string, got number',
    ]);
    expect(final.error).toContain('code must be a string, got number');
  });

  it('an unknown language is named with the languages offered', async () => {
    const final = await invalid(
      'bad-language',
      JSON.stringify({ ...cSubmission('bad-language'), language: 'cobol' }),
    );
    expect(final.problems?.[0]).toMatch(
      /^language "cobol" is not offered here; available: c, cpp, go, python, java, javascript$/,
    );
  });

  it('a limit beyond the operator maximum is refused', async () => {
    const final = await invalid(
      'bad-limit',
      JSON.stringify({ ...cSubmission('bad-limit'), timeLimitInMs: 999_999 }),
    );
    expect(final.problems).toEqual(['timeLimitInMs must be at most 15000 on this server, got 999999']);
  });

  it("the worker's own limits on code size, test count and total input are each named", async () => {
    const tooMany = await invalid(
      'too-many-tests',
      JSON.stringify({
        ...cSubmission('too-many-tests'),
        testCases: Array.from({ length: 51 }, () => ({ input: '1 2', expectOutput: '3' })),
      }),
    );
    expect(tooMany.problems).toEqual(['testCases must have at most 50 items on this server, got 51']);
    const tooLong = await invalid(
      'too-much-code',
      JSON.stringify({ ...cSubmission('too-much-code'), code: `// ${'x'.repeat(20_000)}` }),
    );
    expect(tooLong.problems).toEqual([
      'code and files together must be at most 20000 bytes on this server, got 20003',
    ]);
    const tooMuchInput = await invalid(
      'too-much-input',
      JSON.stringify({
        ...cSubmission('too-much-input'),
        testCases: [{ input: '1'.repeat(20_000), expectOutput: '2'.repeat(10_001) }],
      }),
    );
    expect(tooMuchInput.problems).toEqual([
      'test inputs and expected outputs together must be at most 30000 bytes on this server, got 30001',
    ]);
  });

  it('an oversized message is refused with its size', async () => {
    const final = await invalid(
      'too-big',
      JSON.stringify({ ...cSubmission('too-big'), code: 'x'.repeat(70_000) }),
    );
    expect(final.problems?.[0]).toMatch(/^the message is \d+ bytes; this server accepts at most 65536$/);
  });

  it('malformed JSON without an id becomes a dead letter, and the worker keeps serving', async () => {
    const ack = await js.publish('submission.created', encoder.encode('{"id": "broken", '));
    const jsm = await js.jetstreamManager();
    await waitFor(async () => (await jsm.streams.info('SUBMISSIONS_DLQ')).state.messages > 0);
    const letter = await jsm.streams.getMessage('SUBMISSIONS_DLQ', {
      last_by_subj: `submission.dead.unreadable-${ack.seq}`,
    });
    expect(letter?.string()).toBe('{"id": "broken", ');
    expect(letter?.header.get('Coderunner-Reason')).toMatch(/the message is not valid JSON/);
    await js.publish('submission.created', JSON.stringify(cSubmission('after-junk')));
    expect((await finalOf('after-junk')).status).toBe('success');
  });

  it('an id that is not a subject token becomes a dead letter', async () => {
    const ack = await js.publish('submission.created', JSON.stringify(cSubmission('a.b')));
    const jsm = await js.jetstreamManager();
    await waitFor(async () =>
      Boolean(
        await jsm.streams
          .getMessage('SUBMISSIONS_DLQ', { last_by_subj: `submission.dead.unreadable-${ack.seq}` })
          .catch(() => null),
      ),
    );
  });

  it('leaves nothing unacknowledged in the submissions stream', async () => {
    const jsm = await js.jetstreamManager();
    await waitFor(async () => (await jsm.streams.info('SUBMISSIONS')).state.messages === 0);
    const consumer = await jsm.consumers.info('SUBMISSIONS', 'coderunner_prod_group');
    expect(consumer.num_ack_pending).toBe(0);
  });
});
