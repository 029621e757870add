/**
 * The stub that sandboxes made ahead wait in (native/coderunner-stub.c), the real binary fed the
 * messages warm.ts builds: it makes the run's files, answers `C`, then execs the program with
 * exactly the environment, argv and stack limit it was given; bad input ends it before any
 * program, and a program that cannot be executed is named. As `coderunner-stub enter`, what it
 * cannot do is named before it enters anything (entering a sandbox: spawner.test.ts, warm.test.ts).
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from '@jest/globals';
import { STUB_PATH } from '../src/system-view.js';
import { createMessage } from '../src/stub-process.js';
import { filesMessage, placementOf, programMessage, stubPlan } from '../src/warm.js';
import type { ControlPart } from '../src/held-sandbox.js';
import type { ExecuteRequest } from '../src/executor.js';

const dirs: string[] = [];

/** The bytes the stub reads for message parts (the spawn helper sends a host file's itself). */
function bytesOf(parts: readonly ControlPart[]): Buffer {
  return Buffer.concat(parts.map((part) => (Buffer.isBuffer(part) ? part : readFileSync(part.path))));
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface StubRun {
  code: number | null;
  stdout: string;
  stderr: string;
  cwd: string;
}

/**
 * Starts the stub in a fresh dir and writes `messages` on its fd 4, the second after its `C`
 * (`atOnce`: all of them at once, as for a run whose files are in the first).
 */
function runStub(messages: Buffer[], atOnce = false): Promise<StubRun> {
  const cwd = mkdtempSync(join(tmpdir(), 'stub-test-'));
  dirs.push(cwd);
  const child = spawn(STUB_PATH, [], { cwd, env: {}, stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe'] });
  const control = child.stdio[4] as Writable;
  control.on('error', () => undefined);
  let stdout = '';
  let stderr = '';
  let sent = 1;
  if (atOnce) {
    control.end(Buffer.concat(messages));
    sent = messages.length;
  } else control.write(messages[0]);
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.startsWith('C') && sent < messages.length) control.end(messages[sent++]);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (messages.length === 1 && !atOnce) control.end();
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, cwd })));
}

function request(
  command: string[],
  env: Record<string, string>,
  stackKb: number | 'unlimited' = 8192,
): ExecuteRequest {
  return { command, env, stackKb } as unknown as ExecuteRequest;
}

/** The stub with no files to make, then the program of `request`. */
function runProgram(...args: Parameters<typeof request>): Promise<StubRun> {
  return runStub([createMessage({ dirs: [], files: [] }), programMessage(request(...args))!]);
}

