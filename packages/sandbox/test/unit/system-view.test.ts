import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SANDBOX_UID } from '../../src/isolation.js';
import { buildSystemView, systemView } from '../../src/system-view.js';

let baseDir: string;

beforeAll(async () => {
  baseDir = mkdtempSync(join(tmpdir(), 'system-view-test-'));
  await buildSystemView(baseDir, ['/etc/ld.so.conf.d', '/etc/no-such-toolchain', '/opt/elsewhere']);
});
afterAll(() => rmSync(baseDir, { recursive: true, force: true }));

describe('buildSystemView', () => {
  it('writes a passwd and group that name only the sandbox user', () => {
    expect(readFileSync(join(baseDir, 'etc/passwd'), 'utf8')).toBe(
      `runner:x:${SANDBOX_UID}:${SANDBOX_UID}:runner:/tmp:/usr/sbin/nologin\n`,
    );
    expect(readFileSync(join(baseDir, 'etc/group'), 'utf8')).toBe(`runner:x:${SANDBOX_UID}:\n`);
  });

  it('copies the dynamic linker’s cache and the alternatives links, keeping links as links', () => {
    expect(readFileSync(join(baseDir, 'etc/ld.so.cache'))).toEqual(readFileSync('/etc/ld.so.cache'));
    const links = execFileSync('ls', ['/etc/alternatives'], { encoding: 'utf8' }).trim().split('\n');
    const first = links[0] as string;
    expect(readlinkSync(join(baseDir, 'etc/alternatives', first))).toBe(
      readlinkSync(`/etc/alternatives/${first}`),
    );
  });

  it('copies what of the toolchains’ paths is under /etc and exists, and nothing else', () => {
    expect(statSync(join(baseDir, 'etc/ld.so.conf.d')).isDirectory()).toBe(true);
    expect(() => lstatSync(join(baseDir, 'etc/no-such-toolchain'))).toThrow();
    expect(() => lstatSync(join(baseDir, 'etc/shadow'))).toThrow();
  });

  it('makes a /dev of the host’s character devices, the fd links and an empty shm, all root’s', () => {
    for (const device of ['null', 'zero', 'full', 'random', 'urandom']) {
      const stat = statSync(join(baseDir, 'dev', device));
      expect(stat.isCharacterDevice()).toBe(true);
      expect(stat.rdev).toBe(statSync(`/dev/${device}`).rdev);
      expect(stat.mode & 0o777).toBe(0o666);
    }
    expect(readlinkSync(join(baseDir, 'dev/fd'))).toBe('/proc/self/fd');
    expect(readlinkSync(join(baseDir, 'dev/stderr'))).toBe('/proc/self/fd/2');
    const dev = statSync(join(baseDir, 'dev'));
    expect([dev.uid, dev.mode & 0o777]).toEqual([0, 0o755]);
  });

  it('can be made again over itself, dropping what the host no longer has', async () => {
    writeFileSync(join(baseDir, 'etc/ld.so.conf.d/stale.conf'), 'gone\n');
    // A device whose mode changed (as a copy of a host node that was not 0666 would have).
    chmodSync(join(baseDir, 'dev/null'), 0o644);
    await buildSystemView(baseDir, ['/etc/ld.so.conf.d']);
    expect(() => lstatSync(join(baseDir, 'etc/ld.so.conf.d/stale.conf'))).toThrow();
    expect(statSync(join(baseDir, 'dev/null')).isCharacterDevice()).toBe(true);
    expect(statSync(join(baseDir, 'dev/null')).mode & 0o777).toBe(0o666);
  });
});

describe('systemView', () => {
  it('binds /usr first, then the view’s /etc read-only and its /dev with devices', async () => {
    const args = await systemView('/srv/base');
    expect(args.slice(0, 3)).toEqual(['--ro-bind', '/usr', '/usr']);
    expect(args.slice(-6)).toEqual([
      '--ro-bind',
      '/srv/base/etc',
      '/etc',
      '--dev-bind',
      '/srv/base/dev',
      '/dev',
    ]);
    expect(args).not.toContain('--bind');
  });

  it('mirrors /bin as the host has it: a symlink as a symlink, a directory as a read-only bind', async () => {
    const args = await systemView('/srv/base');
    const at = (sequence: string[]): number =>
      args.findIndex((_, i) => sequence.every((arg, j) => args[i + j] === arg));
    if ((await lstat('/bin')).isSymbolicLink()) {
      expect(at(['--symlink', await readlink('/bin'), '/bin'])).toBeGreaterThan(0);
    } else {
      expect(at(['--ro-bind', '/bin', '/bin'])).toBeGreaterThan(0);
    }
  });
});
