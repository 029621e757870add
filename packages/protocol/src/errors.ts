import type { Problem } from './problems.js';

/** Stable codes of protocol errors; classify by code once an error has crossed the wire. */
export type ProtocolErrorCode = 'INVALID_SUBMISSION' | 'INVALID_EVENT';

/** A message that does not meet the contract; `problems` names every field at fault. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
  /** Sending the same message again cannot help. */
  readonly retryable = false;

  constructor(
    readonly code: ProtocolErrorCode,
    readonly problems: readonly Problem[],
    options?: { cause?: unknown },
  ) {
    const what = code === 'INVALID_SUBMISSION' ? 'invalid submission' : 'invalid event';
    super(`${what}: ${problems.map((p) => p.message).join('; ')}`, options);
  }
}
