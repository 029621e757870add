/**
 * The spawn helper (native/coderunner-spawn.c) with the real binary, as root: what its children
 * get (arguments, environment, directory, pipes, cgroups joined, limits, the slot's uid with no
 * capabilities) and how failures and the helper's own end are told.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  JOIN_FAILED_EXIT,
  SPAWN_HELPER_PATH,
  Spawner,
  type HostProcess,
  type SpawnRequest,
} from '../src/spawner.js';
import { startTimeOf } from '../src/base-sandbox.js';

/** Listens on the loopback and connects to itself: prints `connected`, or why not. */
const LOOPBACK_TALK = [
  'import socket',
  "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()",
  'try: socket.create_connection(s.getsockname(), timeout=2); print("connected")',
  'except OSError as e: print(e.strerror)',
].join('\n');

let spawner: Spawner;
let dir: string;

beforeAll(async () => {
  spawner = await Spawner.start();
  dir = mkdtempSync(join(tmpdir(), 'spawner-test-'));
});

afterAll(async () => {
  await spawner.close();
  rmSync(dir, { recursive: true, force: true });
});

function text(stream: Readable | null): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => (out += chunk));
    stream?.on('close', () => resolve(out));
  });
}

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Starts a process, feeds it `stdin`, and waits for its end and all of its output. */
async function run(request: Partial<SpawnRequest> & Pick<SpawnRequest, 'argv'>, stdin = ''): Promise<Ran> {
  const child = spawner.spawn({ env: {}, cwd: '/', stackKb: 8192, ...request });
  const exited = new Promise<[number | null, string | null]>((resolve) =>
    child.once('exit', (code: number | null, signal: string | null) => resolve([code, signal])),
  );
  expect(await child.ready).toBe(true);
  const [stdout, stderr] = [text(child.stdout), text(child.stderr)];
  child.stdin?.end(stdin);
  const [code, signal] = await exited;
  return { code, signal, stdout: await stdout, stderr: await stderr };
}

