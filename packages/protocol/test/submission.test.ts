import { describe, expect, it } from '@jest/globals';
import { parseSubmission, validateSubmission, type Problem } from '../src/index.js';
import { minimal, seedExample, testPolicy } from './fixtures.js';

function messages(problems: readonly Problem[]): string[] {
  return problems.map((p) => p.message);
}

function rejected(data: unknown): { id: string | undefined; messages: string[] } {
  const input = typeof data === 'string' || data instanceof Uint8Array ? data : (data as object);
  const result = parseSubmission(input, testPolicy());
  if (result.ok) throw new Error(`expected a rejection, got ${JSON.stringify(result.submission)}`);
  return { id: result.id, messages: messages(result.problems) };
}

describe('the seed example', () => {
  it('validates exactly as the design contract writes it', () => {
    expect(validateSubmission(seedExample)).toEqual({ ok: true, value: seedExample });
  });

  it('validates when it arrives as the JSON bytes a seed client publishes', () => {
    const bytes = new TextEncoder().encode(JSON.stringify(seedExample));
    const result = parseSubmission(bytes, testPolicy());
    expect(result.ok).toBe(true);
  });

  it('normalizes: language object to registry id, settings to a checker, limits kept', () => {
    const result = parseSubmission(seedExample, testPolicy());
    if (!result.ok) throw new Error(messages(result.problems).join('\n'));
    expect(result.submission).toEqual({
      id: 'unique-submission-id',
      language: 'go',
      code: seedExample.code,
      files: [],
      testCases: [{ id: 'test1', input: '', expectOutput: 'Hello, World!\n' }],
      limits: { timeInMs: 2000, wallTimeInMs: 5000, memoryInKb: 262144, outputInKb: 64 },
      checker: { type: 'settings', trim: true, caseSensitive: true, whitespace: true },
      stopOnFirstFailure: false,
    });
  });

  it('ignores the message commands unless the operator allows custom commands', () => {
    const allowed = parseSubmission(seedExample, testPolicy({ allowCustomCommands: true }));
    expect(allowed.ok && allowed.submission.customCommands).toEqual({
      sourceFile: 'main.go',
      binaryFile: 'main',
      compileCommand: 'go build -o main main.go',
      runCommand: './main',
    });
    const refused = parseSubmission(seedExample, testPolicy());
    expect(refused.ok && refused.submission.customCommands).toBeUndefined();
  });
});

describe('normalization', () => {
  it('applies the policy defaults for absent limits and the default checker', () => {
    const result = parseSubmission(minimal(), testPolicy());
    expect(result.ok && result.submission.limits).toEqual({
      timeInMs: 1000,
      wallTimeInMs: 3000,
      memoryInKb: 131072,
      outputInKb: 64,
    });
    expect(result.ok && result.submission.checker).toEqual({ type: 'lines', ignoreCase: false });
  });

  it('takes its defaults from the policy it is given, not from constants', () => {
    const policy = testPolicy({
      defaults: { timeLimitInMs: 700, memoryLimitInKb: 2048, outputLimitInKb: 8 },
    });
    const result = parseSubmission(minimal(), policy);
    expect(result.ok && result.submission.limits).toEqual({
      timeInMs: 700,
      wallTimeInMs: 2400,
      memoryInKb: 2048,
      outputInKb: 8,
    });
  });

  it('resolves language aliases through the registry and names tests that have no id', () => {
    const result = parseSubmission(
      {
        ...minimal(),
        language: 'python3',
        testCases: [{ input: '1' }, { id: 'big', input: '2', expectOutput: '4' }],
      },
      testPolicy(),
    );
    if (!result.ok) throw new Error(messages(result.problems).join('\n'));
    expect(result.submission.language).toBe('python');
    expect(result.submission.testCases).toEqual([
      { id: 'test1', input: '1' },
      { id: 'big', input: '2', expectOutput: '4' },
    ]);
  });

  it('maps the seed settings to their checker, partial settings defaulting to true', () => {
    const result = parseSubmission({ ...minimal(), settings: { with_whitespace: false } }, testPolicy());
    expect(result.ok && result.submission.checker).toEqual({
      type: 'settings',
      trim: true,
      caseSensitive: true,
      whitespace: false,
    });
  });

  it('fills checker options: float epsilons default to 1e-6', () => {
    const float = parseSubmission({ ...minimal(), checker: 'float' }, testPolicy());
    expect(float.ok && float.submission.checker).toEqual({
      type: 'float',
      absoluteEpsilon: 1e-6,
      relativeEpsilon: 1e-6,
    });
    const tokens = parseSubmission(
      { ...minimal(), checker: { type: 'tokens', ignoreCase: true } },
      testPolicy(),
    );
    expect(tokens.ok && tokens.submission.checker).toEqual({ type: 'tokens', ignoreCase: true });
  });

  it('keeps extra files with their encoding', () => {
    const result = parseSubmission(
      {
        ...minimal(),
        files: [
          { name: 'lib/util.h', content: 'int x;' },
          { name: 'data.bin', content: 'AAEC', encoding: 'base64' },
        ],
      },
      testPolicy(),
    );
    expect(result.ok && result.submission.files).toEqual([
      { name: 'lib/util.h', content: 'int x;', encoding: 'utf8' },
      { name: 'data.bin', content: 'AAEC', encoding: 'base64' },
    ]);
  });
});

