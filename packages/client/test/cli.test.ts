/**
 * The `coderunner` command line, run as a child process (the built `dist/cli/main.js`) against a
 * real nats-server and a real worker in this process: what it prints and the exit codes scripts
 * rely on.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FinalEvent, ResultEvent } from '@coderunner/protocol';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { createLogger, loadConfig, Worker } from '@coderunner/worker';
import { runCli, type Run } from './cli-runner.js';

let server: NatsServer;
let worker: Worker;
let dir: string;
const tempDirs: string[] = [];

function cli(args: readonly string[], extra: Record<string, string> = {}): Promise<Run> {
  return runCli(dir, args, extra);
}

/** The CLI with `--server` pointing at the test server. */
function coderunner(...args: string[]): Promise<Run> {
  return cli(['--server', server.url, ...args]);
}

async function file(name: string, text: string): Promise<string> {
  await writeFile(join(dir, name), text);
  return name;
}

const SUM_C =
  '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}\n';
const DIFF_C =
  '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a-b);return 0;}\n';
const TESTS = `- id: small
  input: "1 2\\n"
  expectOutput: "3\\n"
- id: more
  input: "20 22\\n"
  expectOutput: "42\\n"
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coderunner-cli-test-'));
  const sandbox = await mkdtemp(join(tmpdir(), 'coderunner-cli-sandbox-'));
  tempDirs.push(dir, sandbox);
  server = await startNatsServer();
  const config = loadConfig({
    env: {
      RUNNER_NATS_URL: server.url,
      RUNNER_RUNNER_SANDBOXBASEDIR: sandbox,
      RUNNER_RUNNER_UIDBASE: '64000',
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_RUNNER_COMPILECACHEMB: '64',
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
      RUNNER_NATS_PULLEXPIRESMS: '2000',
    },
  });
  worker = await Worker.start(config, { logger: createLogger('error', process.stderr) });
  await file('sum.c', SUM_C);
  await file('diff.c', DIFF_C);
  await file('tests.yaml', TESTS);
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await server?.cleanup();
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('coderunner submit', () => {
  it('--wait with a correct C program: exit 0, progress lines and a table of successes', async () => {
    const run = await coderunner('submit', 'sum.c', '--tests', 'tests.yaml', '--wait');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^test\s+small\s+success\s+CPU \d+ ms\s+\d+ KB$/m);
    expect(run.stdout).toMatch(/^TEST\s+VERDICT\s+CPU MS\s+WALL MS\s+MEMORY KB$/m);
    expect(run.stdout).toMatch(/^more\s+success\s+\d+\s+\d+\s+\d+$/m);
    expect(run.stdout).toContain('success: 2/2 passed');
  });

  it('a wrong answer: exit 1, with the diff excerpt and expected vs actual output', async () => {
    const run = await coderunner('submit', 'diff.c', '--tests', 'tests.yaml', '--wait');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^small\s+wrong_answer\s/m);
    expect(run.stdout).toContain('small wrong_answer: line 1: expected "3", got "-1"');
    expect(run.stdout).toMatch(/expected:\n\s+3\n\s+actual:\n\s+-1\n/);
    expect(run.stdout).toContain('wrong_answer: 0/2 passed');
  });

  it('a compile error: exit 1, with the compiler output', async () => {
    await file('broken.c', 'int main(void) { return undeclared_thing; }\n');
    const run = await coderunner('submit', 'broken.c', '--wait');
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('compile_error: the compiler said:');
    expect(run.stdout).toContain('undeclared_thing');
  });

  it('--wait --json prints the final event as JSON', async () => {
    const run = await coderunner('submit', 'sum.c', '--tests', 'tests.yaml', '--wait', '--json');
    expect(run.code).toBe(0);
    const final = JSON.parse(run.stdout) as FinalEvent;
    expect(final).toMatchObject({ type: 'final', status: 'success', passed: 2, total: 2 });
    expect(final.tests.map((t) => t.testCaseId)).toEqual(['small', 'more']);
  });

  it('without --wait prints the id, as text or {"id"}', async () => {
    const text = await coderunner('submit', 'sum.c', '--id', 'cli-no-wait');
    expect(text).toMatchObject({ code: 0, stdout: 'cli-no-wait\n' });
    const json = await coderunner('submit', 'sum.c', '--json');
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { id: string }).id).toMatch(/^cli-[a-z0-9]+-[0-9a-f]{8}$/);
  });

  it('infers the language from the extension; --lang overrides it', async () => {
    await file('hello.py', 'print("hello from python")\n');
    const inferred = await coderunner('submit', 'hello.py', '--wait', '--json');
    expect(inferred.code).toBe(0);
    const final = JSON.parse(inferred.stdout) as FinalEvent;
    expect(final.tests[0]?.output).toBe('hello from python\n');
    await file('script.txt', 'console.log(6 * 7)\n');
    const explicit = await coderunner('submit', 'script.txt', '--lang', 'javascript', '--wait', '--json');
    expect(explicit.code).toBe(0);
    expect((JSON.parse(explicit.stdout) as FinalEvent).tests[0]?.output).toBe('42\n');
  });

  it('a test without expected output is run and its output shown, not judged', async () => {
    await file('greet.py', 'print("hi", input())\n');
    await file('name.txt', 'Ada\n');
    const run = await coderunner('submit', 'greet.py', '--stdin', 'name.txt', '--wait');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/output \(not judged\):\n\s+hi Ada\n/);
  });

  it('--stdin and --expect make one judged test', async () => {
    await file('in.txt', '2 3\n');
    await file('out.txt', '5\n');
    const ok = await coderunner('submit', 'sum.c', '--stdin', 'in.txt', '--expect', 'out.txt', '--wait');
    expect(ok.code).toBe(0);
    const wrong = await coderunner('submit', 'diff.c', '--stdin', 'in.txt', '--expect', 'out.txt', '--wait');
    expect(wrong.code).toBe(1);
  });

  it('--memory-limit is in MB: the server sees memoryLimitInKb = MB × 1024', async () => {
    const run = await coderunner('submit', 'sum.c', '--memory-limit', '4096', '--wait', '--json');
    expect(run.code).toBe(1);
    const final = JSON.parse(run.stdout) as FinalEvent;
    expect(final.status).toBe('invalid_submission');
    expect(final.problems?.join('\n')).toMatch(/memoryLimitInKb .*got 4194304/);
  });

  it('an invalid tests file: exit 2, one line naming the file and the field', async () => {
    await file('bad-tests.yaml', 'testCases:\n  - input: "1 2"\n  - input: 12\n    expectOutput: "3"\n');
    const run = await coderunner('submit', 'sum.c', '--tests', 'bad-tests.yaml', '--wait');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^coderunner: bad-tests\.yaml: testCases\[1\]\.input must be a string, got number/,
    );
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    await file('odd-tests.yaml', 'testcases: []\n');
    const unknown = await coderunner('submit', 'sum.c', '--tests', 'odd-tests.yaml');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('odd-tests.yaml: testcases is not a known field');
    await file('broken-tests.yaml', 'testCases: [\n');
    const yaml = await coderunner('submit', 'sum.c', '--tests', 'broken-tests.yaml');
    expect(yaml.code).toBe(2);
    expect(yaml.stderr).toMatch(/^coderunner: broken-tests\.yaml: invalid YAML: /);
  });

  it('an unknown extension without --lang: exit 2 and a hint', async () => {
    await file('prog.rb', 'puts 1\n');
    const run = await coderunner('submit', 'prog.rb');
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      'coderunner: cannot tell the language of prog.rb from its extension (.rb): give --lang ID (c, cpp, go, python, java, javascript, or any id the server offers)\n',
    );
  });

  it('usage errors exit 2 in one line: a missing file, a bad number, conflicting options', async () => {
    for (const args of [
      ['submit', 'missing.c'],
      ['submit', 'sum.c', '--time-limit', 'soon'],
      ['submit', 'sum.c', '--tests', 'tests.yaml', '--stdin', 'in.txt'],
      ['submit'],
      ['no-such-command'],
    ]) {
      const run = await coderunner(...args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(/^coderunner: [^\n]+\n$/);
    }
  });
});

describe('coderunner result', () => {
  beforeAll(async () => {
    const run = await coderunner(
      'submit',
      'diff.c',
      '--tests',
      'tests.yaml',
      '--id',
      'cli-replayed',
      '--wait',
    );
    expect(run.code).toBe(1);
  });

  it('replays a finished submission: its events and the final report; exit by verdict', async () => {
    const run = await coderunner('result', 'cli-replayed');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^accepted\s+attempt 1/m);
    expect(run.stdout).toMatch(/^compiled\s+success/m);
    expect(run.stdout).toMatch(/^test\s+small\s+wrong_answer/m);
    expect(run.stdout).toContain('small wrong_answer: line 1: expected "3", got "-1"');
    const ok = await coderunner('submit', 'sum.c', '--id', 'cli-replayed-ok', '--wait');
    expect(ok.code).toBe(0);
    expect((await coderunner('result', 'cli-replayed-ok')).code).toBe(0);
  });

  it('--json prints one event per line, ending with the final', async () => {
    const run = await coderunner('result', 'cli-replayed', '--json');
    expect(run.code).toBe(1);
    const events = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as ResultEvent);
    expect(events.map((e) => e.type)).toEqual(['accepted', 'compiled', 'test', 'test', 'final']);
    expect(events.every((e) => e.submissionId === 'cli-replayed')).toBe(true);
  });

  it('--follow waits for the final', async () => {
    const submitted = await coderunner('submit', 'sum.c', '--tests', 'tests.yaml', '--id', 'cli-followed');
    expect(submitted.code).toBe(0);
    const run = await coderunner('result', 'cli-followed', '--follow', '--json');
    expect(run.code).toBe(0);
    expect(run.stdout.trim().split('\n').at(-1)).toContain('"type":"final"');
  });

  it('an unknown id: exit 4, "no results for ID"', async () => {
    const run = await coderunner('result', 'cli-never-submitted');
    expect(run).toEqual({ code: 4, stdout: '', stderr: 'coderunner: no results for cli-never-submitted\n' });
  });
});

describe('other commands', () => {
  it('languages --json lists what the worker offers', async () => {
    const run = await coderunner('languages', '--json');
    expect(run.code).toBe(0);
    const languages = JSON.parse(run.stdout) as { id: string; available: boolean; version?: string }[];
    expect(languages.find((l) => l.id === 'c')).toMatchObject({ available: true });
    const table = await coderunner('languages');
    expect(table.stdout).toMatch(/^ID\s+NAME\s+VERSION\s+STATUS$/m);
    expect(table.stdout).toMatch(/^c\s+C\s+\S+\s+available$/m);
  });

  it('an unreachable server: exit 3 with one clear line', async () => {
    const run = await cli(['--server', 'nats://127.0.0.1:1', 'submit', 'sum.c', '--wait']);
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('coderunner: cannot connect to nats://127.0.0.1:1: connection refused\n');
    const languages = await cli(['languages'], { RUNNER_NATS_URL: 'nats://127.0.0.1:1' });
    expect(languages.code).toBe(3);
  });

  it('doctor checks the sandbox and the NATS server, its streams and a worker', async () => {
    const sandbox = await mkdtemp(join(tmpdir(), 'coderunner-cli-doctor-'));
    tempDirs.push(sandbox);
    const run = await cli(['--server', server.url, 'doctor', '--json'], {
      RUNNER_RUNNER_SANDBOXBASEDIR: sandbox,
      RUNNER_RUNNER_UIDBASE: '64010',
    });
    const report = JSON.parse(run.stdout) as { ok: boolean; checks: { name: string; status: string }[] };
    const status = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
    expect(status).toMatchObject({
      'sandbox type': 'ok',
      nats: 'ok',
      'stream SUBMISSIONS': 'ok',
      'stream RESULTS': 'ok',
      workers: 'ok',
      'sandboxed run': 'ok',
    });
    expect(run.code).toBe(report.ok ? 0 : 1);
    const unreachable = await cli(['--server', 'nats://127.0.0.1:1', 'doctor'], {
      RUNNER_RUNNER_SANDBOXBASEDIR: sandbox,
      RUNNER_RUNNER_UIDBASE: '64010',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stdout).toMatch(/^fail\s+nats\s+cannot connect/m);
  });

  it('worker with an invalid configuration exits 2 naming the key', async () => {
    await file('bad-config.yaml', 'runner:\n  maxConcurrentJobs: 0\n');
    const run = await coderunner('worker', '--config', 'bad-config.yaml');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('runner.maxConcurrentJobs must be >= 1, got 0');
  });

  it('--help works for the program and every command', async () => {
    for (const command of [[], ['submit'], ['result'], ['languages'], ['worker'], ['doctor'], ['dev']]) {
      const run = await cli([...command, '--help']);
      expect({ command, code: run.code }).toEqual({ command, code: 0 });
      expect(run.stdout).toContain(`Usage: coderunner ${command.join('')}`.trimEnd());
    }
  });
});