describe('the spawn helper', () => {
  it('runs a command with its arguments, environment, directory and standard streams', async () => {
    const result = await run(
      {
        argv: ['/bin/sh', '-c', 'cat; echo "$1|$GREETING|$(pwd)"; echo oops >&2; exit 3', 'sh', 'an arg'],
        env: { GREETING: 'hello world' },
        cwd: dir,
      },
      'from stdin\n',
    );
    expect(result).toEqual({
      code: 3,
      signal: null,
      stdout: `from stdin\nan arg|hello world|${dir}\n`,
      stderr: 'oops\n',
    });
  });

  it('keeps nothing of its own environment for the command', async () => {
    expect((await run({ argv: ['/usr/bin/env'] })).stdout).toBe('');
  });

  it('gives the command only the descriptors it asked for, whatever the helper inherited', async () => {
    // A helper whose parent left descriptors 7 and 8 open and inheritable.
    const wrapper = join(dir, 'leaky-parent.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec 7</dev/null 8>/dev/null\nexec ${SPAWN_HELPER_PATH}\n`, {
      mode: 0o755,
    });
    const own = await Spawner.start(wrapper);
    try {
      const listFds = "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))";
      const child = own.spawn({
        argv: ['/usr/bin/python3', '-S', '-c', listFds],
        env: {},
        cwd: '/',
        stackKb: 8192,
      });
      expect(await child.ready).toBe(true);
      const out = text(child.stdout);
      child.stdin?.end();
      // 0–2 its streams, 3 the listing's own directory.
      expect(await out).toBe('[0, 1, 2, 3]\n');
    } finally {
      await own.close();
    }
  });

  it('writes the command’s own pid into every procs file before it execs', async () => {
    const files = [join(dir, 'a.procs'), join(dir, 'b.procs')];
    for (const file of files) writeFileSync(file, '');
    const result = await run({ argv: ['/bin/sh', '-c', 'echo $$'], procsFiles: files });
    expect(result.code).toBe(0);
    for (const file of files) expect(readFileSync(file, 'utf8').trim()).toBe(result.stdout.trim());
  });

  it('exits with JOIN_FAILED_EXIT, without running the command, when a cgroup cannot be joined', async () => {
    const result = await run({ argv: ['/bin/echo', 'ran'], procsFiles: ['/nonexistent/dir/cgroup.procs'] });
    expect(result.code).toBe(JOIN_FAILED_EXIT);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^coderunner: cannot join \/nonexistent\/dir\/cgroup.procs: /);
  });

  it('enters no process but the base sandbox it was told of, by pid and start time', async () => {
    const enter = (startTime: number): Promise<Ran> =>
      run({
        argv: ['/bin/echo', 'ran'],
        uid: 1000,
        statusFd: true,
        enter: { pid: process.pid, startTime, hostUid: 62990, workDirBytes: 1 << 20, tmpBytes: 1 << 20 },
      });
    // The pid of this (host) process with another start time: a base that ended, its pid reused.
    const own = startTimeOf(process.pid) as number;
    const reused = await enter(own + 1);
    expect(reused.code).toBe(JOIN_FAILED_EXIT);
    expect(reused.stderr).toBe(
      `coderunner: cannot find the base sandbox at /proc/${process.pid}: No such process\n`,
    );
    // A process of the host itself: its user namespace is not one to enter (the kernel refuses
    // to enter the one the helper's child is in; the slot's uid owns no other of the host's).
    const host = await enter(own);
    expect(host.code).toBe(JOIN_FAILED_EXIT);
    expect(host.stderr).toMatch(/^coderunner: cannot enter the sandbox's namespace: user: /);
    expect(host.stdout).toBe('');
  });

  it('holds a sandbox in directories it makes, and removes them when it could not start', async () => {
    const dirs = [join(dir, 'held-a'), join(dir, 'held-b')];
    const held = spawner.hold(
      {
        argv: ['/bin/true'],
        env: {},
        cwd: '/box',
        uid: 1000,
        stackKb: 'unlimited',
        enter: { pid: process.pid, startTime: 1, hostUid: 62990, workDirBytes: 1 << 20, tmpBytes: 1 << 20 },
      },
      dirs,
    );
    await held.ended;
    expect(held.exited).toBe(true);
    await expect(
      held.run({
        writes: [],
        cpuFile: '/nonexistent',
        cpuKind: 'n',
        usageFiles: [],
        control: [],
        stdin: Buffer.alloc(0),
        wallLimitMs: 1000,
        stdoutLimit: 10,
        stderrLimit: 10,
        stderrOverflow: 'kill',
      }),
    ).rejects.toThrow('the sandbox has ended');
    for (const path of dirs) expect(existsSync(path)).toBe(false);
  });

  it('turns core dumps off and sets the stack limit', async () => {
    const result = await run({
      argv: ['/bin/sh', '-c', 'ulimit -c; ulimit -s; ulimit -H -s'],
      stackKb: 65536,
    });
    expect(result.stdout).toBe('0\n65536\n65536\n');
    expect((await run({ argv: ['/bin/sh', '-c', 'ulimit -s'], stackKb: 'unlimited' })).stdout).toBe(
      'unlimited\n',
    );
  });

  it('drops to the given uid and gid with no groups, no capabilities and no_new_privs', async () => {
    const { stdout } = await run({ argv: ['/bin/cat', '/proc/self/status'], uid: 62990 });
    const field = (name: string): string => new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(stdout)?.[1] ?? '';
    expect(field('Uid').split(/\s+/)).toEqual(['62990', '62990', '62990', '62990']);
    expect(field('Gid').split(/\s+/)).toEqual(['62990', '62990', '62990', '62990']);
    expect(field('Groups')).toBe('');
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(field(set)).toMatch(/^0+$/);
    expect(field('NoNewPrivs')).toBe('1');
  });

  it('enters the named network namespace, the same each time: only a loopback, and that down', async () => {
    const ns = async (netns?: string): Promise<string> =>
      (await run({ argv: ['/usr/bin/readlink', '/proc/self/ns/net'], ...(netns ? { netns } : {}) })).stdout;
    const [own, a, again, b] = [await ns(), await ns('test-a'), await ns('test-a'), await ns('test-b')];
    expect(new Set([own, a, b]).size).toBe(3);
    expect(again).toBe(a);
    const { stdout } = await run({
      argv: ['/bin/sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'],
      netns: 'test-a',
    });
    expect(stdout).toBe('lo\n');
    expect((await run({ argv: ['/usr/bin/python3', '-c', LOOPBACK_TALK] })).stdout).toBe('connected\n');
    const talk = await run({
      argv: ['/usr/bin/python3', '-c', LOOPBACK_TALK],
      netns: 'test-a',
    });
    expect(talk.stdout).toBe('Network is unreachable\n');
  });

  it('keeps root when no uid is given', async () => {
    expect((await run({ argv: ['/usr/bin/id', '-u'] })).stdout).toBe('0\n');
  });

  it('gives a status pipe on fd 3 and a control pipe on fd 4', async () => {
    const child = spawner.spawn({
      argv: ['/bin/sh', '-c', 'echo status >&3; read -r line <&4; echo "got $line"'],
      env: {},
      cwd: '/',
      stackKb: 8192,
      statusFd: true,
      controlFd: true,
    });
    await child.ready;
    const [stdout, status] = [text(child.stdout), text(child.stdio[3] ?? null)];
    child.stdio[4]?.end('control line\n');
    child.stdin?.end();
    expect(await status).toBe('status\n');
    expect(await stdout).toBe('got control line\n');
  });

  it('tells a command that cannot be executed as an error with its errno', async () => {
    const child = spawner.spawn({ argv: ['/nonexistent/program'], env: {}, cwd: '/', stackKb: 8192 });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const error = await new Promise<Error & { code?: string }>((resolve) => child.once('error', resolve));
    expect(error.code).toBe('ENOENT');
    await exited;
  });

  it('tells a sandbox entered whose stub is not next to the helper as an error with its errno', async () => {
    // The helper alone, in a directory of its own.
    const lone = join(dir, 'lone');
    mkdirSync(lone);
    copyFileSync(SPAWN_HELPER_PATH, join(lone, 'coderunner-spawn'));
    const alone = await Spawner.start(join(lone, 'coderunner-spawn'));
    try {
      const child = alone.spawn({
        argv: [],
        env: {},
        cwd: '/box',
        uid: 1000,
        stackKb: 'unlimited',
        enter: { pid: process.pid, startTime: 1, hostUid: 62990, workDirBytes: 1 << 20, tmpBytes: 1 << 20 },
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const error = await new Promise<Error & { code?: string }>((resolve) => child.once('error', resolve));
      expect(error.code).toBe('ENOENT');
      await exited;
    } finally {
      await alone.close();
    }
  });

  it('signals a process through kill, and not once it has ended', async () => {
    const child = spawner.spawn({ argv: ['/bin/sleep', '30'], env: {}, cwd: '/', stackKb: 8192 });
    await child.ready;
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
    expect(child.kill('SIGKILL')).toBe(true);
    expect(await exited).toEqual([null, 'SIGKILL']);
    expect(child.kill('SIGKILL')).toBe(false);
  });

  it('keeps many processes at once apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => run({ argv: ['/bin/sh', '-c', `cat; echo ${i}`] }, `in ${i}\n`)),
    );
    results.forEach((result, i) => expect(result).toMatchObject({ code: 0, stdout: `in ${i}\n${i}\n` }));
  });
});