describe('the id of an invalid submission', () => {
  it('is returned when readable, so an invalid_submission result can be sent', () => {
    expect(rejected({ id: 'abc', language: 'c' }).id).toBe('abc');
  });

  it('is not returned when it cannot be a subject token', () => {
    expect(rejected({ id: 'a.b' }).id).toBeUndefined();
    expect(rejected('not json').id).toBeUndefined();
  });

  it('{"id":"a.b"} is rejected naming id, language, code and testCases', () => {
    const found = rejected('{"id":"a.b"}').messages.join('\n');
    for (const field of ['id', 'language', 'code', 'testCases']) {
      expect(found).toMatch(new RegExp(`^${field} `, 'm'));
    }
  });
});

const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const invalidUtf8 = (() => {
  const head = new TextEncoder().encode('{"id":"bin","language":"c","code":"');
  const tail = new TextEncoder().encode('","testCases":[{"input":""}]}');
  return new Uint8Array([...head, 0xff, 0xfe, 0xc3, ...tail]);
})();

/** Each hostile or malformed input, and a message (or part of one) the user must be told. */
const hostile: [name: string, input: unknown, expected: RegExp][] = [
  ['not JSON at all', 'hello', /^the message is not valid JSON/],
  ['truncated JSON', '{"id":"x","language":"c"', /^the message is not valid JSON/],
  ['an empty message', '', /^the message is not valid JSON/],
  ['a JSON array', '[1,2,3]', /^the message must be an object, got array/],
  ['a JSON string', '"submission"', /^the message must be an object, got string/],
  ['JSON null', 'null', /^the message must be an object, got null/],
  ['a missing id', { ...minimal(), id: undefined }, /^id is required$/],
  ['a numeric id', { ...minimal(), id: 42 }, /^id must be a string, got number$/],
  ['an id with a dot', { ...minimal(), id: 'a.b' }, /^id must be 1 to 128 letters.*got "a\.b"$/],
  ['an id with a space', { ...minimal(), id: 'a b' }, /^id must be .*got "a b"$/],
  ['an id that is a wildcard', { ...minimal(), id: '*' }, /^id must be .*got "\*"$/],
  ['an id that is a full wildcard', { ...minimal(), id: '>' }, /^id must be .*got ">"$/],
  ['an empty id', { ...minimal(), id: '' }, /^id must be .*got ""$/],
  ['a 1,000-character id', { ...minimal(), id: 'x'.repeat(1000) }, /^id must be .*\(1000 characters\)$/],
  [
    'a language of the wrong type',
    { ...minimal(), language: 7 },
    /^language must be a string or an object, got number$/,
  ],
  [
    'a language object without an id',
    { ...minimal(), language: { sourceFile: 'a.c' } },
    /^language\.id is required$/,
  ],
  [
    'an unknown language',
    { ...minimal(), language: 'cobol' },
    /^language "cobol" is not offered here; available: c, cpp/,
  ],
  ['a language id with a slash', { ...minimal(), language: '../bin/sh' }, /^language must be a language id/],
  [
    'code that is not a string',
    { ...minimal(), code: ['int main(){}'] },
    /^code must be a string, got array$/,
  ],
  [
    'code over the size limit',
    { ...minimal(), code: 'x'.repeat(70_000) },
    /^code and files together must be at most 65536 bytes on this server, got 70000$/,
  ],
  [
    'a test input that is a number',
    { ...minimal(), testCases: [{}, {}, {}, { input: 5 }] },
    /^testCases\[3\]\.input must be a string, got number$/,
  ],
  [
    'testCases that is an object',
    { ...minimal(), testCases: { input: '' } },
    /^testCases must be an array, got object$/,
  ],
  ['no test cases', { ...minimal(), testCases: [] }, /^testCases must have at least 1 item, got 0$/],
  [
    '100,000 test cases',
    { ...minimal(), testCases: Array.from({ length: 100_000 }, () => ({ input: '' })) },
    /^testCases must have at most 10000 items, got 100000$/,
  ],
  [
    'more test cases than the server accepts',
    { ...minimal(), testCases: Array.from({ length: 1001 }, () => ({})) },
    /^testCases must have at most 1000 items on this server, got 1001$/,
  ],
  ['a negative time limit', { ...minimal(), timeLimitInMs: -1 }, /^timeLimitInMs must be >= 1, got -1$/],
  ['a zero memory limit', { ...minimal(), memoryLimitInKb: 0 }, /^memoryLimitInKb must be >= 1, got 0$/],
  [
    'a fractional time limit',
    { ...minimal(), timeLimitInMs: 1.5 },
    /^timeLimitInMs must be an integer, got 1\.5$/,
  ],
  [
    'a time limit given as a string',
    { ...minimal(), timeLimitInMs: '2000' },
    /^timeLimitInMs must be an integer, got string$/,
  ],
  [
    'an absurd time limit',
    { ...minimal(), timeLimitInMs: 1e12 },
    /^timeLimitInMs must be at most 10000 on this server, got 1000000000000$/,
  ],
  [
    'an absurd memory limit',
    { ...minimal(), memoryLimitInKb: 2 ** 40 },
    /^memoryLimitInKb must be at most 1048576 on this server/,
  ],
  [
    'an absurd output limit',
    { ...minimal(), outputLimitInKb: 1e9 },
    /^outputLimitInKb must be at most 4096 on this server/,
  ],
  [
    'a prototype key at the top',
    '{"__proto__":{"polluted":true},"id":"p","language":"c","code":"","testCases":[{}]}',
    /^__proto__ is not a known field$/,
  ],
  [
    'a constructor key in a test case',
    { ...minimal(), testCases: [JSON.parse('{"constructor":{"prototype":{}}}')] },
    /^testCases\[0\]\.constructor is not a known field$/,
  ],
  ['an unknown field', { ...minimal(), timeout: 5 }, /^timeout is not a known field$/],
  [
    'deeply nested JSON',
    `{"id":"deep","language":"c","code":"","testCases":${deep(50_000)}}`,
    /^testCases\[0\] must be an object, got array$/,
  ],
  ['invalid UTF-8 bytes', invalidUtf8, /^the message is not valid UTF-8 text$/],
  [
    'a message over the size limit',
    'x'.repeat(1_048_577),
    /^the message is 1048577 bytes; this server accepts at most 1048576$/,
  ],
  [
    'duplicate test case ids',
    { ...minimal(), testCases: [{ id: 'a' }, { id: 'a' }] },
    /^testCases\[1\]\.id "a" repeats testCases\[0\]'s id$/,
  ],
  [
    'a test case id with a newline',
    { ...minimal(), testCases: [{ id: 'a\nb' }] },
    /^testCases\[0\]\.id must be 1 to 128 letters/,
  ],
  [
    'a file escaping the work dir',
    { ...minimal(), files: [{ name: '../../etc/passwd', content: '' }] },
    /^files\[0\]\.name must be a relative file name/,
  ],
  [
    'an absolute file name',
    { ...minimal(), files: [{ name: '/etc/passwd', content: '' }] },
    /^files\[0\]\.name must be a relative file name/,
  ],
  [
    'a hidden file',
    { ...minimal(), files: [{ name: '.bashrc', content: '' }] },
    /^files\[0\]\.name must be a relative file name/,
  ],
  [
    'a file with bad base64',
    { ...minimal(), files: [{ name: 'a.bin', content: 'not base64!', encoding: 'base64' }] },
    /^files\[0\]\.content must be base64/,
  ],
  [
    'an unknown checker',
    { ...minimal(), checker: 'regex' },
    /^checker must be one of "exact", "lines", "tokens", "float", got "regex"$/,
  ],
  [
    'a negative epsilon',
    { ...minimal(), checker: { type: 'float', absoluteEpsilon: -1 } },
    /^checker\.absoluteEpsilon must be >= 0, got -1$/,
  ],
  [
    'checker and settings together',
    { ...minimal(), checker: 'exact', settings: {} },
    /^checker and settings cannot both be given/,
  ],
  [
    'a settings flag that is a string',
    { ...minimal(), settings: { with_trim: 'yes' } },
    /^settings\.with_trim must be a boolean, got string$/,
  ],
  [
    'stopOnFirstFailure as a number',
    { ...minimal(), stopOnFirstFailure: 1 },
    /^stopOnFirstFailure must be a boolean, got number$/,
  ],
];

