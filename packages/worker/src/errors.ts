/** Stable codes of worker errors. */
export type WorkerErrorCode =
  /** The configuration file or an environment variable is invalid; the worker does not start. */
  | 'CONFIG_INVALID'
  /** A stream or consumer could not be created or does not match what the worker needs. */
  | 'PROVISION_FAILED'
  /** A result could not be stored in JetStream after every retry. */
  | 'PUBLISH_FAILED'
  /** Another attempt of the same submission has published since this one did. */
  | 'SUPERSEDED';

const RETRYABLE: ReadonlySet<WorkerErrorCode> = new Set(['PUBLISH_FAILED']);

export class WorkerError extends Error {
  override name = 'WorkerError';
  readonly retryable: boolean;

  constructor(
    readonly code: WorkerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = RETRYABLE.has(code);
  }
}

/** Why a message was not (known to be) stored in a stream (see `StreamPublisher`). */
export type PublishErrorCode =
  /** No answer in time: it may or may not be stored (the same message id makes a retry safe). */
  | 'TIMEOUT'
  /** No stream listens on the subject (or JetStream is not answering, as while a server restarts). */
  | 'NO_RESPONDERS'
  /** The stream refused it; `apiCode` is the server's error code (10071: wrong last sequence). */
  | 'REJECTED'
  /** The connection is closed or closing. */
  | 'CLOSED';

const RETRYABLE_PUBLISH: ReadonlySet<PublishErrorCode> = new Set(['TIMEOUT', 'NO_RESPONDERS']);

export class PublishError extends Error {
  override name = 'PublishError';
  readonly retryable: boolean;

  constructor(
    readonly code: PublishErrorCode,
    message: string,
    /** The server's `err_code` when it refused the message. */
    readonly apiCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = RETRYABLE_PUBLISH.has(code);
  }
}
