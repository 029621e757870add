/**
 * From a raw message to a submission the sandbox can run: schema validation, the operator's
 * limits, and normalization (language id, checker, defaults). Every problem is reported at once,
 * and the submission id is kept when it is readable so that an `invalid_submission` result can
 * still be sent.
 */
import { childPath, type Problem } from './problems.js';
import type { CheckerSpec, Settings, Submission } from './types.js';
import { capProblems, decodeMessage, readableSubmissionId, submissionSchemaProblems } from './validate.js';

/** How outputs are compared. `lines` is the default. */
export type Checker =
  /** Byte-for-byte equality. */
  | { type: 'exact' }
  /** Equal line by line, ignoring trailing whitespace on each line and trailing blank lines. */
  | { type: 'lines'; ignoreCase: boolean }
  /** Equal as sequences of whitespace-separated tokens. */
  | { type: 'tokens'; ignoreCase: boolean }
  /** Tokens equal, numbers within an absolute or relative epsilon. */
  | { type: 'float'; absoluteEpsilon: number; relativeEpsilon: number }
  /** The seed's `settings`: optional trim, case folding and whitespace-run folding, then equality. */
  | { type: 'settings'; trim: boolean; caseSensitive: boolean; whitespace: boolean };

/** Epsilon of the `float` checker when the submission gives none. */
export const DEFAULT_FLOAT_EPSILON = 1e-6;

/** Commands from the submission's language object, used only where the operator allows it. */
export interface CustomCommands {
  sourceFile?: string;
  binaryFile?: string;
  compileCommand?: string;
  runCommand?: string;
}

export interface NormalizedTestCase {
  id: string;
  input: string;
  /** Absent: the test is run and reported, not judged. */
  expectOutput?: string;
}

export interface NormalizedFile {
  name: string;
  content: string;
  encoding: 'utf8' | 'base64';
}

/** Every limit of one submission, resolved against the operator's defaults and maximums. */
export interface ResolvedLimits {
  /** CPU time per test run. */
  timeInMs: number;
  /** Wall-clock time per test run. */
  wallTimeInMs: number;
  /** Peak memory per test run. */
  memoryInKb: number;
  /** Standard output plus standard error per test run. */
  outputInKb: number;
}

/** A submission ready to run: every default applied, every limit within the operator's bounds. */
export interface NormalizedSubmission {
  id: string;
  /** The registry's language id. */
  language: string;
  /** Present only when the operator allows custom commands and the submission gave some. */
  customCommands?: CustomCommands;
  code: string;
  files: NormalizedFile[];
  testCases: NormalizedTestCase[];
  limits: ResolvedLimits;
  checker: Checker;
  stopOnFirstFailure: boolean;
}

/** What the operator allows and assumes; the worker builds it from its configuration. */
export interface SubmissionPolicy {
  /** Limits for a submission that gives none. */
  defaults: {
    timeLimitInMs: number;
    memoryLimitInKb: number;
    outputLimitInKb: number;
  };
  /** The most a submission may ask for or carry; more is refused, not clamped. */
  maximums: {
    timeLimitInMs: number;
    wallTimeLimitInMs: number;
    memoryLimitInKb: number;
    outputLimitInKb: number;
    testCases: number;
    files: number;
    /** UTF-8 bytes of `code` plus every extra file. */
    codeBytes: number;
    /** UTF-8 bytes of every test input and expected output together. */
    totalInputBytes: number;
    /** The whole message. */
    messageBytes: number;
  };
  /** The default wall-clock limit is `timeLimit × wallTimeFactor + wallTimeExtraInMs`. */
  wallTimeFactor: number;
  wallTimeExtraInMs: number;
  /** The registry id for a requested language id, or undefined when it is not offered here. */
  resolveLanguage: (id: string) => string | undefined;
  /** The language ids offered, named in the message for an unknown language. */
  languages: readonly string[];
  /** Whether the commands of a seed language object are used (still sandboxed). */
  allowCustomCommands: boolean;
}

