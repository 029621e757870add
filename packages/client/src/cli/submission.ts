/**
 * Builds a submission from the command line's inputs (a source file, a tests file or
 * --stdin/--expect, limits, an id), and checks it before anything is sent. Each problem is
 * reported with where its value came from: `tests.yaml: testCases[1].input must be a string, got
 * number`, `--time-limit: timeLimitInMs must be <= 15000, got 99999`.
 */
import { randomBytes } from 'node:crypto';
import { validateSubmission, type Problem, type Submission } from '@coderunner/protocol';
import { usageError, type CliError } from './exit-codes.js';
import { resolveLanguage } from './language-of.js';
import { readText } from './read-file.js';
import { readTestsFile } from './tests-file.js';

export interface SubmissionInput {
  /** The source file. */
  file: string;
  /** A language id; default: from the file's extension. */
  lang?: string | undefined;
  /** A tests file (YAML). */
  tests?: string | undefined;
  /** A file whose content is the input of one test. */
  stdin?: string | undefined;
  /** A file whose content is the expected output of that test. */
  expect?: string | undefined;
  timeLimitMs?: number | undefined;
  /** In MB; sent as `memoryLimitInKb`. */
  memoryLimitMb?: number | undefined;
  /** Default: a fresh unique id. */
  id?: string | undefined;
  /** Prefix of a generated id. Default `cli`. */
  idPrefix?: string;
}

export interface BuiltSubmission {
  submission: Submission;
  /** The expected output of each test, by position (undefined: run, not judged). */
  expected: (string | undefined)[];
}

/** A fresh submission id: the prefix, the time and random bits (`cli-m1x2y3-9f8e7d6c`). */
export function newSubmissionId(prefix = 'cli'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** The top-level field a problem is about (`testCases` for `testCases[1].input`). */
function rootOf(problem: Problem): string {
  return problem.path.split(/[.[]/)[0] ?? '';
}

const YAML_SCALAR = /must be a string, got (number|integer|boolean|null)$/;

/** One message for every problem, grouped by where the values came from. */
export function describeProblems(
  problems: readonly Problem[],
  sources: ReadonlyMap<string, string>,
  yamlSources: ReadonlySet<string> = new Set(),
): string {
  const groups = new Map<string, string[]>();
  for (const problem of problems) {
    const source = sources.get(rootOf(problem)) ?? '';
    const hint = yamlSources.has(source) && YAML_SCALAR.test(problem.message) ? ' (quote it in YAML)' : '';
    groups.set(source, [...(groups.get(source) ?? []), problem.message + hint]);
  }
  return [...groups]
    .map(([source, messages]) => `${source ? `${source}: ` : 'invalid submission: '}${messages.join('; ')}`)
    .join('; ');
}

/** Reads the files, assembles the submission and validates it; a usage error names every problem. */
export function buildSubmission(input: SubmissionInput): BuiltSubmission {
  if (input.tests !== undefined && (input.stdin !== undefined || input.expect !== undefined)) {
    throw usageError('give either --tests or --stdin/--expect, not both');
  }
  const language = resolveLanguage(input.file, input.lang);
  const code = readText(input.file);
  const sources = new Map<string, string>([
    ['id', input.id === undefined ? 'id' : '--id'],
    ['language', input.lang === undefined ? input.file : '--lang'],
    ['code', input.file],
  ]);
  const yamlSources = new Set<string>();
  let testCases: unknown[];
  let fields: Record<string, unknown> = {};
  if (input.tests !== undefined) {
    const file = readTestsFile(input.tests);
    testCases = file.testCases;
    fields = file.fields;
    yamlSources.add(file.path);
    for (const key of ['testCases', ...Object.keys(fields)]) sources.set(key, file.path);
  } else {
    const test: Record<string, string> = { input: input.stdin === undefined ? '' : readText(input.stdin) };
    if (input.expect !== undefined) test.expectOutput = readText(input.expect);
    testCases = [test];
    sources.set('testCases', input.stdin !== undefined ? '--stdin' : '--expect');
  }
  const submission: Record<string, unknown> = {
    id: input.id ?? newSubmissionId(input.idPrefix),
    language,
    code,
    ...fields,
    testCases,
  };
  if (input.timeLimitMs !== undefined) {
    submission.timeLimitInMs = input.timeLimitMs;
    sources.set('timeLimitInMs', '--time-limit');
  }
  if (input.memoryLimitMb !== undefined) {
    submission.memoryLimitInKb = input.memoryLimitMb * 1024;
    sources.set('memoryLimitInKb', '--memory-limit');
  }
  const checked = validateSubmission(submission);
  if (!checked.ok) throw invalid(checked.problems, sources, yamlSources);
  const expected = testCases.map((test) => {
    const value = (test as { expectOutput?: unknown }).expectOutput;
    return typeof value === 'string' ? value : undefined;
  });
  return { submission: checked.value, expected };
}

function invalid(
  problems: readonly Problem[],
  sources: ReadonlyMap<string, string>,
  yamlSources: ReadonlySet<string>,
): CliError {
  return usageError(describeProblems(problems, sources, yamlSources));
}
