/**
 * The hostile corpus, through the real bwrap sandbox: one fixture per attack, each with the
 * verdict it must get. After every case the host is unharmed, nothing of the run survives (no
 * process of a slot uid, no run cgroup), and the next run works.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { NormalizedSubmission } from '@coderunner/protocol';
import type { Engine, JudgeResult } from '../src/index.js';
import {
  TEST_UID_BASE,
  fixture,
  leftoverCgroups,
  processesOfUids,
  submission,
  testEngine,
} from './helpers.js';

const SLOTS = 2;
const LIMITS = { timeInMs: 1000, wallTimeInMs: 2500, memoryInKb: 64 * 1024, outputInKb: 64 };

let engine: Engine;
let baseDir: string;
let dispose: () => Promise<void>;

// Nothing of the worker's environment may reach a program.
process.env.CODERUNNER_TEST_SECRET = 'worker-secret-7f3a';

beforeAll(async () => {
  ({ engine, baseDir, dispose } = await testEngine({
    slots: SLOTS,
    compileTimeoutMs: 8000,
    cacheMaxBytes: 64 << 20,
  }));
});
afterAll(() => dispose());

afterEach(async () => {
  expect(processesOfUids(TEST_UID_BASE, TEST_UID_BASE + 2 * SLOTS)).toEqual([]);
  expect(leftoverCgroups()).toEqual([]);
  const next = await engine.judge(
    submission('c', '#include <stdio.h>\nint main(void){puts("ok");return 0;}', [
      { id: 't', input: '', expectOutput: 'ok' },
    ]),
  );
  expect(next.status).toBe('success');
});

function attack(
  name: string,
  input = '',
  overrides: Partial<NormalizedSubmission> = {},
): Promise<JudgeResult> {
  return engine.judge(
    submission('c', fixture(`hostile/${name}`), [{ id: 'attack', input }], { limits: LIMITS, ...overrides }),
  );
}

function only(result: JudgeResult): { status: string; output: string; error: string } {
  const test = result.tests[0];
  return { status: test?.status ?? result.status, output: test?.output ?? '', error: test?.error ?? '' };
}

describe('resource attacks', () => {
  it('a fork bomb is held by the pids limit and stopped by the time limit', async () => {
    expect(only(await attack('fork-bomb.c')).status).toBe('time_limit_exceeded');
  });

  it('a memory bomb is killed by the memory limit', async () => {
    const result = await attack('memory-bomb.c');
    expect(only(result).status).toBe('memory_limit_exceeded');
    expect(result.tests[0]?.memoryUsedInKb).toBeGreaterThanOrEqual(60 * 1024);
  });

  it('a CPU loop exceeds the time limit', async () => {
    const result = await attack('cpu-loop.c');
    expect(only(result).status).toBe('time_limit_exceeded');
    expect(result.tests[0]?.timeUsedInMs).toBeGreaterThanOrEqual(1000);
  });

  it('a program that sleeps forever is stopped by the wall-clock limit', async () => {
    const result = await attack('sleep-forever.c');
    expect(only(result).status).toBe('time_limit_exceeded');
    expect(result.tests[0]?.message).toBe('the wall-clock limit ran out');
    expect(result.tests[0]?.wallTimeInMs).toBeLessThan(LIMITS.wallTimeInMs + 1000);
  });

  it('a program that stops its own process group is still killed and reported', async () => {
    expect(only(await attack('sigstop-group.c')).status).toBe('time_limit_exceeded');
  });

  it('1 GB to standard output is an output limit, with the output cut at the cap', async () => {
    const result = await attack('stdout-flood.c');
    expect(only(result).status).toBe('output_limit_exceeded');
    expect(result.tests[0]?.output.length).toBe(LIMITS.outputInKb * 1024);
    expect(result.tests[0]?.truncated).toBe(true);
  });

  it.each(['/box', '/tmp', '/dev/shm'])(
    '2 GB written to %s fills its small tmpfs, not the host disk',
    async (dir) => {
      const before = await statfs(baseDir);
      // Files in a tmpfs are memory too: with room in the memory limit, the tmpfs size decides.
      const result = await attack('fill-dir.c', dir, { limits: { ...LIMITS, memoryInKb: 256 * 1024 } });
      const after = await statfs(baseDir);
      expect(only(result)).toMatchObject({ status: 'success', output: 'stopped: No space left on device\n' });
      expect(Math.abs(before.bavail - after.bavail) * before.bsize).toBeLessThan(32 << 20);
    },
  );
});

describe('escapes', () => {
  let server: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a connection to a port on the host loopback fails', async () => {
    const { status, output } = only(await attack('connect-host.c', String(port)));
    expect(status).toBe('success');
    expect(output).toMatch(/^blocked: (Connection refused|Network is unreachable)/);
    expect(connections).toBe(0);
  });

  it('a program reaches no network, not its own loopback either, and leaves nothing there for the next', async () => {
    expect(engine.environment.netns).toBe('slot');
    const code = [
      'import os, socket',
      "print(os.readlink('/proc/self/ns/net'))",
      'probe = socket.socket(socket.AF_UNIX)',
      "try: probe.connect('\\0coderunner-left'); print('a listener was left')",
      'except OSError as e: print(e.strerror)',
      "left = socket.socket(socket.AF_UNIX); left.bind('\\0coderunner-left'); left.listen()",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()",
      'try: socket.create_connection(s.getsockname(), timeout=2); print("connected")',
      'except OSError as e: print(e.strerror)',
    ].join('\n');
    const outputs: string[] = [];
    // The pool hands slots out in turn: the first and the third run share one.
    for (let i = 0; i < 3; i++) {
      const result = await engine.judge(
        submission('python', code, [{ id: 'net', input: '' }], { limits: LIMITS }),
      );
      outputs.push(only(result).output);
    }
    const [first, , third] = outputs.map((output) => output.split('\n'));
    expect(third?.[0]).toBe(first?.[0]);
    for (const output of outputs) {
      expect(output.split('\n').slice(1)).toEqual(['Connection refused', 'Network is unreachable', '']);
    }
  });

  it('/etc/shadow cannot be read', async () => {
    expect(only(await attack('read-file.c', '/etc/shadow')).output).toBe(
      'blocked: No such file or directory\n',
    );
  });

  it('the program holds no capability, cannot gain one, and is the sandbox user', async () => {
    const { output } = only(await attack('read-file.c', '/proc/self/status'));
    const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(output)?.[1] ?? '';
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(set)).toMatch(/^0+$/);
    expect(field('NoNewPrivs')).toBe('1');
    expect(field('Uid').split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(field('Groups')).toBe('');
  });

  it("the worker's environment is not readable through /proc/1/environ", async () => {
    const { status, output } = only(await attack('read-file.c', '/proc/1/environ'));
    expect(status).toBe('success');
    expect(output).not.toContain('worker-secret-7f3a');
    expect(output).not.toContain('PATH=');
  });

  it.each(['/dev', '/etc', '/usr'])('nothing can be created in %s', async (dir) => {
    expect(only(await attack('fill-dir.c', dir)).output).toMatch(
      /^open failed: (Permission denied|Read-only file system)\n$/,
    );
  });

  it('the devices of /dev work', async () => {
    const code = [
      'import os',
      "os.write(os.open('/dev/null', os.O_WRONLY), b'x')",
      "print(len(open('/dev/urandom', 'rb').read(8)), open('/dev/zero', 'rb').read(2), sorted(os.listdir('/dev')))",
    ].join('\n');
    const result = await engine.judge(
      submission('python', code, [{ id: 'dev', input: '' }], { limits: LIMITS }),
    );
    expect(only(result).output).toBe(
      "8 b'\\x00\\x00' ['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'tty', 'urandom', 'zero']\n",
    );
  });

  it("the host's sandbox base dir is not visible", async () => {
    const { output } = only(await attack('read-file.c', join(baseDir, 'etc', 'passwd')));
    expect(output).toBe('blocked: No such file or directory\n');
  });

  it("another run's files are gone: work dir and /tmp are fresh each run", async () => {
    expect(only(await attack('leave-secret.c')).output).toBe('work tmp\n');
    expect(only(await attack('read-file.c', 'secret.txt')).output).toBe(
      'blocked: No such file or directory\n',
    );
    expect(only(await attack('read-file.c', '/tmp/secret.txt')).output).toBe(
      'blocked: No such file or directory\n',
    );
  });

  it('kill -9 -1 reaches nothing outside the sandbox, even a process of the same host uid', async () => {
    const canary: ChildProcess = spawn(
      'setpriv',
      [`--reuid=${TEST_UID_BASE}`, `--regid=${TEST_UID_BASE}`, '--clear-groups', 'sleep', '60'],
      {
        stdio: 'ignore',
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    try {
      const { status, output } = only(await attack('kill-everything.c'));
      expect({ status, output }).toEqual({ status: 'success', output: 'survived\n' });
      expect(canary.exitCode).toBeNull();
      expect(canary.signalCode).toBeNull();
      expect(process.kill(canary.pid as number, 0)).toBe(true);
    } finally {
      canary.kill('SIGKILL');
      await new Promise((resolve) => canary.once('exit', resolve));
    }
  });

  it('a daemon that double-forks does not outlive its run', async () => {
    expect(only(await attack('daemon.c'))).toMatchObject({ status: 'success', output: 'parent done\n' });
    // afterEach: no process of a slot uid is left.
  });

  it('a setuid copy made at run time is owned by the sandbox user and gone afterwards', async () => {
    expect(only(await attack('setuid-copy.c')).output).toBe('work:4755 uid:1000\n');
    const found = readdirSync(baseDir, { recursive: true })
      .map(String)
      .filter((p) => p.includes('suid-sh'));
    expect(found).toEqual([]);
  });
});

describe('compile-time attacks', () => {
  it('#include "/etc/shadow" is a compile error that shows nothing of the host file', async () => {
    const result = await attack('include-shadow.c');
    expect(result.status).toBe('compile_error');
    expect(result.compile.output).toContain('/etc/shadow');
    const hostLine = readFileSync('/etc/shadow', 'utf8').split('\n')[0] as string;
    expect(result.compile.output).not.toContain(hostLine.split(':')[0] + ':');
  });

  it('#include </dev/random> is a compile error within the compile limits', async () => {
    const started = Date.now();
    const result = await attack('include-random.c');
    expect(result.status).toBe('compile_error');
    expect(Date.now() - started).toBeLessThan(8000 + 3000);
  });

  it('a compile that never ends is stopped by the compile limits', async () => {
    const started = Date.now();
    const result = await attack('compile-forever.c');
    expect(result.status).toBe('compile_error');
    expect(result.compile.output).toMatch(/timed out|ran out of memory/);
    expect(Date.now() - started).toBeLessThan(8000 + 3000);
  });

  it('a symlink named like the program, pointing at /etc/shadow, is not followed by the host', async () => {
    const result = await engine.judge(
      submission('c', 'int main(void){return 0;}', [{ id: 't', input: '' }], {
        limits: LIMITS,
        customCommands: {
          compileCommand: 'gcc -o real main.c && ln -s /etc/shadow main',
          runCommand: 'cat main',
        },
      }),
    );
    expect(result.compile.status).toBe('success');
    expect(result.tests[0]?.status).toBe('runtime_error');
    expect(result.tests[0]?.output).toBe('');
    expect(result.tests[0]?.error).toContain('No such file');
  });

  it('a setuid binary left by the compile step is stored without its setuid bit', async () => {
    const result = await engine.judge(
      submission('c', 'int main(void){return 0;}', [{ id: 't', input: '' }], {
        limits: LIMITS,
        customCommands: {
          compileCommand: 'cp /bin/sh ./suid && chmod 4755 ./suid',
          runCommand: 'ls -l suid',
        },
      }),
    );
    expect(result.tests[0]?.status).toBe('success');
    expect(result.tests[0]?.output).toMatch(/^-rwxr-xr-x /);
    const stored = readdirSync(join(baseDir, 'cache'), { recursive: true })
      .map(String)
      .filter((p) => p.endsWith('suid'));
    expect(stored.length).toBeGreaterThan(0);
    for (const path of stored) {
      const stat = statSync(join(baseDir, 'cache', path));
      expect(stat.mode & 0o7000).toBe(0);
      expect(stat.uid).toBe(0);
    }
  });
});
