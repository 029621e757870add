/**
 * Schema validation of submissions and result events: every problem at once, each naming its
 * field. Messages arrive as bytes, so decoding and JSON parsing are part of validation.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { eventSchemas } from './schemas/events.js';
import {
  FILE_NAME_PATTERN,
  LANGUAGE_ID_PATTERN,
  TEST_CASE_ID_PATTERN,
  submissionSchema,
} from './schemas/submission.js';
import { SUBMISSION_ID_PATTERN, isValidSubmissionId } from './subjects.js';
import { describePattern, problemsFromAjv, type Problem } from './problems.js';
import type { ResultEvent, Submission } from './types.js';

describePattern(SUBMISSION_ID_PATTERN, "1 to 128 letters, digits, '_' or '-' (one subject token)");
describePattern(
  LANGUAGE_ID_PATTERN,
  "a language id such as \"cpp\" (letters, digits, '_', '+', '.', '#', '-')",
);
describePattern(TEST_CASE_ID_PATTERN, "1 to 128 letters, digits, '_', '.', ':' or '-'");
describePattern(
  FILE_NAME_PATTERN,
  "a relative file name (letters, digits, '_', '.', '-', up to 8 '/'-separated parts, none starting with '.')",
);

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true } as const;
const ajv = new Ajv(AJV_OPTIONS);
addFormats(ajv, ['date-time']);

type EventValidators = Record<ResultEvent['type'], ValidateFunction>;
const compileEventSchemas = (instance: Ajv): EventValidators => ({
  accepted: instance.compile(eventSchemas.accepted),
  compiled: instance.compile(eventSchemas.compiled),
  test: instance.compile(eventSchemas.test),
  final: instance.compile(eventSchemas.final),
});

const validateSubmissionSchema: ValidateFunction = ajv.compile(submissionSchema);
const validateEventSchema = compileEventSchemas(ajv);

/**
 * The same event schemas without their format checks, for events this service builds: their one
 * format, `at`, comes from `toISOString`, and checking it again cost a worker ~1.5% of its CPU
 * (four events a job). Compiled on first use: only a worker encodes events.
 */
let structuralEventSchema: EventValidators | undefined;
const structuralValidators = (): EventValidators =>
  (structuralEventSchema ??= compileEventSchemas(new Ajv({ ...AJV_OPTIONS, validateFormats: false })));

/** At most this many problems are listed; the rest are counted. */
export const MAX_PROBLEMS = 50;

/** Caps a problem list, ending with a count of what was left out. */
export function capProblems(problems: readonly Problem[], max = MAX_PROBLEMS): Problem[] {
  if (problems.length <= max) return [...problems];
  const rest = problems.length - max;
  return [
    ...problems.slice(0, max),
    { path: '', message: `…and ${rest} more problem${rest === 1 ? '' : 's'}` },
  ];
}

export type Validation<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Every schema problem of a parsed submission, uncapped; none means it is valid. */
export function submissionSchemaProblems(value: unknown): Problem[] {
  return validateSubmissionSchema(value) ? [] : problemsFromAjv(validateSubmissionSchema.errors, value);
}

/** Checks a parsed value against the submission schema. */
export function validateSubmission(value: unknown): Validation<Submission> {
  const problems = submissionSchemaProblems(value);
  return problems.length === 0
    ? { ok: true, value: value as Submission }
    : { ok: false, problems: capProblems(problems) };
}

/**
 * Checks a parsed value against the schema of its event type; `formats: false` leaves out the
 * format checks (for an event built here, not one received).
 */
export function validateEvent(value: unknown, { formats = true } = {}): Validation<ResultEvent> {
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(validateEventSchema, type)) {
    return {
      ok: false,
      problems: [
        {
          path: 'type',
          message: `type must be one of "accepted", "compiled", "test", "final", got ${JSON.stringify(type) ?? 'nothing'}`,
        },
      ],
    };
  }
  const validate = (formats ? validateEventSchema : structuralValidators())[type as ResultEvent['type']];
  if (validate(value)) return { ok: true, value: value as ResultEvent };
  return { ok: false, problems: capProblems(problemsFromAjv(validate.errors, value)) };
}

/** A message body decoded and parsed, with what went wrong on the way. */
export interface DecodedMessage {
  /** The parsed JSON, or undefined when it could not be parsed. */
  value: unknown;
  /** Problems with the bytes themselves (size, encoding, syntax). */
  problems: Problem[];
}

export interface DecodeOptions {
  /** Larger messages are reported as a problem (they are still parsed, to find the id). */
  maxBytes?: number;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

/** Decodes UTF-8 and parses JSON, reporting each failure as a problem. */
export function decodeMessage(data: Uint8Array | string, options: DecodeOptions = {}): DecodedMessage {
  const problems: Problem[] = [];
  const size = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
  if (options.maxBytes !== undefined && size > options.maxBytes) {
    problems.push({
      path: '',
      message: `the message is ${size} bytes; this server accepts at most ${options.maxBytes}`,
    });
  }
  let text: string;
  if (typeof data === 'string') {
    text = data;
  } else {
    try {
      text = strictUtf8.decode(data);
    } catch {
      problems.push({ path: '', message: 'the message is not valid UTF-8 text' });
      text = lenientUtf8.decode(data);
    }
  }
  try {
    return { value: JSON.parse(text) as unknown, problems };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    problems.push({ path: '', message: `the message is not valid JSON: ${reason}` });
    return { value: undefined, problems };
  }
}

/** The submission id of a parsed message, when it has one that is usable as a subject token. */
export function readableSubmissionId(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (!Object.prototype.hasOwnProperty.call(value, 'id')) return undefined;
  const id = (value as { id: unknown }).id;
  return isValidSubmissionId(id) ? id : undefined;
}
