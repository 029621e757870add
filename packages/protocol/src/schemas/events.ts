import { SUBMISSION_ID_PATTERN } from '../subjects.js';
import { TEST_VERDICTS, VERDICTS } from '../verdicts.js';

const nonNegativeInteger = { type: 'integer', minimum: 0 } as const;
const nonNegativeNumber = { type: 'number', minimum: 0 } as const;

/** Fields every event carries. */
const baseProperties = {
  submissionId: { type: 'string', pattern: SUBMISSION_ID_PATTERN },
  /** Delivery attempt of the submission that produced the event (1 on the first). */
  attempt: { type: 'integer', minimum: 1 },
  /** When the event was produced (ISO 8601). */
  at: { type: 'string', format: 'date-time' },
  /** Which worker produced it. */
  workerId: { type: 'string' },
} as const;

const baseRequired = ['type', 'submissionId', 'attempt', 'at'] as const;

/** The compile step; `cached` when a previous identical compile was reused. */
export const compileResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'output', 'timeInMs', 'cached'],
  properties: {
    status: { type: 'string', enum: ['success', 'compile_error'] },
    /** Compiler output (stdout and stderr), bounded. */
    output: { type: 'string' },
    /** True when `output` was cut to fit. */
    truncated: { type: 'boolean' },
    /** Wall time of the compile step. */
    timeInMs: nonNegativeNumber,
    cached: { type: 'boolean' },
  },
} as const;

/** One test case's run. */
export const testResultSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'testCaseId',
    'status',
    'timeUsedInMs',
    'wallTimeInMs',
    'memoryUsedInKb',
    'exitCode',
    'signal',
    'output',
    'error',
  ],
  properties: {
    testCaseId: { type: 'string' },
    /** Position of the test case in the submission (0-based). */
    index: nonNegativeInteger,
    status: { type: 'string', enum: TEST_VERDICTS },
    /** CPU time (user + system) of every process of the run, measured by the kernel. */
    timeUsedInMs: nonNegativeNumber,
    wallTimeInMs: nonNegativeNumber,
    /** Peak memory of the run's cgroup (see the README: counts page cache and tmpfs too). */
    memoryUsedInKb: nonNegativeInteger,
    exitCode: { type: ['integer', 'null'] },
    /** Name of the signal that ended the program (`SIGKILL`), or null. */
    signal: { type: ['string', 'null'] },
    /** Standard output, bounded. */
    output: { type: 'string' },
    /** Standard error, bounded. */
    error: { type: 'string' },
    /** True when `output` or `error` was cut to fit. */
    truncated: { type: 'boolean' },
    /** Why the checker rejected the output, when it did (first difference). */
    message: { type: 'string' },
  },
} as const;

export const acceptedEventSchema = {
  $id: 'urn:coderunner:schema:event:accepted',
  title: 'AcceptedEvent',
  type: 'object',
  additionalProperties: false,
  required: [...baseRequired, 'queuedInMs'],
  properties: {
    type: { const: 'accepted' },
    ...baseProperties,
    /** How long the submission waited in the queue before a worker took it. */
    queuedInMs: nonNegativeNumber,
  },
} as const;

export const compiledEventSchema = {
  $id: 'urn:coderunner:schema:event:compiled',
  title: 'CompiledEvent',
  type: 'object',
  additionalProperties: false,
  required: [...baseRequired, ...compileResultSchema.required],
  properties: {
    type: { const: 'compiled' },
    ...baseProperties,
    ...compileResultSchema.properties,
  },
} as const;

export const testEventSchema = {
  $id: 'urn:coderunner:schema:event:test',
  title: 'TestEvent',
  type: 'object',
  additionalProperties: false,
  required: [...baseRequired, ...testResultSchema.required],
  properties: {
    type: { const: 'test' },
    ...baseProperties,
    ...testResultSchema.properties,
  },
} as const;

export const finalEventSchema = {
  $id: 'urn:coderunner:schema:event:final',
  title: 'FinalEvent',
  type: 'object',
  additionalProperties: false,
  required: [
    ...baseRequired,
    'status',
    'tests',
    'compile',
    'passed',
    'total',
    'maxTimeUsedInMs',
    'maxMemoryUsedInKb',
  ],
  properties: {
    type: { const: 'final' },
    ...baseProperties,
    /** The overall verdict: the first non-success test verdict in test order, else success. */
    status: { type: 'string', enum: VERDICTS },
    tests: { type: 'array', items: testResultSchema },
    compile: { anyOf: [compileResultSchema, { type: 'null' }] },
    passed: nonNegativeInteger,
    total: nonNegativeInteger,
    maxTimeUsedInMs: nonNegativeNumber,
    maxMemoryUsedInKb: nonNegativeInteger,
    /** What went wrong, for `invalid_submission` and `internal_error`. */
    error: { type: 'string' },
    /** Every problem found in an invalid submission, one message each. */
    problems: { type: 'array', items: { type: 'string' } },
    /** True when outputs were cut to excerpts so that the event fits one message. */
    truncated: { type: 'boolean' },
  },
} as const;

export const eventSchemas = {
  accepted: acceptedEventSchema,
  compiled: compiledEventSchema,
  test: testEventSchema,
  final: finalEventSchema,
} as const;
