import { SUBMISSION_ID_PATTERN } from '../subjects.js';

/** A language id: the server's registry decides which exist. */
export const LANGUAGE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_+.#-]{0,63}$';

/** A relative file name inside the work dir: no absolute paths, no `.`/`..` or hidden segments. */
export const FILE_NAME_PATTERN =
  '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}){0,7}$';

/** A test case id: printable and short, so that it can be shown and used as a key. */
export const TEST_CASE_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';

/**
 * Hard structural caps that hold whatever the operator configures; the operator's own (lower)
 * maximums are applied after schema validation, with messages that say they are the server's.
 */
export const HARD_LIMITS = {
  testCases: 10_000,
  files: 100,
  commandLength: 4096,
} as const;

const positiveInteger = { type: 'integer', minimum: 1 } as const;

/** The seed service's language object. Commands in it are used only when the server allows it. */
export const languageObjectSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', pattern: LANGUAGE_ID_PATTERN },
    sourceFile: { type: 'string', pattern: FILE_NAME_PATTERN },
    binaryFile: { type: 'string', pattern: FILE_NAME_PATTERN },
    compileCommand: { type: 'string', maxLength: HARD_LIMITS.commandLength },
    runCommand: { type: 'string', minLength: 1, maxLength: HARD_LIMITS.commandLength },
  },
} as const;

export const checkerTypes = ['exact', 'lines', 'tokens', 'float'] as const;

export const checkerSchema = {
  anyOf: [
    { type: 'string', enum: checkerTypes },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: { type: 'string', enum: checkerTypes },
        /** float: largest accepted absolute difference (default 1e-6). */
        absoluteEpsilon: { type: 'number', minimum: 0 },
        /** float: largest accepted difference relative to the expected value (default 1e-6). */
        relativeEpsilon: { type: 'number', minimum: 0 },
        /** tokens and lines: compare letters case-insensitively (default false). */
        ignoreCase: { type: 'boolean' },
      },
    },
  ],
} as const;

export const testCaseSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Defaults to `test<N>` (1-based). */
    id: { type: 'string', pattern: TEST_CASE_ID_PATTERN },
    /** Standard input of the run (default empty). */
    input: { type: 'string' },
    /** Expected standard output; without it the test is run and reported, not judged. */
    expectOutput: { type: 'string' },
  },
} as const;

export const sourceFileSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'content'],
  properties: {
    name: { type: 'string', pattern: FILE_NAME_PATTERN },
    content: { type: 'string' },
    /** How `content` is written: `utf8` (default) or `base64` for binary files. */
    encoding: { type: 'string', enum: ['utf8', 'base64'] },
  },
} as const;

/** The seed's settings: `with_trim`, `with_case_sensitive`, `with_whitespace` (all default true). */
export const settingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    with_trim: { type: 'boolean' },
    with_case_sensitive: { type: 'boolean' },
    with_whitespace: { type: 'boolean' },
  },
} as const;

/** A submission as published to `submission.created`. */
export const submissionSchema = {
  $id: 'urn:coderunner:schema:submission',
  title: 'Submission',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'language', 'code', 'testCases'],
  properties: {
    id: { type: 'string', pattern: SUBMISSION_ID_PATTERN },
    language: {
      anyOf: [{ type: 'string', pattern: LANGUAGE_ID_PATTERN }, languageObjectSchema],
    },
    code: { type: 'string' },
    files: { type: 'array', maxItems: HARD_LIMITS.files, items: sourceFileSchema },
    timeLimitInMs: positiveInteger,
    wallTimeLimitInMs: positiveInteger,
    memoryLimitInKb: positiveInteger,
    outputLimitInKb: positiveInteger,
    testCases: { type: 'array', minItems: 1, maxItems: HARD_LIMITS.testCases, items: testCaseSchema },
    settings: settingsSchema,
    checker: checkerSchema,
    stopOnFirstFailure: { type: 'boolean' },
  },
} as const;
