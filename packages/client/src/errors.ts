import type { Problem } from '@coderunner/protocol';

/** Stable codes of client errors. */
export type ClientErrorCode =
  /** The submission does not meet the contract; `problems` names every field. Nothing was sent. */
  | 'INVALID_SUBMISSION'
  /** No answer in time (no final yet, or the server did not acknowledge a publish). */
  | 'TIMEOUT'
  /** The NATS server cannot be reached. */
  | 'NATS_UNREACHABLE'
  /** The submissions or results stream does not exist (no worker has provisioned it yet). */
  | 'STREAM_MISSING'
  /** The submissions stream is at its configured limits and refuses new submissions. */
  | 'QUEUE_FULL'
  /** The message is larger than the server's max payload. */
  | 'MESSAGE_TOO_LARGE'
  /** Nobody answered a request (no worker is running). */
  | 'NO_WORKERS'
  /** The server refused the operation (permissions, other errors). */
  | 'REFUSED';

const RETRYABLE: ReadonlySet<ClientErrorCode> = new Set([
  'TIMEOUT',
  'NATS_UNREACHABLE',
  'QUEUE_FULL',
  'NO_WORKERS',
]);

export class ClientError extends Error {
  override name = 'ClientError';
  readonly retryable: boolean;

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    options?: { cause?: unknown; problems?: readonly Problem[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = RETRYABLE.has(code);
    this.problems = options?.problems ?? [];
  }

  /** For INVALID_SUBMISSION: every problem, each naming its field. */
  readonly problems: readonly Problem[];
}
