import type { Submission } from './types.js';

/** The seed service's example message, exactly as the design contract shows it. */
export const SEED_EXAMPLE = {
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
} as const satisfies Submission;
