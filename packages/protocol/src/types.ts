/**
 * Wire types, derived from the JSON Schemas so that they cannot drift apart: a change to a schema
 * changes its type, and code that no longer fits fails to compile.
 */
import type { FromSchema } from 'json-schema-to-ts';
import type {
  acceptedEventSchema,
  compileResultSchema,
  compiledEventSchema,
  finalEventSchema,
  testEventSchema,
  testResultSchema,
} from './schemas/events.js';
import type {
  checkerSchema,
  languageObjectSchema,
  settingsSchema,
  sourceFileSchema,
  submissionSchema,
  testCaseSchema,
} from './schemas/submission.js';

export type Submission = FromSchema<typeof submissionSchema>;
export type LanguageObject = FromSchema<typeof languageObjectSchema>;
export type TestCase = FromSchema<typeof testCaseSchema>;
export type SourceFile = FromSchema<typeof sourceFileSchema>;
export type Settings = FromSchema<typeof settingsSchema>;
export type CheckerSpec = FromSchema<typeof checkerSchema>;

export type CompileResult = FromSchema<typeof compileResultSchema>;
export type TestResult = FromSchema<typeof testResultSchema>;
export type AcceptedEvent = FromSchema<typeof acceptedEventSchema>;
export type CompiledEvent = FromSchema<typeof compiledEventSchema>;
export type TestEvent = FromSchema<typeof testEventSchema>;
export type FinalEvent = FromSchema<typeof finalEventSchema>;

/** Any event published on `submission.result.<id>`. */
export type ResultEvent = AcceptedEvent | CompiledEvent | TestEvent | FinalEvent;
export type ResultEventType = ResultEvent['type'];
