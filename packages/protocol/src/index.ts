export {
  SUBMISSION_ID_PATTERN,
  DEFAULT_NAMES,
  isValidSubmissionId,
  resultSubject,
  resultSubjectWildcard,
  deadLetterSubject,
} from './subjects.js';
export { VERDICTS, TEST_VERDICTS, isVerdict, overallVerdict } from './verdicts.js';
export type { Verdict, TestVerdict } from './verdicts.js';
export {
  submissionSchema,
  languageObjectSchema,
  testCaseSchema,
  sourceFileSchema,
  settingsSchema,
  checkerSchema,
  checkerTypes,
  HARD_LIMITS,
  LANGUAGE_ID_PATTERN,
  FILE_NAME_PATTERN,
  TEST_CASE_ID_PATTERN,
} from './schemas/submission.js';
export {
  acceptedEventSchema,
  compiledEventSchema,
  testEventSchema,
  finalEventSchema,
  compileResultSchema,
  testResultSchema,
  eventSchemas,
} from './schemas/events.js';
export type {
  Submission,
  LanguageObject,
  TestCase,
  SourceFile,
  Settings,
  CheckerSpec,
  CompileResult,
  TestResult,
  AcceptedEvent,
  CompiledEvent,
  TestEvent,
  FinalEvent,
  ResultEvent,
  ResultEventType,
} from './types.js';
export type { Problem } from './problems.js';
export { formatPath, problemsFromAjv } from './problems.js';
export {
  validateSubmission,
  validateEvent,
  decodeMessage,
  readableSubmissionId,
  capProblems,
  MAX_PROBLEMS,
} from './validate.js';
export type { Validation, DecodedMessage, DecodeOptions } from './validate.js';
export { parseSubmission, DEFAULT_FLOAT_EPSILON } from './normalize.js';
export type {
  Checker,
  CustomCommands,
  NormalizedFile,
  NormalizedSubmission,
  NormalizedTestCase,
  ResolvedLimits,
  SubmissionParseResult,
  SubmissionPolicy,
} from './normalize.js';
export { encodeEvent, decodeEvent } from './events.js';
export { ProtocolError } from './errors.js';
export type { ProtocolErrorCode } from './errors.js';
export { SEED_EXAMPLE } from './examples.js';