export type SubmissionParseResult =
  | { ok: true; submission: NormalizedSubmission }
  | {
      ok: false;
      /** The submission id when one was readable and valid, so a result can be sent. */
      id: string | undefined;
      problems: Problem[];
    };

function normalizeChecker(spec: CheckerSpec | undefined, settings: Settings | undefined): Checker {
  if (spec === undefined) {
    if (settings === undefined) return { type: 'lines', ignoreCase: false };
    return {
      type: 'settings',
      trim: settings.with_trim ?? true,
      caseSensitive: settings.with_case_sensitive ?? true,
      whitespace: settings.with_whitespace ?? true,
    };
  }
  const options = typeof spec === 'string' ? { type: spec } : spec;
  switch (options.type) {
    case 'exact':
      return { type: 'exact' };
    case 'lines':
    case 'tokens':
      return { type: options.type, ignoreCase: options.ignoreCase ?? false };
    case 'float':
      return {
        type: 'float',
        absoluteEpsilon: options.absoluteEpsilon ?? DEFAULT_FLOAT_EPSILON,
        relativeEpsilon: options.relativeEpsilon ?? DEFAULT_FLOAT_EPSILON,
      };
  }
}

function atMost(problems: Problem[], field: string, value: number | undefined, max: number, unit = ''): void {
  if (value !== undefined && value > max) {
    problems.push({
      path: field,
      message: `${field} must be at most ${max}${unit} on this server, got ${value}`,
    });
  }
}

/** The operator's rules that a schema cannot express. */
function policyProblems(sub: Submission, policy: SubmissionPolicy): Problem[] {
  const problems: Problem[] = [];
  const max = policy.maximums;
  atMost(problems, 'timeLimitInMs', sub.timeLimitInMs, max.timeLimitInMs);
  atMost(problems, 'wallTimeLimitInMs', sub.wallTimeLimitInMs, max.wallTimeLimitInMs);
  atMost(problems, 'memoryLimitInKb', sub.memoryLimitInKb, max.memoryLimitInKb);
  atMost(problems, 'outputLimitInKb', sub.outputLimitInKb, max.outputLimitInKb);
  if (sub.testCases.length > max.testCases) {
    problems.push({
      path: 'testCases',
      message: `testCases must have at most ${max.testCases} items on this server, got ${sub.testCases.length}`,
    });
  }
  const files = sub.files ?? [];
  if (files.length > max.files) {
    problems.push({
      path: 'files',
      message: `files must have at most ${max.files} items on this server, got ${files.length}`,
    });
  }
  const codeBytes =
    Buffer.byteLength(sub.code, 'utf8') +
    files.reduce((sum, f) => sum + Buffer.byteLength(f.content, 'utf8'), 0);
  if (codeBytes > max.codeBytes) {
    problems.push({
      path: 'code',
      message: `code and files together must be at most ${max.codeBytes} bytes on this server, got ${codeBytes}`,
    });
  }
  const inputBytes = sub.testCases.reduce(
    (sum, t) =>
      sum + Buffer.byteLength(t.input ?? '', 'utf8') + Buffer.byteLength(t.expectOutput ?? '', 'utf8'),
    0,
  );
  if (inputBytes > max.totalInputBytes) {
    problems.push({
      path: 'testCases',
      message: `test inputs and expected outputs together must be at most ${max.totalInputBytes} bytes on this server, got ${inputBytes}`,
    });
  }
  const languageId = typeof sub.language === 'string' ? sub.language : sub.language.id;
  if (policy.resolveLanguage(languageId) === undefined) {
    const field = typeof sub.language === 'string' ? 'language' : 'language.id';
    problems.push({
      path: field,
      message: `${field} ${JSON.stringify(languageId)} is not offered here; available: ${policy.languages.join(', ') || 'none'}`,
    });
  }
  const seenTests = new Map<string, number>();
  sub.testCases.forEach((test, index) => {
    const id = test.id ?? `test${index + 1}`;
    const first = seenTests.get(id);
    if (first !== undefined) {
      const field = childPath(childPath('testCases', index), 'id');
      problems.push({
        path: field,
        message: `${field} ${JSON.stringify(id)} repeats testCases[${first}]'s id`,
      });
    } else seenTests.set(id, index);
  });
  const seenFiles = new Map<string, number>();
  files.forEach((file, index) => {
    const first = seenFiles.get(file.name);
    const field = childPath(childPath('files', index), 'name');
    if (first !== undefined) {
      problems.push({
        path: field,
        message: `${field} ${JSON.stringify(file.name)} repeats files[${first}].name`,
      });
    } else seenFiles.set(file.name, index);
    if (file.encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(file.content)) {
      const contentField = childPath(childPath('files', index), 'content');
      problems.push({ path: contentField, message: `${contentField} must be base64, as its encoding says` });
    }
  });
  if (sub.checker !== undefined && sub.settings !== undefined) {
    problems.push({
      path: 'checker',
      message: 'checker and settings cannot both be given: choose one way to compare outputs',
    });
  }
  return problems;
}