describe('the end of the helper', () => {
  it('fails what still runs when the helper dies, and starts a new one for what comes after', async () => {
    const own = await Spawner.start();
    const child = own.spawn({ argv: ['/bin/sleep', '30'], env: {}, cwd: '/', stackKb: 8192 });
    await child.ready;
    const failed = new Promise<Error>((resolve) => child.once('error', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    own['helper']?.process.kill('SIGKILL');
    expect((await failed).message).toMatch(/the spawn helper ended \(SIGKILL\)/);
    await exited;
    process.kill(child.pid as number, 'SIGKILL'); // orphaned by its helper
    expect(await own.status({ argv: ['/bin/true'], env: {}, cwd: '/', stackKb: 8192 })).toBe(0);
    expect(own.restarts).toBe(1);
    await own.close();
    const late: HostProcess = own.spawn({ argv: ['/bin/true'], env: {}, cwd: '/', stackKb: 8192 });
    expect(await late.ready).toBe(false);
    expect(late.failure?.message).toBe('the spawn helper is closed');
  });

  it('kills what it started when it is closed', async () => {
    const own = await Spawner.start();
    const child = own.spawn({ argv: ['/bin/sleep', '30'], env: {}, cwd: '/', stackKb: 8192 });
    await child.ready;
    const pid = child.pid as number;
    await own.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
