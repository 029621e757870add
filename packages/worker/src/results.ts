/**
 * Publishes the events of one submission attempt to `submission.result.<id>`, in order, each
 * after the one before is stored (`send` queues them so that the judging need not wait). Every
 * publish carries a message id (a retry after a timeout cannot store twice), and expects the
 * subject's last sequence to be the one this attempt last saw: if another attempt of the same
 * submission has published in between (a redelivery while this worker was stalled), the publish
 * fails and this attempt stands down. Together with the `final` message id, that keeps one
 * `final` per submission.
 */
import { encodeEvent, decodeEvent, resultSubject, type ResultEvent } from '@coderunner/protocol';
import type { JetStreamManager } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { PublishError, WorkerError } from './errors.js';
import type { StreamPublisher } from './stream-publisher.js';

const WRONG_LAST_SEQUENCE = 10071;
/** Events `send` lets wait for their turn before it waits itself. */
const MAX_QUEUED = 8;

export interface ResultOptions {
  publisher: StreamPublisher;
  jsm: JetStreamManager;
  resultsStream: string;
  resultPrefix: string;
  timeoutMs: number;
  retries: number;
}

/** The message id of an event: `final` is one per submission; others are per attempt. */
export function eventMsgId(event: ResultEvent): string {
  if (event.type === 'final') return `${event.submissionId}:final`;
  const suffix = event.type === 'test' ? `test:${event.index ?? event.testCaseId}` : event.type;
  return `${event.submissionId}:${event.attempt}:${suffix}`;
}

export class ResultChannel {
  /** The events queued by `send`, each published after the one before; never rejects. */
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private failure: Error | undefined;

  private constructor(
    private readonly options: ResultOptions,
    readonly subject: string,
    private lastSeq: number,
    /** The last event stored for this submission when the channel opened. */
    readonly last: ResultEvent | undefined,
  ) {}

  /** Opens the channel of a submission, reading its latest stored event. */
  static async open(options: ResultOptions, submissionId: string): Promise<ResultChannel> {
    const subject = resultSubject(submissionId, options.resultPrefix);
    const stored = await options.jsm.direct.getMessage(options.resultsStream, { last_by_subj: subject });
    let last: ResultEvent | undefined;
    if (stored) {
      try {
        last = decodeEvent(stored.data);
      } catch {
        last = undefined;
      }
    }
    return new ResultChannel(options, subject, stored?.seq ?? 0, last);
  }

  /**
   * Opens the channel of a submission and stores its first event, or returns undefined (storing
   * nothing) when a final is already stored. On a first delivery the subject is expected to be
   * empty, which spares reading it first (one round trip less per job); when it is not (the id
   * was submitted before), it is read and the event goes after what is there.
   */
  static async start(
    options: ResultOptions,
    submissionId: string,
    first: ResultEvent,
    firstDelivery: boolean,
  ): Promise<ResultChannel | undefined> {
    if (firstDelivery) {
      const channel = new ResultChannel(
        options,
        resultSubject(submissionId, options.resultPrefix),
        0,
        undefined,
      );
      try {
        await channel.publish(first);
        return channel;
      } catch (error) {
        if (!(error instanceof WorkerError) || error.code !== 'SUPERSEDED') throw error;
      }
    }
    const channel = await ResultChannel.open(options, submissionId);
    if (channel.finished) return undefined;
    await channel.send(first);
    return channel;
  }

  /** A final is already stored for this submission. */
  get finished(): boolean {
    return this.last?.type === 'final';
  }

  /**
   * Queues an event, to be stored after those queued before it (each expects the sequence of
   * the one before), and returns without waiting for it, so that the judging goes on meanwhile.
   * Throws the failure of an earlier one (SUPERSEDED: stand down), and waits while many are
   * queued. `flush` waits for them all.
   */
  async send(event: ResultEvent): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.queued >= MAX_QUEUED) await this.flush();
    this.queued++;
    this.chain = this.chain
      .then(async () => {
        if (this.failure === undefined) await this.publish(event);
      })
      .catch((error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.queued--;
      });
  }

  /** Waits until every queued event is stored; throws the first failure. */
  async flush(): Promise<void> {
    await this.chain;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Waits until nothing queued is in flight any more, stored or not (before a job lets go). */
  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * Stores an event. Throws `WorkerError` SUPERSEDED when another attempt published since, and
   * PUBLISH_FAILED when the server could not be reached after every retry.
   */
  async publish(event: ResultEvent): Promise<{ duplicate: boolean }> {
    const data = encodeEvent(event);
    const msgId = eventMsgId(event);
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.options.publisher.publish(this.subject, data, {
          msgId,
          timeoutMs: this.options.timeoutMs,
          lastSubjectSequence: this.lastSeq,
          stream: this.options.resultsStream,
        });
        this.lastSeq = ack.seq;
        return { duplicate: ack.duplicate };
      } catch (error) {
        if (error instanceof PublishError && error.apiCode === WRONG_LAST_SEQUENCE) {
          throw new WorkerError(
            'SUPERSEDED',
            `another attempt of ${event.submissionId} has published results`,
            {
              cause: error,
            },
          );
        }
        if (attempt >= this.options.retries) {
          throw new WorkerError(
            'PUBLISH_FAILED',
            `cannot store the ${event.type} event: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        }
        // A timeout does not tell whether the event was stored: the same message id makes the
        // retry safe. Other errors (no responders while the server restarts) also get retried.
        await sleep(
          error instanceof PublishError && error.code === 'TIMEOUT'
            ? 100
            : Math.min(2000, 200 * 2 ** attempt),
        );
      }
    }
  }
}
