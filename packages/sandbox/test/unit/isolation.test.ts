import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  BwrapIsolation,
  DirectIsolation,
  SANDBOX_UID,
  bwrapArgv,
  slotUid,
  type BwrapOptions,
  type IsolatedCommand,
} from '../../src/isolation.js';

const options: BwrapOptions = {
  bwrap: '/usr/bin/bwrap',
  uidBase: 61000,
  netnsPerSlot: false,
  system: ['--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin'],
};

const command = (overrides: Partial<IsolatedCommand> = {}): IsolatedCommand => ({
  slot: 3,
  command: ['./main', '--flag'],
  env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
  files: [
    { host: '/var/lib/runner/cache/abc/main', name: 'main' },
    { host: '/var/lib/runner/cache/abc/pkg', name: 'pkg' },
  ],
  roBinds: ['/etc/java-17-openjdk'],
  workDirBytes: 64 * 1024 * 1024,
  tmpBytes: 32 * 1024 * 1024,
  ...overrides,
});

/** Where `sequence` starts in `argv`, or -1. */
function indexOfSequence(argv: readonly string[], sequence: readonly string[]): number {
  for (let i = 0; i + sequence.length <= argv.length; i++) {
    if (sequence.every((arg, j) => argv[i + j] === arg)) return i;
  }
  return -1;
}

/** The bwrap options (before the program's `--`). */
function split(argv: readonly string[]): { bwrap: string[] } {
  return { bwrap: argv.slice(0, argv.lastIndexOf('--')) };
}

describe('bwrapArgv', () => {
  it('starts bwrap itself: the spawn helper drops to the slot uid before it', () => {
    expect(bwrapArgv(options, command())[0]).toBe('/usr/bin/bwrap');
  });

  it('gives each slot two uids of its own', () => {
    expect([slotUid(options, 0), slotUid(options, 0, 1)]).toEqual([61000, 61001]);
    expect([slotUid(options, 1), slotUid(options, 1, 1)]).toEqual([61002, 61003]);
    expect(slotUid({ ...options, uidBase: 70000 }, 5, 1)).toBe(70011);
  });

  it('unshares every namespace, disables nested user namespaces and dies with its parent', () => {
    const { bwrap } = split(bwrapArgv(options, command()));
    expect(bwrap).toEqual(
      expect.arrayContaining([
        '--unshare-all',
        '--unshare-user',
        '--disable-userns',
        '--die-with-parent',
        '--new-session',
      ]),
    );
    expect(bwrap).not.toContain('--share-net');
  });

  it('keeps the network namespace it starts in when each slot has its own', async () => {
    const shared = { ...options, netnsPerSlot: true };
    const argv = bwrapArgv(shared, command());
    expect(argv.slice(0, 3)).toEqual(['/usr/bin/bwrap', '--unshare-all', '--share-net']);
    expect(await new BwrapIsolation(shared).prepare(command({ slot: 2 }))).toMatchObject({ netns: 'slot-2' });
    expect(await new BwrapIsolation(options).prepare(command())).not.toHaveProperty('netns');
  });

  it('maps the program to the sandbox uid and gid, and reports its start on fd 3', () => {
    const argv = bwrapArgv(options, command());
    expect(indexOfSequence(argv, ['--uid', String(SANDBOX_UID)])).toBeGreaterThan(0);
    expect(indexOfSequence(argv, ['--gid', String(SANDBOX_UID)])).toBeGreaterThan(0);
    expect(indexOfSequence(argv, ['--json-status-fd', '3'])).toBeGreaterThan(0);
  });

  it('includes the system view, a fresh /proc and a fresh size-limited /dev/shm', () => {
    const argv = bwrapArgv(options, command());
    expect(indexOfSequence(argv, options.system)).toBeGreaterThan(argv.indexOf('/usr/bin/bwrap'));
    expect(indexOfSequence(argv, ['--proc', '/proc'])).toBeGreaterThan(0);
    expect(
      indexOfSequence(argv, ['--size', String(32 * 1024 * 1024), '--perms', '1777', '--tmpfs', '/dev/shm']),
    ).toBeGreaterThan(indexOfSequence(argv, options.system));
  });

  it('mounts size-limited tmpfs on /tmp (sticky, world-writable) and /work', () => {
    const argv = bwrapArgv(options, command());
    expect(
      indexOfSequence(argv, ['--size', String(32 * 1024 * 1024), '--perms', '1777', '--tmpfs', '/tmp']),
    ).toBeGreaterThan(0);
    expect(
      indexOfSequence(argv, ['--size', String(64 * 1024 * 1024), '--perms', '0755', '--tmpfs', '/box']),
    ).toBeGreaterThan(0);
  });

  it('binds the files read-only into /work, after /work’s tmpfs so that it does not hide them', () => {
    const argv = bwrapArgv(options, command());
    const work = indexOfSequence(argv, ['--tmpfs', '/box']);
    const main = indexOfSequence(argv, ['--ro-bind', '/var/lib/runner/cache/abc/main', '/box/main']);
    const pkg = indexOfSequence(argv, ['--ro-bind', '/var/lib/runner/cache/abc/pkg', '/box/pkg']);
    expect(main).toBeGreaterThan(work);
    expect(pkg).toBeGreaterThan(work);
    expect(argv).not.toContain('--bind');
  });

  it('binds the toolchain’s extra paths read-only when they exist, but those the view’s /etc has', () => {
    const argv = bwrapArgv(options, command({ roBinds: ['/etc/java-17-openjdk', '/opt/toolchain'] }));
    expect(indexOfSequence(argv, ['--ro-bind-try', '/opt/toolchain', '/opt/toolchain'])).toBeGreaterThan(0);
    expect(argv).not.toContain('/etc/java-17-openjdk');
  });

  it('starts in /work', () => {
    expect(indexOfSequence(bwrapArgv(options, command()), ['--chdir', '/box'])).toBeGreaterThan(0);
  });

  it('clears the environment, then sets exactly the given variables', () => {
    const argv = bwrapArgv(options, command({ env: { PATH: '/usr/bin', WEIRD: '-- --bind / /' } }));
    const clear = argv.indexOf('--clearenv');
    expect(clear).toBeGreaterThan(0);
    const path = indexOfSequence(argv, ['--setenv', 'PATH', '/usr/bin']);
    const weird = indexOfSequence(argv, ['--setenv', 'WEIRD', '-- --bind / /']);
    expect(path).toBeGreaterThan(clear);
    expect(weird).toBeGreaterThan(clear);
    expect(argv.filter((arg) => arg === '--setenv')).toHaveLength(2);
  });

  it('puts the command after a final --, as separate arguments', () => {
    const argv = bwrapArgv(options, command({ command: ['java', '-Xmx256m', 'Main'] }));
    expect(argv.slice(-4)).toEqual(['--', 'java', '-Xmx256m', 'Main']);
    expect(argv.lastIndexOf('--')).toBe(argv.length - 4);
  });

  it('runs a string command with /bin/sh -c', () => {
    const argv = bwrapArgv(options, command({ command: 'gcc main.c && ./a.out' }));
    expect(argv.slice(-4)).toEqual(['--', '/bin/sh', '-c', 'gcc main.c && ./a.out']);
  });

  it('passes file names and arguments through without a shell', () => {
    const argv = bwrapArgv(
      options,
      command({ files: [{ host: '/h/a b', name: 'a b' }], command: ['./main', '$(id)', '; rm -rf /'] }),
    );
    expect(indexOfSequence(argv, ['--ro-bind', '/h/a b', '/box/a b'])).toBeGreaterThan(0);
    expect(argv.slice(-3)).toEqual(['./main', '$(id)', '; rm -rf /']);
  });

  it('does not change the command it is given', () => {
    const argv = ['./main'];
    const result = bwrapArgv(options, command({ command: argv }));
    result.push('extra');
    expect(argv).toEqual(['./main']);
  });

  it('works with no files, binds nor environment', () => {
    const argv = bwrapArgv(options, command({ files: [], roBinds: [], env: {}, command: ['true'] }));
    expect(argv).not.toContain('--ro-bind-try');
    expect(argv).not.toContain('--setenv');
    expect(argv.slice(-2)).toEqual(['--', 'true']);
  });
});

