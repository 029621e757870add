import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { RunCgroup } from '../../src/cgroup/types.js';
import { JOIN_FAILED_EXIT, joinArgv, signalName } from '../../src/launcher.js';

describe('signalName', () => {
  it('names signals by number', () => {
    expect(signalName(1)).toBe('SIGHUP');
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(15)).toBe('SIGTERM');
  });

  it('uses the usual name of a signal that has aliases, as Node does for a killed child', () => {
    // abort() — a failed assert, an uncaught C++ exception — must read SIGABRT, not SIGIOT.
    expect(signalName(6)).toBe('SIGABRT');
    expect(signalName(29)).toBe('SIGIO');
  });

  it('falls back to SIG<number> for a number with no name', () => {
    expect(signalName(999)).toBe('SIG999');
  });
});

describe('joinArgv', () => {
  const cgroup = (procsFiles: string[]): RunCgroup => ({
    procsFiles,
    setLimits: () => Promise.resolve(),
    resetUsage: () => Promise.resolve(),
    cpuNs: () => Promise.resolve(0),
    usage: () => Promise.resolve({ cpuNs: 0, memoryPeakBytes: 0, oomKilled: false }),
    killAll: () => Promise.resolve(),
    remove: () => Promise.resolve(),
  });

  it('passes the stack size, the count of procs files, the files and then the command to a sh script', () => {
    const argv = joinArgv(
      ['/usr/bin/setpriv', '--reuid=61000', '--', 'bwrap'],
      cgroup(['/cg/a', '/cg/b']),
      65536,
    );
    expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(argv.slice(3)).toEqual([
      'sh',
      '65536',
      '2',
      '/cg/a',
      '/cg/b',
      '/usr/bin/setpriv',
      '--reuid=61000',
      '--',
      'bwrap',
    ]);
  });

  it('joins no cgroup when there is none', () => {
    expect(joinArgv(['./main'], undefined, 8192).slice(3)).toEqual(['sh', '8192', '0', './main']);
  });

  it('runs the command once it has written its pid into every procs file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'launcher-test-'));
    try {
      const files = [join(dir, 'a.procs'), join(dir, 'b.procs')];
      for (const file of files) writeFileSync(file, '');
      const argv = joinArgv(
        ['/bin/sh', '-c', 'echo "$$"; echo "$1"', 'sh', 'arg with spaces'],
        cgroup(files),
        8192,
      );
      const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
      expect(result.status).toBe(0);
      const [pid, arg] = result.stdout.split('\n');
      expect(arg).toBe('arg with spaces');
      // exec keeps the pid: the program itself is the process that joined.
      for (const file of files) expect(readFileSync(file, 'utf8').trim()).toBe(pid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits with JOIN_FAILED_EXIT, without running the command, when a cgroup cannot be joined', () => {
    const argv = joinArgv(['/bin/echo', 'ran'], cgroup(['/nonexistent/dir/cgroup.procs']), 8192);
    const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    expect(result.status).toBe(JOIN_FAILED_EXIT);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('coderunner: cannot join /nonexistent/dir/cgroup.procs');
  });

  it('disables core dumps for the command', () => {
    const argv = joinArgv(['/bin/sh', '-c', 'ulimit -c'], undefined, 8192);
    const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' });
    expect(result.stdout.trim()).toBe('0');
  });
});
