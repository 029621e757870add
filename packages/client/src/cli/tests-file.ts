/**
 * The tests file of `coderunner submit --tests FILE.yaml`: either a list of test cases, with the
 * submission's own field names (`input`, `expectOutput`, optional `id`), or a map with
 * `testCases:` and, optionally, the submission's limit and checker fields. Its shape is checked
 * here; its values are checked with the whole submission (see `submission.ts`), and every
 * problem is reported with the file's name in front.
 */
import { parse, YAMLParseError } from 'yaml';
import { usageError } from './exit-codes.js';
import { readText } from './read-file.js';

/** Submission fields a tests file may set besides `testCases`. */
export const TESTS_FILE_FIELDS = [
  'timeLimitInMs',
  'memoryLimitInKb',
  'wallTimeLimitInMs',
  'outputLimitInKb',
  'checker',
  'settings',
  'stopOnFirstFailure',
] as const;

export interface TestsFile {
  /** The file as the user named it, for messages. */
  path: string;
  testCases: unknown[];
  /** The other submission fields it sets. */
  fields: Record<string, unknown>;
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

/** Parses the text of a tests file; a usage error names what is wrong. */
export function parseTestsFile(path: string, text: string): TestsFile {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    const first = (error as Error).message.split('\n')[0]?.replace(/:$/, '') ?? '';
    const what = error instanceof YAMLParseError ? 'invalid YAML' : 'cannot parse';
    throw usageError(`${path}: ${what}: ${first}`);
  }
  if (Array.isArray(doc)) return { path, testCases: doc, fields: {} };
  if (doc === null || typeof doc !== 'object') {
    throw usageError(`${path}: must be a list of test cases or a map with testCases, got ${kindOf(doc)}`);
  }
  const map = doc as Record<string, unknown>;
  const allowed = new Set<string>(['testCases', ...TESTS_FILE_FIELDS]);
  const unknown = Object.keys(map).filter((key) => !allowed.has(key));
  if (unknown.length > 0) {
    throw usageError(
      `${path}: ${unknown.map((key) => `${key} is not a known field`).join('; ')} (allowed: ${[...allowed].join(', ')})`,
    );
  }
  if (!('testCases' in map)) throw usageError(`${path}: testCases is required`);
  if (!Array.isArray(map.testCases)) {
    throw usageError(`${path}: testCases must be a list, got ${kindOf(map.testCases)}`);
  }
  const { testCases, ...fields } = map;
  return { path, testCases, fields };
}

/** Reads and parses a tests file. */
export function readTestsFile(path: string): TestsFile {
  return parseTestsFile(path, readText(path));
}
