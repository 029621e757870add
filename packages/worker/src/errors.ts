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
