/**
 * Every language, with real compilers through the bwrap sandbox: a correct program succeeds, a
 * wrong one is a wrong answer, a slow one exceeds the time limit, a greedy one the memory limit,
 * a crashing one is a runtime error, a broken one a compile error.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestVerdict } from '@coderunner/protocol';
import type { Engine } from '../src/index.js';
import { submission, testEngine } from './helpers.js';

type Kind = 'correct' | 'wrong' | 'slow' | 'greedy' | 'crashing' | 'broken';

const programs: Record<string, Record<Kind, string>> = {
  c: {
    correct:
      '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a+b);return 0;}',
    wrong:
      '#include <stdio.h>\nint main(void){long a,b;scanf("%ld %ld",&a,&b);printf("%ld\\n",a-b);return 0;}',
    slow: 'int main(void){volatile unsigned long x=0;for(;;)x++;}',
    greedy:
      '#include <stdlib.h>\n#include <string.h>\nint main(void){for(int i=0;i<64;i++){char*p=malloc(16<<20);if(!p)return 3;memset(p,1,16<<20);}return 0;}',
    crashing: 'int main(void){volatile int *p=0;return *p;}',
    broken: 'int main( { return 0; }',
  },
  cpp: {
    correct: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}',
    wrong: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<"\\n";}',
    slow: 'int main(){volatile unsigned long x=0;for(;;)x++;}',
    greedy:
      '#include <vector>\nint main(){std::vector<std::vector<char>> v;for(int i=0;i<64;i++)v.emplace_back(16<<20,1);return v.size()==0;}',
    crashing: '#include <stdexcept>\nint main(){throw std::runtime_error("boom");}',
    broken: 'int main() { return undeclared; }',
  },
  go: {
    correct: 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b)}',
    wrong: 'package main\nimport "fmt"\nfunc main(){var a,b int64;fmt.Scan(&a,&b);fmt.Println(a+b+1)}',
    slow: 'package main\nfunc main(){x:=0;for{x++}}',
    greedy:
      'package main\nfunc main(){var keep [][]byte;for i:=0;i<64;i++{b:=make([]byte,16<<20);for j:=range b{b[j]=1};keep=append(keep,b)};println(len(keep))}',
    crashing: 'package main\nfunc main(){var m map[string]int;m["a"]=1}',
    broken: 'package main\nfunc main() { x := }',
  },
  python: {
    correct: 'a, b = map(int, input().split())\nprint(a + b)',
    wrong: 'a, b = map(int, input().split())\nprint(a + b, "!")',
    slow: 'while True:\n    pass',
    greedy: 'keep = []\nwhile True:\n    keep.append("x" * (1 << 20))',
    crashing: 'print(1 // 0)',
    broken: 'def f(:\n    pass',
  },
  java: {
    correct:
      'import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);System.out.println(s.nextLong()+s.nextLong());}}',
    wrong:
      'import java.util.*;\npublic class Main{public static void main(String[] x){Scanner s=new Scanner(System.in);System.out.println(s.nextLong());}}',
    slow: 'public class Main{public static void main(String[] x){long n=0;while(true){n++;}}}',
    greedy:
      'import java.util.*;\npublic class Main{public static void main(String[] x){List<byte[]> l=new ArrayList<>();while(true){l.add(new byte[1<<20]);}}}',
    crashing: 'public class Main{public static void main(String[] x){throw new RuntimeException("boom");}}',
    broken: 'public class Main { void f( }',
  },
  javascript: {
    correct:
      "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);",
    wrong:
      "const [a] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a);",
    slow: 'for (;;) {}',
    greedy: 'const keep = [];\nfor (;;) keep.push(new Array(1 << 20).fill(1.5));',
    crashing: 'null.x;',
    broken: 'function (',
  },
};

const expected: Record<Kind, TestVerdict | 'compile_error'> = {
  correct: 'success',
  wrong: 'wrong_answer',
  slow: 'time_limit_exceeded',
  greedy: 'memory_limit_exceeded',
  crashing: 'runtime_error',
  broken: 'compile_error',
};

let engine: Engine;
let dispose: () => Promise<void>;

beforeAll(async () => {
  ({ engine, dispose } = await testEngine());
});
afterAll(() => dispose());

describe.each(Object.keys(programs))('%s', (language) => {
  it.each(Object.keys(expected) as Kind[])('a %s program gets its verdict', async (kind) => {
    const code = programs[language]?.[kind] as string;
    const result = await engine.judge(
      submission(language, code, [{ id: 'sum', input: '3 4\n', expectOutput: '7\n' }], {
        limits: { timeInMs: 1000, wallTimeInMs: 3000, memoryInKb: 128 * 1024 },
      }),
    );
    const test = result.tests[0];
    const detail = `${result.compile.output}\n${test?.error ?? ''}\n${test?.message ?? ''}`;
    expect({ status: result.status, detail }).toEqual({ status: expected[kind], detail });
    if (kind === 'broken') {
      expect(result.compile.status).toBe('compile_error');
      expect(result.compile.output).not.toBe('');
      expect(test?.status).toBe('skipped');
    }
    if (kind === 'correct') {
      expect(test?.output).toBe('7\n');
      expect(test?.timeUsedInMs).toBeGreaterThan(0);
      expect(test?.memoryUsedInKb).toBeGreaterThan(0);
    }
  });
});

describe('engine', () => {
  it('lists every language of the registry with its toolchain version', () => {
    const ids = engine.languages().map((l) => [l.id, l.available, typeof l.version]);
    expect(ids).toEqual(
      expect.arrayContaining(
        ['c', 'cpp', 'go', 'python', 'java', 'javascript'].map((id) => [id, true, 'string']),
      ),
    );
  });

  it('compiles once per submission and reuses the compile from the cache', async () => {
    // A program no other test compiled, so that the first compile cannot be a cache hit.
    const code = `${programs.c?.correct as string}\n// ${process.pid}-${Date.now()}`;
    const tests = [1, 2, 3].map((n) => ({ id: `t${n}`, input: `${n} ${n}\n`, expectOutput: `${2 * n}\n` }));
    const events: string[] = [];
    const first = await engine.judge(submission('c', code, tests), {
      onEvent: (event) => {
        events.push(event.type);
      },
    });
    expect(first.status).toBe('success');
    expect(first.compile.cached).toBe(false);
    expect(events).toEqual(['compiled', 'test', 'test', 'test']);
    const second = await engine.judge(submission('c', code, tests));
    expect(second.compile.cached).toBe(true);
    expect(second.status).toBe('success');
  });

  it('skips the tests after the first failure when asked to', async () => {
    const code = programs.python?.correct as string;
    const result = await engine.judge(
      submission(
        'python',
        code,
        [
          { id: 'a', input: '1 1', expectOutput: '2' },
          { id: 'b', input: '1 1', expectOutput: '3' },
          { id: 'c', input: '1 1', expectOutput: '2' },
        ],
        { stopOnFirstFailure: true },
      ),
    );
    expect(result.tests.map((t) => t.status)).toEqual(['success', 'wrong_answer', 'skipped']);
    expect(result.status).toBe('wrong_answer');
    expect(result.passed).toBe(1);
  });

  it('runs a test without an expected output and reports it without judging', async () => {
    const result = await engine.judge(submission('python', 'print("anything")', [{ id: 'free', input: '' }]));
    expect(result.tests[0]).toMatchObject({ status: 'success', output: 'anything\n' });
  });

  it('gives the extra files of a submission to the program', async () => {
    const result = await engine.judge(
      submission(
        'python',
        'print(open("data/input.txt").read().strip())',
        [{ id: 't', input: '', expectOutput: 'hello' }],
        {
          files: [{ name: 'data/input.txt', content: 'aGVsbG8K', encoding: 'base64' }],
        },
      ),
    );
    expect(result.status).toBe('success');
  });

  it('passes its self-test: a trivial program starts in the sandbox', async () => {
    await expect(engine.selfTest()).resolves.toBeUndefined();
  });

  it('refuses a language whose toolchain is not offered', async () => {
    await expect(engine.judge(submission('cobol', ''))).rejects.toMatchObject({
      code: 'LANGUAGE_UNAVAILABLE',
    });
  });
});
