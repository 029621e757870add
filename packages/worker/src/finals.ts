/** Building and publishing `final` events, exactly once per submission id. */
import type { FinalEvent, Verdict } from '@coderunner/protocol';
import type { JudgeResult } from '@coderunner/sandbox';
import type { WorkerContext } from './context.js';
import { isoNow } from './clock.js';
import { WorkerError } from './errors.js';
import { boundFinal } from './event-size.js';
import { ResultChannel } from './results.js';

export interface EventBase {
  submissionId: string;
  attempt: number;
  workerId: string;
}

function stamp(base: EventBase): EventBase & { at: string } {
  return { ...base, at: isoNow() };
}

/** The `final` event of a judged submission, cut to fit one message. */
export function judgedFinal(ctx: WorkerContext, base: EventBase, result: JudgeResult): FinalEvent {
  return boundFinal(
    {
      type: 'final',
      ...stamp(base),
      status: result.status,
      tests: result.tests,
      compile: result.compile,
      passed: result.passed,
      total: result.total,
      maxTimeUsedInMs: result.maxTimeUsedInMs,
      maxMemoryUsedInKb: result.maxMemoryUsedInKb,
    },
    ctx.config.limits.eventOutputBytes,
    ctx.maxPayload,
  );
}

/** The `final` event of a submission that was not judged. */
export function errorFinal(
  base: EventBase,
  status: Extract<Verdict, 'invalid_submission' | 'internal_error'>,
  error: string,
  problems?: string[],
): FinalEvent {
  return {
    type: 'final',
    ...stamp(base),
    status,
    tests: [],
    compile: null,
    passed: 0,
    total: 0,
    maxTimeUsedInMs: 0,
    maxMemoryUsedInKb: 0,
    error,
    ...(problems ? { problems } : {}),
  };
}

/**
 * Publishes a `final` unless one is already stored; returns whether this call stored it. Used
 * outside a job's own channel (invalid submissions, dead letters), so it re-reads the subject.
 */
export async function publishFinalOnce(ctx: WorkerContext, final: FinalEvent): Promise<boolean> {
  for (let tries = 0; tries < 5; tries++) {
    const channel = await ResultChannel.open(ctx.results, final.submissionId);
    if (channel.finished) return false;
    try {
      const { duplicate } = await channel.publish(final);
      return !duplicate;
    } catch (error) {
      if (!(error instanceof WorkerError) || error.code !== 'SUPERSEDED') throw error;
      // Someone published on the subject meanwhile: look again.
    }
  }
  throw new WorkerError(
    'PUBLISH_FAILED',
    `cannot store the final of ${final.submissionId}: the subject keeps changing`,
  );
}