describe('the stub of sandboxes made ahead', () => {
  it('makes the dirs and empty files, answers C, then execs with exactly the given env and argv', async () => {
    const create = createMessage({
      dirs: ['pkg', 'pkg/sub'],
      files: [
        { host: '/unused', name: 'main', size: 0, mode: 0o644 },
        { host: '/unused', name: 'pkg/sub/A class', size: 0, mode: 0o644 },
      ],
    });
    const program = programMessage(
      request(
        ['/bin/sh', '-c', 'printf "%s|" "$0" "$1" "$ONE" "$SPACED"; env | sort | tr "\\n" ,', "it's $x"],
        {
          PATH: '/usr/bin:/bin',
          ONE: '1',
          SPACED: 'a b\tc',
        },
      ),
    );
    const run = await runStub([create, program!]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // `sh -c` puts the word after the script into $0 (and the shell adds PWD).
    expect(run.stdout).toBe(`Cit's $x||1|a b\tc|ONE=1,PATH=/usr/bin:/bin,PWD=${run.cwd},SPACED=a b\tc,`);
    expect(readdirSync(run.cwd).sort()).toEqual(['main', 'pkg']);
    expect(statSync(join(run.cwd, 'pkg/sub/A class')).size).toBe(0);
  });

  it('sets the stack limit, soft and hard, or leaves it unlimited', async () => {
    const limits = ['/bin/grep', 'Max stack size', '/proc/self/limits'];
    const kib = await runProgram(limits, {}, 4096);
    expect(kib.stdout).toMatch(/^CMax stack size\s+4194304\s+4194304\s+bytes/);
    const unlimited = await runProgram(limits, {}, 'unlimited');
    expect(unlimited.stdout).toMatch(/^CMax stack size\s+unlimited\s+unlimited\s+bytes/);
  });

  it('looks a bare name up in the PATH it was given, like execvp', async () => {
    const found = await runProgram(['printf', 'found'], { PATH: '/nonexistent:/usr/bin' });
    expect(found.stdout).toBe('Cfound');
  });

  it('names a program it cannot execute, with status 127', async () => {
    const missing = await runProgram(['no-such-program'], { PATH: '/usr/bin' });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('coderunner: cannot execute no-such-program: No such file or directory\n');
    // The empty file it made itself has no execute bit.
    const notExecutable = await runStub([
      createMessage({ dirs: [], files: [{ host: '/unused', name: 'main', size: 0, mode: 0o755 }] }),
      programMessage(request(['./main'], {}))!,
    ]);
    expect(notExecutable.code).toBe(127);
    expect(notExecutable.stderr).toBe('coderunner: cannot execute ./main: Permission denied\n');
  });

  it('makes files from the contents in its message, with their modes, and goes on unasked', async () => {
    const host = mkdtempSync(join(tmpdir(), 'stub-files-'));
    dirs.push(host);
    mkdirSync(join(host, 'lib'));
    writeFileSync(join(host, 'run.sh'), '#!/bin/sh\ncat lib/data\n');
    chmodSync(join(host, 'run.sh'), 0o750);
    const data = Buffer.from([0, 1, 2, 255, 0, 10, 0x43]);
    writeFileSync(join(host, 'lib', 'data'), data);
    chmodSync(join(host, 'lib', 'data'), 0o640);
    const placement = placementOf([
      { host: join(host, 'run.sh'), name: 'run.sh' },
      { host: join(host, 'lib'), name: 'lib' },
    ])!;
    const create = bytesOf(filesMessage(placement));
    expect(create.subarray(0, 2).toString()).toBe('q\0');
    const run = await runStub(
      [create, programMessage(request(['./run.sh'], { PATH: '/usr/bin:/bin' }))!],
      true,
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    // No `C`: the program's output is all there is.
    expect(run.stdout).toBe(data.toString());
    expect(readFileSync(join(run.cwd, 'lib', 'data'))).toEqual(data);
    expect(statSync(join(run.cwd, 'run.sh')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(run.cwd, 'lib', 'data')).mode & 0o7777).toBe(0o640);
    // A run's plan is both messages at once, the files in the first.
    const program = programMessage(request(['./run.sh'], {}))!;
    expect(stubPlan(filesMessage(placement), programMessage(request(['./run.sh'], {})))?.messages).toEqual([
      [create],
      program,
    ]);
  });

  it('writes files larger than its buffer as they come, then reads the program after them', async () => {
    const host = mkdtempSync(join(tmpdir(), 'stub-large-'));
    dirs.push(host);
    // Odd sizes, so that headers and contents straddle the ends of its 256 KiB buffer.
    const big = Buffer.alloc(1_234_567);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    writeFileSync(join(host, 'big'), big);
    writeFileSync(join(host, 'small'), 'tail');
    writeFileSync(join(host, 'big2'), big.subarray(0, 300_001));
    const placement = placementOf(
      ['big', 'small', 'big2'].map((name) => ({ host: join(host, name), name })),
    )!;
    const plan = stubPlan(
      filesMessage(placement),
      programMessage(request(['/usr/bin/md5sum', 'big', 'small', 'big2'], {})),
    )!;
    // Files over 64 KiB are parts the spawn helper sends from the files themselves.
    expect(plan.messages[0].filter((part) => !Buffer.isBuffer(part))).toEqual([
      { path: join(host, 'big'), size: big.length },
      { path: join(host, 'big2'), size: 300_001 },
    ]);
    const run = await runStub([bytesOf(plan.messages[0]), plan.messages[1]], true);
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
    for (const name of ['big', 'small', 'big2'])
      expect(readFileSync(join(run.cwd, name))).toEqual(readFileSync(join(host, name)));
    expect(run.stdout.split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('ends with 125 before any program on bad or missing input', async () => {
    const FILES_FAILED = "coderunner: cannot make the run's files\n";
    const cases: [Buffer[], string][] = [
      [[Buffer.from('xwhat\0\0')], ''],
      [[Buffer.from('d\0\0')], FILES_FAILED],
      [[Buffer.from('fno-such-dir/file\0\0')], FILES_FAILED],
      [[Buffer.from('c644 2 no-such-dir/file\0ab\0')], FILES_FAILED],
      [[Buffer.from('c644 5 file\0ab')], ''],
      [[Buffer.from('c9 1 file\0a\0')], ''],
      [[Buffer.from('c644 1x file\0a\0')], ''],
      [[Buffer.from('c644 1 \0a\0')], ''],
      [[Buffer.from('qx\0\0')], ''],
      [[createMessage({ dirs: [], files: [] }), Buffer.from('s12k\0atrue\0\0')], ''],
      [[createMessage({ dirs: [], files: [] }), Buffer.from('s64\0\0')], ''],
      [[createMessage({ dirs: [], files: [] }), Buffer.from('s64\0atrue')], ''],
      [[Buffer.alloc(0)], ''],
    ];
    for (const [messages, stderr] of cases) {
      const run = await runStub(messages);
      expect({ messages: messages.map(String), code: run.code, stderr: run.stderr }).toEqual({
        messages: messages.map(String),
        code: 125,
        stderr,
      });
    }
  });

  it('refuses, for the cold way, a program message with a NUL or more than the stub can take', async () => {
    const none = { dirs: [], files: [] };
    expect(programMessage(request(['a\0b'], {}))).toBeUndefined();
    expect(programMessage(request(['true'], { SMALL: 'x' }))?.toString()).toBe('s8192\0eSMALL=x\0atrue\0\0');
    // Sized so that the program's message fills the stub's buffer exactly, then one byte more
    // (in several variables: the kernel takes none over 128 KiB).
    const env = (last: number): Record<string, string> => ({
      A: 'x'.repeat(60_000),
      B: 'x'.repeat(60_000),
      C: 'x'.repeat(60_000),
      D: 'x'.repeat(last),
    });
    const argv = ['/usr/bin/printf', 'ok'];
    const fixed = programMessage(request(argv, env(0)))!.length;
    const program = programMessage(request(argv, env(256 * 1024 - fixed)))!;
    expect(program.length).toBe(256 * 1024);
    const plan = stubPlan(filesMessage(none), programMessage(request(argv, env(256 * 1024 - fixed))));
    expect(plan?.messages).toEqual([filesMessage(none), program]);
    expect(
      stubPlan(filesMessage(none), programMessage(request(argv, env(256 * 1024 - fixed + 1)))),
    ).toBeUndefined();
    const run = await runStub([bytesOf(plan!.messages[0]), program], true);
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: 'ok' });
    const over = await runStub([createMessage(none), Buffer.concat([Buffer.from('eX=1\0'), program])]);
    expect(over.code).toBe(125);
    expect(existsSync(STUB_PATH)).toBe(true);
  });
});

describe('the stub making a sandbox (enter)', () => {
  /** Runs `coderunner-stub enter <args>` and waits for its end. */
  function enter(args: string[]): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(STUB_PATH, ['enter', ...args], { env: {}, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    return new Promise((resolve) => child.once('close', (code) => resolve({ code, stderr })));
  }

  it('names what is wrong with its arguments, and ends with 125 before entering anything', async () => {
    for (const spec of [
      '0:1:62990:4096:4096',
      '1:2:0:4096:4096',
      '1:2:4294967295:4096:4096',
      '1:2:62990:4096',
      'x:2:62990:4096:4096',
    ]) {
      expect(await enter([spec, '1000', '/box', 'unlimited', '0'])).toEqual({
        code: 125,
        stderr: `coderunner: cannot enter the sandbox ${spec}: Invalid argument\n`,
      });
    }
    // The uid inside must be a uid, and the count of cgroups a number that matches them.
    for (const args of [
      ['1:2:62990:4096:4096', 'root', '/box', 'unlimited', '0'],
      ['1:2:62990:4096:4096', '4294967296', '/box', 'unlimited', '0'],
      ['1:2:62990:4096:4096', '1000', '/box', 'unlimited', '2', '/one/cgroup.procs'],
    ])
      expect((await enter(args)).stderr).toBe(
        'coderunner: cannot enter the sandbox 1:2:62990:4096:4096: Invalid argument\n',
      );
    expect(await enter([])).toEqual({
      code: 125,
      stderr: 'coderunner: cannot enter the sandbox: Invalid argument\n',
    });
  });

  it('joins its cgroups first: one it cannot join is named', async () => {
    expect(
      await enter(['1:2:62990:4096:4096', '1000', '/box', 'unlimited', '1', '/nonexistent/cgroup.procs']),
    ).toEqual({
      code: 125,
      stderr: 'coderunner: cannot join /nonexistent/cgroup.procs: No such file or directory\n',
    });
  });
});