describe('BwrapIsolation', () => {
  it('prepares the bwrap argv with an empty host environment and the status fd', async () => {
    const prepared = await new BwrapIsolation(options).prepare(command());
    expect(prepared.argv).toEqual(bwrapArgv(options, command()));
    expect(prepared.uid).toBe(61006);
    expect((await new BwrapIsolation(options).prepare(command({ lane: 1 }))).uid).toBe(61007);
    expect(prepared.env).toEqual({});
    expect(prepared.cwd).toBe('/');
    expect(prepared.statusFd).toBe(true);
    await expect(prepared.cleanup()).resolves.toBeUndefined();
  });
});

describe('DirectIsolation', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'isolation-test-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('copies the files into a run dir, runs there, and removes it at cleanup', async () => {
    const src = join(root, 'src');
    mkdirSync(join(src, 'pkg'), { recursive: true });
    writeFileSync(join(src, 'main.py'), 'print(1)');
    writeFileSync(join(src, 'pkg', 'util.py'), 'x = 1');
    const isolation = new DirectIsolation(join(root, 'runs'));
    const prepared = await isolation.prepare(
      command({
        command: 'python3 main.py',
        env: { PATH: '/usr/bin' },
        files: [
          { host: join(src, 'main.py'), name: 'main.py' },
          { host: join(src, 'pkg'), name: 'pkg' },
        ],
      }),
      'run-1',
    );
    const dir = join(root, 'runs', 'run-1');
    expect(prepared.cwd).toBe(dir);
    expect(prepared.argv).toEqual(['/bin/sh', '-c', 'python3 main.py']);
    expect(prepared.env).toEqual({ PATH: '/usr/bin', HOME: dir, TMPDIR: join(dir, '.tmp') });
    expect(prepared.statusFd).toBe(false);
    expect(readFileSync(join(dir, 'main.py'), 'utf8')).toBe('print(1)');
    expect(readFileSync(join(dir, 'pkg', 'util.py'), 'utf8')).toBe('x = 1');
    expect(existsSync(join(dir, '.tmp'))).toBe(true);

    await prepared.cleanup();
    expect(existsSync(dir)).toBe(false);
  });

  it('runs an argv command as it is', async () => {
    const prepared = await new DirectIsolation(root).prepare(
      command({ files: [], command: ['./main', 'a b'] }),
      'r',
    );
    expect(prepared.argv).toEqual(['./main', 'a b']);
    await prepared.cleanup();
  });
});
