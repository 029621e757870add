import { SEED_EXAMPLE, type Submission, type SubmissionPolicy } from '../src/index.js';

/** The seed service's example message, as a plain (mutable) object. */
export const seedExample = structuredClone(SEED_EXAMPLE) as Submission;

const offered = ['c', 'cpp', 'go', 'python', 'java', 'javascript'];
const aliases: Record<string, string> = {
  'c++': 'cpp',
  python3: 'python',
  js: 'javascript',
  node: 'javascript',
};

/** A policy like a worker's, with small maximums so that tests can exceed them cheaply. */
export function testPolicy(overrides: Partial<SubmissionPolicy> = {}): SubmissionPolicy {
  return {
    defaults: { timeLimitInMs: 1000, memoryLimitInKb: 131072, outputLimitInKb: 64 },
    maximums: {
      timeLimitInMs: 10_000,
      wallTimeLimitInMs: 30_000,
      memoryLimitInKb: 1_048_576,
      outputLimitInKb: 4096,
      testCases: 1000,
      files: 10,
      codeBytes: 65_536,
      totalInputBytes: 1_000_000,
      messageBytes: 1_048_576,
    },
    wallTimeFactor: 2,
    wallTimeExtraInMs: 1000,
    resolveLanguage: (id) => (offered.includes(id) ? id : aliases[id]),
    languages: offered,
    allowCustomCommands: false,
    ...overrides,
  };
}

/** A minimal valid submission to vary one field at a time. */
export function minimal(): Record<string, unknown> {
  return { id: 'sub-1', language: 'c', code: 'int main(){}', testCases: [{ input: '', expectOutput: '' }] };
}
