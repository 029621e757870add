/**
 * The exit codes of `coderunner` and the error that carries one. Scripts rely on these numbers:
 * they are part of the command line's contract.
 */
import { ClientError, type ClientErrorCode } from '../errors.js';

export const EXIT = {
  /** The final verdict is `success` (or the command did what it was asked). */
  ok: 0,
  /** Another verdict, a failed check, or a command that could not do its job. */
  failed: 1,
  /** Usage error or invalid input: nothing was sent. */
  usage: 2,
  /** The server cannot be reached, a stream is missing, no worker answered, or a timeout. */
  server: 3,
  /** `result`: no event is stored for this id. */
  notFound: 4,
  /** `result` without `--follow`: events are stored but no final yet. */
  pending: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the command line reports in one line and exits with. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** A usage error or invalid input (exit 2). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}

const BY_CLIENT_CODE: Record<ClientErrorCode, ExitCode> = {
  INVALID_SUBMISSION: EXIT.usage,
  MESSAGE_TOO_LARGE: EXIT.usage,
  NATS_UNREACHABLE: EXIT.server,
  STREAM_MISSING: EXIT.server,
  TIMEOUT: EXIT.server,
  NO_WORKERS: EXIT.server,
  QUEUE_FULL: EXIT.server,
  REFUSED: EXIT.server,
};

/** The exit code for an error of any kind. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof ClientError) return BY_CLIENT_CODE[error.code];
  return EXIT.failed;
}

/** An error as the one line `coderunner: …` prints. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('; ')
    .replace(/:;/g, ':');
}
