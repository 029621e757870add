/**
 * One submission, from message to acknowledgement:
 * validate → `accepted` → compile → for each test: run, `test` → `final` → ack (the events
 * before the final are stored in order while the judging goes on; the final waits for them).
 * A malformed message gets an `invalid_submission` final (or a dead letter without an id) and is
 * terminated. A fault of our own is handed back with a delay (nak), and on the last delivery
 * becomes an `internal_error` final and a dead letter.
 */
import { parseSubmission, type NormalizedSubmission, type ResultEvent } from '@coderunner/protocol';
import type { JsMsg } from '@nats-io/jetstream';
import { isoNow } from './clock.js';
import type { WorkerContext } from './context.js';
import { giveUp, publishDeadLetter } from './dead-letters.js';
import { WorkerError } from './errors.js';
import { boundTest } from './event-size.js';
import { errorFinal, judgedFinal, publishFinalOnce, type EventBase } from './finals.js';
import { JobLogger } from './logger.js';
import { ResultChannel } from './results.js';

/** How a job ended, for logs and tests. */
export type JobOutcome =
  'judged' | 'invalid' | 'dead-letter' | 'duplicate' | 'superseded' | 'retry' | 'gave-up' | 'handed-back';

function retryDelay(ctx: WorkerContext, attempt: number): number {
  const delays = ctx.config.runner.retryBackoffMs;
  return delays[Math.min(attempt - 1, delays.length - 1)] ?? 1000;
}

function describe(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e.code === 'string' ? e.code : 'UNEXPECTED', message: String(e.message ?? error) };
}

async function handleInvalid(
  ctx: WorkerContext,
  m: JsMsg,
  log: JobLogger,
  id: string | undefined,
  problems: string[],
): Promise<JobOutcome> {
  ctx.metrics.invalid.inc();
  if (id === undefined) {
    log.warn({ problems }, 'unreadable submission moved to dead letters');
    await publishDeadLetter(ctx, {
      data: m.data,
      streamSeq: m.seq,
      reason: `invalid submission without a usable id: ${problems.join('; ')}`,
      deliveries: m.info.deliveryCount,
    });
    m.term();
    return 'dead-letter';
  }
  const base: EventBase = { submissionId: id, attempt: m.info.deliveryCount, workerId: ctx.workerId };
  const stored = await publishFinalOnce(
    ctx,
    errorFinal(base, 'invalid_submission', `invalid submission: ${problems.join('; ')}`, problems),
  );
  log.info({ problems, stored }, 'invalid submission');
  // No reason: nats-server 2.9 ignores a term with a reason and redelivers the message.
  m.term();
  return 'invalid';
}

async function judge(
  ctx: WorkerContext,
  m: JsMsg,
  log: JobLogger,
  submission: NormalizedSubmission,
  signal: AbortSignal | undefined,
  onJudged: (() => void) | undefined,
): Promise<JobOutcome> {
  const attempt = m.info.deliveryCount;
  const base: EventBase = { submissionId: submission.id, attempt, workerId: ctx.workerId };
  const queuedMs = Math.max(0, Date.now() - m.info.timestampNanos / 1_000_000);
  const started = Date.now();
  const channel = await ResultChannel.start(
    ctx.results,
    submission.id,
    { type: 'accepted', ...base, at: isoNow(), queuedInMs: queuedMs },
    attempt === 1,
  );
  if (!channel) {
    log.info('a final is already stored for this id: not judging it again');
    await m.ackAck();
    return 'duplicate';
  }
  ctx.metrics.queueWait.observe(queuedMs / 1000);
  let result;
  try {
    // The events go out in order while the judging goes on; the final waits for them all.
    result = await ctx.engine
      .judge(submission, {
        ...(signal ? { signal } : {}),
        onEvent: async (event) => {
          let published: ResultEvent;
          if (event.type === 'compiled')
            published = { type: 'compiled', ...base, at: isoNow(), ...event.compile };
          else
            published = {
              type: 'test',
              ...base,
              at: isoNow(),
              ...boundTest(event.result, ctx.config.limits.eventOutputBytes),
            };
          await channel.send(published);
        },
      })
      .finally(onJudged);
    await channel.flush();
  } catch (error) {
    // Nothing of this attempt may still be landing when the message goes back.
    await channel.settled();
    throw error;
  }
  const final = judgedFinal(ctx, base, result);
  const { duplicate } = await channel.publish(final);
  // Not confirmed (no ackAck round trip): should the ack be lost, the redelivery finds the final
  // stored and is acknowledged without being judged again.
  m.ack();
  const durationMs = Date.now() - started;
  ctx.metrics.jobs.inc({ verdict: result.status });
  ctx.metrics.jobDuration.observe(durationMs / 1000);
  log.info(
    { verdict: result.status, durationMs, queuedMs, passed: result.passed, total: result.total, duplicate },
    'judged',
  );
  return 'judged';
}

/**
 * Handles one delivered message; never throws. `signal` cancels it (the message is handed back).
 * The caller keeps the message from being redelivered while it runs (`Worker` sends its
 * progress heartbeats).
 * `onJudged` is called once the sandbox work is over (its slot is free), before the final is
 * stored.
 */
export async function handleMessage(
  ctx: WorkerContext,
  m: JsMsg,
  signal?: AbortSignal,
  onJudged?: () => void,
): Promise<JobOutcome> {
  const attempt = m.info.deliveryCount;
  if (attempt > 1) ctx.metrics.redeliveries.inc();
  const parsed = parseSubmission(m.data, ctx.policy);
  const id = parsed.ok ? parsed.submission.id : parsed.id;
  const log = new JobLogger(ctx.log, { submissionId: id ?? null, attempt, streamSeq: m.seq });
  try {
    if (!parsed.ok)
      return await handleInvalid(
        ctx,
        m,
        log,
        parsed.id,
        parsed.problems.map((p) => p.message),
      );
    return await judge(ctx, m, log, parsed.submission, signal, onJudged);
  } catch (error) {
    if (error instanceof WorkerError && error.code === 'SUPERSEDED') {
      log.warn('another attempt of this submission took over: standing down');
      return 'superseded';
    }
    const { code, message } = describe(error);
    if (code === 'CANCELLED' || signal?.aborted) {
      log.warn('cancelled: handing the submission back for another worker');
      m.nak();
      return 'handed-back';
    }
    ctx.metrics.sandboxFailures.inc({ code });
    if (attempt >= ctx.config.nats.maxDeliver) {
      log.error({ err: error }, 'failed on the last delivery: giving up');
      try {
        await giveUp(
          ctx,
          { data: m.data, streamSeq: m.seq, reason: `${code}: ${message}`, deliveries: attempt },
          attempt,
          code,
        );
        m.term();
        return 'gave-up';
      } catch (inner) {
        log.error({ err: inner }, 'cannot give up cleanly; the server will retry through its advisory');
        m.nak();
        return 'retry';
      }
    }
    const delay = retryDelay(ctx, attempt);
    log.warn({ err: error, retryInMs: delay }, 'failed on our side: handing the submission back');
    m.nak(delay);
    return 'retry';
  }
}
