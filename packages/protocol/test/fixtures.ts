import type { SubmissionPolicy } from '../src/index.js';

/** The seed service's example message, exactly as the design contract shows it. */
export const seedExample = {
  id: 'unique-submission-id',
  language: {
    id: 'go',
    sourceFile: 'main.go',
    binaryFile: 'main',
    compileCommand: 'go build -o main main.go',
    runCommand: './main',
  },
  code: 'package main\n\nimport "fmt"\n\nfunc main() {\n    fmt.Println("Hello, World!")\n}',
  timeLimitInMs: 2000,
  memoryLimitInKb: 262144,
  testCases: [{ id: 'test1', input: '', expectOutput: 'Hello, World!\n' }],
  settings: { with_trim: true, with_case_sensitive: true, with_whitespace: true },
};

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