function customCommandsOf(sub: Submission, policy: SubmissionPolicy): CustomCommands | undefined {
  if (!policy.allowCustomCommands || typeof sub.language === 'string') return undefined;
  const { sourceFile, binaryFile, compileCommand, runCommand } = sub.language;
  if (runCommand === undefined) return undefined;
  return { sourceFile, binaryFile, compileCommand, runCommand };
}

/** Applies the policy's defaults to a schema-valid submission that passed the policy checks. */
function normalize(sub: Submission, policy: SubmissionPolicy): NormalizedSubmission {
  const languageId = typeof sub.language === 'string' ? sub.language : sub.language.id;
  const timeInMs = sub.timeLimitInMs ?? policy.defaults.timeLimitInMs;
  const defaultWall = Math.ceil(timeInMs * policy.wallTimeFactor + policy.wallTimeExtraInMs);
  const customCommands = customCommandsOf(sub, policy);
  return {
    id: sub.id,
    language: policy.resolveLanguage(languageId) as string,
    ...(customCommands ? { customCommands } : {}),
    code: sub.code,
    files: (sub.files ?? []).map((f) => ({
      name: f.name,
      content: f.content,
      encoding: f.encoding ?? 'utf8',
    })),
    testCases: sub.testCases.map((t, index) => ({
      id: t.id ?? `test${index + 1}`,
      input: t.input ?? '',
      ...(t.expectOutput !== undefined ? { expectOutput: t.expectOutput } : {}),
    })),
    limits: {
      timeInMs,
      wallTimeInMs: sub.wallTimeLimitInMs ?? Math.min(defaultWall, policy.maximums.wallTimeLimitInMs),
      memoryInKb: sub.memoryLimitInKb ?? policy.defaults.memoryLimitInKb,
      outputInKb: sub.outputLimitInKb ?? policy.defaults.outputLimitInKb,
    },
    checker: normalizeChecker(sub.checker, sub.settings),
    stopOnFirstFailure: sub.stopOnFirstFailure ?? false,
  };
}

/**
 * Validates and normalizes a submission: bytes or a string are decoded and parsed first; an
 * already-parsed value is validated as it is.
 */
export function parseSubmission(
  data: Uint8Array | string | object,
  policy: SubmissionPolicy,
): SubmissionParseResult {
  let value: unknown = data;
  let problems: Problem[] = [];
  if (typeof data === 'string' || data instanceof Uint8Array) {
    const decoded = decodeMessage(data, { maxBytes: policy.maximums.messageBytes });
    value = decoded.value;
    problems = decoded.problems;
    if (value === undefined) return { ok: false, id: undefined, problems };
  }
  const id = readableSubmissionId(value);
  problems.push(...submissionSchemaProblems(value));
  if (problems.length > 0) return { ok: false, id, problems: capProblems(problems) };
  const submission = value as Submission;
  problems.push(...policyProblems(submission, policy));
  if (problems.length > 0) return { ok: false, id, problems: capProblems(problems) };
  return { ok: true, submission: normalize(submission, policy) };
}