describe('malformed and hostile submissions', () => {
  it.each(hostile)('rejects %s with a message naming the problem', (_name, input, expected) => {
    expect(rejected(input).messages).toEqual(expect.arrayContaining([expect.stringMatching(expected)]));
  });

  it('reports every problem at once', () => {
    const found = rejected({ id: 'a.b', language: 1, code: 2, testCases: [{ input: 3 }] }).messages;
    expect(found).toEqual([
      "id must be 1 to 128 letters, digits, '_' or '-' (one subject token), got \"a.b\"",
      'language must be a string or an object, got number',
      'code must be a string, got number',
      'testCases[0].input must be a string, got number',
    ]);
  });

  it('caps a flood of problems and says how many were left out', () => {
    const testCases = Array.from({ length: 500 }, () => ({ input: 1 }));
    const found = rejected({ ...minimal(), testCases }).messages;
    expect(found).toHaveLength(51);
    expect(found.at(-1)).toBe('…and 450 more problems');
  });

  it('does not pollute Object.prototype through a __proto__ key', () => {
    rejected('{"__proto__":{"polluted":true},"id":"p","language":"c","code":"","testCases":[{}]}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('still reads the id of a message with invalid UTF-8 elsewhere in it', () => {
    expect(rejected(invalidUtf8).id).toBe('bin');
  });
});
