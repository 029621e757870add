/**
 * The Coderunner client: submit a submission, replay its events, wait for its final, read its
 * latest state. One NATS connection, opened here or owned by the caller.
 */
import { readFileSync } from 'node:fs';
import {
  DEFAULT_NAMES,
  decodeEvent,
  resultSubject,
  validateSubmission,
  type FinalEvent,
  type ResultEvent,
  type Submission,
} from '@coderunner/protocol';
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect as natsConnect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { ClientError } from './errors.js';

export interface ClientOptions {
  /** NATS server URL(s). Default `nats://localhost:4222` (or `RUNNER_NATS_URL`). */
  servers?: string | string[];
  /** A connection the caller owns: the client uses it and does not close it. */
  connection?: NatsConnection;
  user?: string;
  pass?: string;
  token?: string;
  /** Path of a .creds file. */
  credsFile?: string;
  /** Subject submissions are published to. Default `submission.created`. */
  submissionSubject?: string;
  /** Prefix of result subjects. Default `submission.result`. */
  resultPrefix?: string;
  /** The results stream. Default `RESULTS`. */
  resultsStream?: string;
  /** How long a publish waits for the server's acknowledgement. Default 5000 ms. */
  publishTimeoutMs?: number;
}

export interface WaitOptions {
  /** Give up after this long (TIMEOUT). Default: wait forever. */
  timeoutMs?: number;
  /** Called with every event as it arrives, the final included. */
  onEvent?: (event: ResultEvent) => void;
}

/** What a server said, as a client error with a stable code. */
export function classify(error: unknown, what: string): ClientError {
  if (error instanceof ClientError) return error;
  const e = error as { code?: unknown; message?: string; name?: string; cause?: { message?: string } };
  // A publish nobody stores is reported as "jetstream is not enabled", with "no responders" as its cause.
  const message = `${e.message ?? String(error)}${e.cause?.message ? ` (${e.cause.message})` : ''}`;
  const code = e.code;
  if (code === 10077 || /maximum messages|maximum bytes|exceeded/i.test(message)) {
    return new ClientError('QUEUE_FULL', `${what}: the queue is full (${message})`, { cause: error });
  }
  if (/maximum payload|MAX_PAYLOAD/i.test(message)) {
    return new ClientError('MESSAGE_TOO_LARGE', `${what}: the message is larger than the server accepts`, {
      cause: error,
    });
  }
  if (
    code === 10059 ||
    code === 10014 ||
    e.name === 'JetStreamNotEnabled' ||
    /no responders|stream not found|no stream/i.test(message)
  ) {
    return new ClientError('STREAM_MISSING', `${what}: the stream does not exist; is a worker running?`, {
      cause: error,
    });
  }
  if (e.name === 'TimeoutError' || /timeout/i.test(message)) {
    return new ClientError('TIMEOUT', `${what}: the server did not answer in time`, { cause: error });
  }
  return new ClientError('REFUSED', `${what}: ${message}`, { cause: error });
}

export class CoderunnerClient {
  readonly js: JetStreamClient;
  private jsmPromise: Promise<JetStreamManager> | undefined;
  private readonly submissionSubject: string;
  private readonly resultPrefix: string;
  private readonly resultsStream: string;
  private readonly publishTimeoutMs: number;

  /** Use `connect()`. */
  constructor(
    readonly nc: NatsConnection,
    private readonly owned: boolean,
    options: ClientOptions,
  ) {
    this.js = jetstream(nc);
    this.submissionSubject = options.submissionSubject ?? DEFAULT_NAMES.submissionSubject;
    this.resultPrefix = options.resultPrefix ?? DEFAULT_NAMES.resultSubjectPrefix;
    this.resultsStream = options.resultsStream ?? DEFAULT_NAMES.resultsStream;
    this.publishTimeoutMs = options.publishTimeoutMs ?? 5000;
  }

  private jsm(): Promise<JetStreamManager> {
    this.jsmPromise ??= jetstreamManager(this.nc);
    return this.jsmPromise;
  }

  /**
   * Validates a submission locally (throwing INVALID_SUBMISSION with every problem before
   * anything is sent), publishes it with its id as the de-duplication id, and returns the id.
   * Publishing the same id again within the de-duplication window is a no-op.
   */
  async submit(submission: Submission | Record<string, unknown>): Promise<string> {
    const checked = validateSubmission(submission);
    if (!checked.ok) {
      throw new ClientError(
        'INVALID_SUBMISSION',
        `invalid submission: ${checked.problems.map((p) => p.message).join('; ')}`,
        { problems: checked.problems },
      );
    }
    const body = JSON.stringify(checked.value);
    const size = Buffer.byteLength(body);
    const max = this.nc.info?.max_payload;
    if (max !== undefined && size > max) {
      throw new ClientError(
        'MESSAGE_TOO_LARGE',
        `the submission is ${size} bytes; the server accepts at most ${max}`,
      );
    }
    try {
      await this.js.publish(this.submissionSubject, body, {
        msgID: checked.value.id,
        timeout: this.publishTimeoutMs,
      });
    } catch (error) {
      throw classify(error, `cannot submit ${checked.value.id}`);
    }
    return checked.value.id;
  }

