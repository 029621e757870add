/**
 * Dead letters: a copy of a submission the service gave up on, kept in `SUBMISSIONS_DLQ` under
 * `submission.dead.<id>` for inspection. Two ways lead here: a message with no readable id, and
 * a submission that exhausted `max_deliver`. For the second, the server's max-deliveries
 * advisories are captured into a stream (so none is lost while no worker listens) and every
 * worker consumes them: each becomes an `internal_error` final, a dead letter, and the message
 * deleted from the work queue.
 */
import { readableSubmissionId, decodeMessage, deadLetterSubject } from '@coderunner/protocol';
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkerContext } from './context.js';
import { errorFinal, publishFinalOnce } from './finals.js';

export interface DeadLetter {
  data: Uint8Array;
  /** The message's sequence in the submissions stream (the dead letter's message id). */
  streamSeq: number;
  reason: string;
  deliveries: number;
}

/** Stores a dead letter; a repeat for the same stream sequence is de-duplicated. */
export async function publishDeadLetter(ctx: WorkerContext, letter: DeadLetter): Promise<void> {
  const id = readableSubmissionId(decodeMessage(letter.data).value);
  const subject = deadLetterSubject(id ?? `unreadable-${letter.streamSeq}`, ctx.names.deadLetterPrefix);
  const h = headers();
  h.set('Coderunner-Reason', letter.reason.slice(0, 1000).replace(/[\r\n]+/g, ' '));
  h.set('Coderunner-Stream-Seq', String(letter.streamSeq));
  h.set('Coderunner-Deliveries', String(letter.deliveries));
  await ctx.js.publish(subject, letter.data, {
    msgID: `dead:${ctx.names.submissionsStream}:${letter.streamSeq}`,
    headers: h,
    timeout: ctx.config.nats.publishTimeoutMs,
  });
  ctx.metrics.deadLetters.inc({ reason: id ? 'gave_up' : 'unreadable' });
}

/**
 * Gives up on a submission: an `internal_error` final (when its id is readable and it has none)
 * and a dead letter. The final says only `publicReason` (an error code, never a message: ours
 * can name host paths); the dead letter, for operators, keeps the whole reason.
 */
export async function giveUp(
  ctx: WorkerContext,
  letter: DeadLetter,
  attempt: number,
  publicReason: string,
): Promise<void> {
  const id = readableSubmissionId(decodeMessage(letter.data).value);
  if (id) {
    const final = errorFinal(
      { submissionId: id, attempt: Math.max(1, attempt), workerId: ctx.workerId },
      'internal_error',
      `the service could not judge this submission after ${letter.deliveries} deliveries (${publicReason})`,
    );
    await publishFinalOnce(ctx, final);
  }
  await publishDeadLetter(ctx, letter);
}

interface MaxDeliveriesAdvisory {
  stream_seq: number;
  deliveries: number;
}

async function handleAdvisory(ctx: WorkerContext, m: JsMsg): Promise<void> {
  const advisory = m.json<MaxDeliveriesAdvisory>();
  const stream = ctx.names.submissionsStream;
  const stored = await ctx.jsm.streams.getMessage(stream, { seq: advisory.stream_seq }).catch(() => null);
  if (stored) {
    await giveUp(
      ctx,
      {
        data: stored.data,
        streamSeq: advisory.stream_seq,
        reason: 'every delivery failed or timed out',
        deliveries: advisory.deliveries,
      },
      advisory.deliveries,
      'every delivery failed or timed out',
    );
    await ctx.jsm.streams.deleteMessage(stream, advisory.stream_seq).catch(() => false);
    ctx.log.warn(
      { streamSeq: advisory.stream_seq, deliveries: advisory.deliveries },
      'submission moved to dead letters',
    );
  }
  await m.ackAck();
}

/** Consumes max-deliveries advisories until `running()` turns false. */
export async function runAdvisoryLoop(
  ctx: WorkerContext,
  consumer: Consumer,
  running: () => boolean,
): Promise<void> {
  while (running()) {
    let m: JsMsg | null = null;
    try {
      m = await consumer.next({ expires: 5000 });
    } catch (error) {
      ctx.log.debug({ err: error }, 'advisory pull failed; retrying');
      await sleep(1000);
      continue;
    }
    if (!m) continue;
    try {
      await handleAdvisory(ctx, m);
    } catch (error) {
      ctx.log.error({ err: error }, 'cannot handle a max-deliveries advisory; it will be retried');
      m.nak(5000);
    }
  }
}
