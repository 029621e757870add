import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { ExecuteRequest } from '../../src/executor.js';
import { FilesMessages, placementOf, ProgramMessages, programMessage } from '../../src/warm.js';

describe('placementOf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coderunner-placement-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists directories before the files inside them', () => {
    mkdirSync(join(dir, 'pkg', 'sub'), { recursive: true });
    writeFileSync(join(dir, 'pkg', 'sub', 'A.class'), 'x');
    writeFileSync(join(dir, 'main'), 'y');
    // Modes as given, whatever the umask.
    chmodSync(join(dir, 'pkg', 'sub', 'A.class'), 0o644);
    chmodSync(join(dir, 'main'), 0o644);
    expect(
      placementOf([
        { host: join(dir, 'main'), name: 'main' },
        { host: join(dir, 'pkg'), name: 'pkg' },
      ]),
    ).toEqual({
      dirs: ['pkg', 'pkg/sub'],
      files: [
        { host: join(dir, 'main'), name: 'main', size: 1, mode: 0o644 },
        { host: join(dir, 'pkg', 'sub', 'A.class'), name: 'pkg/sub/A.class', size: 1, mode: 0o644 },
      ],
    });
  });

  it('declines names with a newline, and more than 64 files', () => {
    writeFileSync(join(dir, 'odd'), '');
    expect(placementOf([{ host: join(dir, 'odd'), name: 'a\nb' }])).toBeUndefined();
    const many = Array.from({ length: 65 }, (_, i) => {
      writeFileSync(join(dir, `f${i}`), '');
      return { host: join(dir, `f${i}`), name: `f${i}` };
    });
    expect(placementOf(many)).toBeUndefined();
    expect(placementOf(many.slice(0, 64))?.files).toHaveLength(64);
  });

  it('declines files larger than it is given room for', () => {
    writeFileSync(join(dir, 'big'), Buffer.alloc(4096));
    const big = [{ host: join(dir, 'big'), name: 'big' }];
    expect(placementOf(big, 4096)?.files).toHaveLength(1);
    expect(placementOf(big, 4095)).toBeUndefined();
  });
});

describe('FilesMessages', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coderunner-files-messages-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string): { host: string; name: string } => {
    writeFileSync(join(dir, name), content);
    return { host: join(dir, name), name };
  };

  it('reads a run’s files once, keeping the most recently used', () => {
    const messages = new FilesMessages(2);
    const a = [file('a', 'aaa')];
    const first = messages.get(a, 1024);
    expect(first?.message.map(String)).toEqual(['q\0c644 3 a\0aaa\0']);
    // What the path holds is not read again while it is cached (a compile cache entry's files
    // do not change).
    writeFileSync(join(dir, 'a'), 'changed');
    expect(messages.get(a, 1024)).toBe(first);
    const b = [file('b', 'b')];
    const firstB = messages.get(b, 1024);
    messages.get(a, 1024);
    messages.get([file('c', 'c')], 1024);
    // Two at most: b, the least recently used, went first; a stayed.
    expect(messages.get(a, 1024)).toBe(first);
    const againB = messages.get(b, 1024);
    expect(againB).not.toBe(firstB);
    expect(againB).toEqual(firstB);
  });

  it('declines files larger than it is given room for, cached or not', () => {
    const messages = new FilesMessages();
    const big = [file('big', 'x'.repeat(100))];
    expect(messages.get(big, 99)).toBeUndefined();
    expect(messages.get(big, 100)?.placement.files).toHaveLength(1);
    expect(messages.get(big, 99)).toBeUndefined();
  });
});

describe('ProgramMessages', () => {
  const request = (
    command: readonly string[],
    env: Record<string, string>,
    stackKb: number,
  ): ExecuteRequest => ({
    slot: 0,
    command,
    env,
    files: [],
    roBinds: [],
    workDirBytes: 1 << 20,
    tmpBytes: 1 << 20,
    stdin: '',
    memoryBytes: 1 << 26,
    pids: 16,
    cpuLimitMs: 1000,
    wallLimitMs: 2000,
    stdoutLimit: 1024,
    stderrLimit: 1024,
    stderrOverflow: 'kill',
    stackKb,
  });

  it('makes a message once for runs that share their environment, command and stack limit', () => {
    const programs = new ProgramMessages();
    const env = { PATH: '/usr/bin' };
    const command = ['./main'];
    const first = programs.get(request(command, env, 65536));
    expect(first).toEqual(programMessage(request(command, env, 65536)));
    expect(programs.get(request(command, env, 65536))).toBe(first);
  });

  it('makes another for another stack limit or command with the same environment', () => {
    const programs = new ProgramMessages();
    const env = { PATH: '/usr/bin' };
    const command = ['./main'];
    programs.get(request(command, env, 65536));
    expect(programs.get(request(command, env, 1024))).toEqual(programMessage(request(command, env, 1024)));
    const other = ['./main', '--fast'];
    expect(programs.get(request(other, env, 1024))).toEqual(programMessage(request(other, env, 1024)));
    // And for an equal environment in another object.
    expect(programs.get(request(command, { PATH: '/bin' }, 1024))).toEqual(
      programMessage(request(command, { PATH: '/bin' }, 1024)),
    );
  });
});