  /** The latest stored event of a submission, or null when there is none. */
  async status(id: string): Promise<ResultEvent | null> {
    try {
      const jsm = await this.jsm();
      const stored = await jsm.direct.getMessage(this.resultsStream, {
        last_by_subj: resultSubject(id, this.resultPrefix),
      });
      return stored ? decodeEvent(stored.data) : null;
    } catch (error) {
      throw classify(error, `cannot read the status of ${id}`);
    }
  }

  /**
   * Every event of a submission, replayed from the start of the results stream and then live,
   * ending after its `final`. With `follow: false`, ends at the last stored event instead.
   */
  async *results(
    id: string,
    options: { follow?: boolean; timeoutMs?: number } = {},
  ): AsyncGenerator<ResultEvent> {
    const follow = options.follow ?? true;
    const subject = resultSubject(id, this.resultPrefix);
    if (!follow && (await this.status(id)) === null) return;
    let consumer;
    // Creating the replay consumer can time out for a moment while a cluster elects a leader.
    for (let attempt = 1; consumer === undefined; attempt++) {
      try {
        consumer = await this.js.consumers.get(this.resultsStream, {
          filter_subjects: subject,
          deliver_policy: DeliverPolicy.All,
        });
      } catch (error) {
        const failure = classify(error, `cannot read the results of ${id}`);
        if (failure.code !== 'TIMEOUT' || attempt >= 5) throw failure;
      }
    }
    const messages = await consumer.consume();
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              messages.stop(new ClientError('TIMEOUT', `no final for ${id} within ${options.timeoutMs} ms`)),
            options.timeoutMs,
          );
    try {
      for await (const m of messages) {
        const event = decodeEvent(m.data);
        yield event;
        if (event.type === 'final' || (!follow && m.info.pending === 0)) break;
      }
    } catch (error) {
      throw classify(error, `cannot read the results of ${id}`);
    } finally {
      if (timer) clearTimeout(timer);
      messages.stop();
    }
  }

  /** Resolves with the `final` of a submission, waiting for it if needed. */
  async waitForFinal(id: string, options: WaitOptions = {}): Promise<FinalEvent> {
    for await (const event of this.results(
      id,
      options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs },
    )) {
      options.onEvent?.(event);
      if (event.type === 'final') return event;
    }
    throw new ClientError('TIMEOUT', `no final for ${id}`);
  }

  /** Submits and resolves with the `final` event. */
  async submitAndWait(
    submission: Submission | Record<string, unknown>,
    options: WaitOptions = {},
  ): Promise<FinalEvent> {
    const id = await this.submit(submission);
    return this.waitForFinal(id, options);
  }

  /** The languages the workers offer, with versions (asks one worker). */
  async languages(
    timeoutMs = 5000,
  ): Promise<{ id: string; name: string; version?: string; available: boolean; reason?: string }[]> {
    try {
      const reply = await this.nc.request('coderunner.languages', '', { timeout: timeoutMs });
      return reply.json();
    } catch (error) {
      const message = (error as Error).message ?? '';
      if (/no responders/i.test(message) || (error as { code?: unknown }).code === '503') {
        throw new ClientError('NO_WORKERS', 'no worker answered: is one running?', { cause: error });
      }
      throw classify(error, 'cannot list the languages');
    }
  }

  /** Closes the connection, unless the caller owns it. */
  async close(): Promise<void> {
    if (this.owned) await this.nc.drain();
  }
}

/** Connects to NATS (or takes the caller's connection) and returns a client. */
export async function connect(options: ClientOptions = {}): Promise<CoderunnerClient> {
  if (options.connection) return new CoderunnerClient(options.connection, false, options);
  const servers = options.servers ?? process.env.RUNNER_NATS_URL ?? 'nats://localhost:4222';
  try {
    const nc = await natsConnect({
      servers: typeof servers === 'string' ? servers.split(',') : servers,
      name: 'coderunner-client',
      // No stack captured for every request in case it times out (costly under load).
      noAsyncTraces: true,
      ...(options.user !== undefined ? { user: options.user, pass: options.pass ?? '' } : {}),
      ...(options.token !== undefined ? { token: options.token } : {}),
      ...(options.credsFile !== undefined
        ? { authenticator: credsAuthenticator(readFileSync(options.credsFile)) }
        : {}),
    });
    return new CoderunnerClient(nc, true, options);
  } catch (error) {
    throw new ClientError(
      'NATS_UNREACHABLE',
      `cannot connect to ${String(servers)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}
