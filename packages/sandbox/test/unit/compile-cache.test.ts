import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { ArtifactFile } from '../../src/artifacts.js';
import { CompileCache, compileKeyHead, compileKeyOf, type StoredCompile } from '../../src/compile-cache.js';

/** A compile's whole key from its parts, as the compile step makes it. */
function compileKey(parts: {
  language: string;
  toolchain: string;
  command: unknown;
  files: readonly { name: string; content: string | Buffer }[];
}): string {
  return compileKeyOf(compileKeyHead(parts), parts.files);
}

describe('compileKey', () => {
  const base = {
    language: 'cpp',
    toolchain: '13.2.0',
    command: { command: ['g++', '-O2', 'main.cpp'], keepPatterns: ['main'] },
    files: [
      { name: 'main.cpp', content: 'int main() {}' },
      { name: 'util.h', content: '#pragma once' },
    ],
  };

  it('is a SHA-256 hex digest', () => {
    expect(compileKey(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is stable for the same inputs', () => {
    expect(compileKey(base)).toBe(compileKey(structuredClone(base)));
  });

  it('is the same for a file given as text or as its UTF-8 bytes', () => {
    const bytes = base.files.map((f) => ({ ...f, content: Buffer.from(f.content, 'utf8') }));
    expect(compileKey({ ...base, files: bytes })).toBe(compileKey(base));
    const mixed = [
      { name: 'é.c', content: 'é' },
      { name: 'b', content: Buffer.from([0xff, 0]) },
    ];
    expect(compileKey({ ...base, files: mixed })).toBe(
      compileKey({ ...base, files: mixed.map((f) => ({ ...f, content: Buffer.from(f.content) })) }),
    );
  });

  it('keeps its digests from one version to the next (cached entries stay found)', () => {
    expect(compileKey(base)).toBe('c4e34be0a8e967e8c4ae4fcdf93071bb0bae9091f03d91b27a22a50016992481');
    const mixed = [
      { name: 'z.c', content: 'é' },
      { name: 'b', content: Buffer.from([0xff, 0]) },
      { name: 'a', content: 'x' },
    ];
    expect(compileKey({ ...base, files: mixed })).toBe(
      '3b80462590d46bc345953a499ca3e7fa42e486d7d8f5d93665681dd82b88fc0d',
    );
  });

  it('is the same from a head made once as from its parts', () => {
    const head = compileKeyHead(base);
    expect(compileKeyOf(head, base.files)).toBe(compileKey(base));
    expect(compileKeyOf(head, [base.files[0]!])).toBe(compileKey({ ...base, files: [base.files[0]!] }));
  });

  it('does not depend on the order of the files', () => {
    expect(compileKey({ ...base, files: [...base.files].reverse() })).toBe(compileKey(base));
  });

  it('changes when the language, toolchain or command changes', () => {
    const key = compileKey(base);
    expect(compileKey({ ...base, language: 'c' })).not.toBe(key);
    expect(compileKey({ ...base, toolchain: '13.2.1' })).not.toBe(key);
    expect(
      compileKey({ ...base, command: { ...base.command, command: ['g++', '-O3', 'main.cpp'] } }),
    ).not.toBe(key);
    expect(compileKey({ ...base, command: { ...base.command, keepPatterns: ['*'] } })).not.toBe(key);
  });

  it('tells an argv from the same words as one shell string', () => {
    expect(compileKey({ ...base, command: ['a', 'b'] })).not.toBe(compileKey({ ...base, command: 'a b' }));
    expect(compileKey({ ...base, command: ['a b'] })).not.toBe(compileKey({ ...base, command: 'a b' }));
  });

  it('changes when any file name or content changes', () => {
    const key = compileKey(base);
    const [main, util] = base.files as [(typeof base.files)[0], (typeof base.files)[0]];
    expect(compileKey({ ...base, files: [{ ...main, name: 'main.cc' }, util] })).not.toBe(key);
    expect(compileKey({ ...base, files: [main, { ...util, content: '#pragma  once' }] })).not.toBe(key);
    expect(compileKey({ ...base, files: [main] })).not.toBe(key);
    expect(compileKey({ ...base, files: [main, util, { name: 'extra', content: '' }] })).not.toBe(key);
  });

  it('cannot be fooled by moving bytes between a file name and its content', () => {
    const a = compileKey({ ...base, files: [{ name: 'ab', content: 'c' }] });
    const b = compileKey({ ...base, files: [{ name: 'a', content: 'bc' }] });
    expect(a).not.toBe(b);
  });

  it('cannot be fooled by moving bytes between two files', () => {
    const a = compileKey({
      ...base,
      files: [
        { name: 'a', content: 'xy' },
        { name: 'b', content: 'z' },
      ],
    });
    const b = compileKey({
      ...base,
      files: [
        { name: 'a', content: 'x' },
        { name: 'b', content: 'yz' },
      ],
    });
    expect(a).not.toBe(b);
  });

  it('cannot be fooled by moving bytes between the language and the toolchain', () => {
    expect(compileKey({ ...base, language: 'ab', toolchain: 'c' })).not.toBe(
      compileKey({ ...base, language: 'a', toolchain: 'bc' }),
    );
  });

  it('cannot be fooled by a file name that looks like a length prefix', () => {
    const a = compileKey({ ...base, files: [{ name: 'x', content: '' }] });
    const b = compileKey({ ...base, files: [{ name: '', content: '1:x' }] });
    expect(a).not.toBe(b);
  });

  it('hashes a string content as its UTF-8 bytes, with a byte-length prefix', () => {
    const text = 'print("héllo, wörld ✓")';
    expect(compileKey({ ...base, files: [{ name: 'main.py', content: text }] })).toBe(
      compileKey({ ...base, files: [{ name: 'main.py', content: Buffer.from(text, 'utf8') }] }),
    );
  });
});

const success = (output = ''): Omit<StoredCompile, 'files'> => ({
  status: 'success',
  output,
  truncated: false,
  timeInMs: 12,
});

const artifact = (name: string, data: string, executable = false): ArtifactFile => ({
  name,
  data: Buffer.from(data),
  executable,
});

describe('CompileCache', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'compile-cache-test-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('stores a compile: its files on disk and an entry describing them', async () => {
    const cache = new CompileCache(root, 1024 * 1024);
    const entry = await cache.store('k1', success('warning: x'), [
      artifact('main', 'ELF', true),
      artifact('pkg/data.txt', 'data'),
    ]);
    expect(entry).toEqual({
      key: 'k1',
      dir: join(root, 'k1'),
      status: 'success',
      output: 'warning: x',
      truncated: false,
      timeInMs: 12,
      files: ['main', 'pkg/data.txt'],
    });
    expect(readFileSync(join(entry.dir, 'main'), 'utf8')).toBe('ELF');
    expect(readFileSync(join(entry.dir, 'pkg', 'data.txt'), 'utf8')).toBe('data');
  });

  it('counts the bytes of the files and of the compiler output', async () => {
    const cache = new CompileCache(root, 1024 * 1024);
    expect(cache.size).toBe(0);
    await cache.store('k1', success('é'), [artifact('a', '123'), artifact('b', '45')]);
    expect(cache.size).toBe(5 + 2);
  });

  it('stores a compile error with no files', async () => {
    const cache = new CompileCache(root, 1024 * 1024);
    const entry = await cache.store(
      'bad',
      { status: 'compile_error', output: 'main.c:1: error', truncated: true, timeInMs: 30 },
      [],
    );
    expect(entry.status).toBe('compile_error');
    expect(entry.files).toEqual([]);
    expect(cache.acquire('bad')?.output).toBe('main.c:1: error');
    expect(cache.acquire('bad')?.truncated).toBe(true);
  });

  it('finds nothing for a key it never stored', () => {
    const cache = new CompileCache(root, 1024 * 1024);
    expect(cache.acquire('missing')).toBeUndefined();
  });

  it('hits a stored key, with the same entry', async () => {
    const cache = new CompileCache(root, 1024 * 1024);
    const stored = await cache.store('k1', success(), [artifact('main', 'x', true)]);
    await cache.release('k1');
    expect(cache.acquire('k1')).toEqual(stored);
  });

  it('does not rewrite an entry it already holds when the same key is stored again', async () => {
    const cache = new CompileCache(root, 1024 * 1024);
    const first = await cache.store('k1', success('first'), [artifact('main', 'first')]);
    const second = await cache.store('k1', success('second'), [artifact('main', 'second!')]);
    expect(second).toEqual(first);
    expect(readFileSync(join(first.dir, 'main'), 'utf8')).toBe('first');
    expect(cache.size).toBe('first'.length * 2);
  });

  it('with maxBytes 0 keeps an entry while it is pinned and drops it once released', async () => {
    const cache = new CompileCache(root, 0);
    const entry = await cache.store('k1', success(), [artifact('main', 'x')]);
    expect(existsSync(entry.dir)).toBe(true);
    await cache.release('k1');
    expect(cache.acquire('k1')).toBeUndefined();
    expect(existsSync(entry.dir)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('evicts the least recently used entries once past maxBytes', async () => {
    const cache = new CompileCache(root, 10);
    await cache.store('a', success(), [artifact('f', 'aaaa')]);
    await cache.release('a');
    await cache.store('b', success(), [artifact('f', 'bbbb')]);
    await cache.release('b');
    // `a` is used again: `b` is now the least recently used.
    cache.acquire('a');
    await cache.release('a');
    await cache.store('c', success(), [artifact('f', 'cccc')]);
    await cache.release('c');

    expect(cache.size).toBe(8);
    expect(cache.acquire('b')).toBeUndefined();
    expect(existsSync(join(root, 'b'))).toBe(false);
    expect(cache.acquire('a')?.key).toBe('a');
    expect(cache.acquire('c')?.key).toBe('c');
  });

  it('evicts only as many entries as it must', async () => {
    const cache = new CompileCache(root, 10);
    for (const key of ['a', 'b', 'c']) {
      await cache.store(key, success(), [artifact('f', 'xxx')]);
      await cache.release(key);
    }
    await cache.store('d', success(), [artifact('f', 'xxx')]);
    await cache.release('d');
    expect(cache.size).toBe(9);
    expect(readdirSync(root).sort()).toEqual(['b', 'c', 'd']);
  });

  it('never evicts a pinned entry, even past maxBytes', async () => {
    const cache = new CompileCache(root, 5);
    await cache.store('pinned', success(), [artifact('f', 'pppp')]);
    await cache.store('other', success(), [artifact('f', 'oooo')]);
    await cache.release('other');
    expect(cache.acquire('other')).toBeUndefined();
    expect(existsSync(join(root, 'pinned', 'f'))).toBe(true);
    expect(cache.size).toBe(4);

    // Still over the limit with only pinned entries: nothing goes.
    await cache.store('second', success(), [artifact('f', 'ssss')]);
    await cache.release('missing');
    expect(cache.size).toBe(8);
    expect(existsSync(join(root, 'pinned'))).toBe(true);
    expect(existsSync(join(root, 'second'))).toBe(true);
  });

  it('keeps an entry pinned until every acquire is released', async () => {
    const cache = new CompileCache(root, 0);
    await cache.store('k', success(), [artifact('f', 'x')]);
    cache.acquire('k');
    await cache.release('k');
    expect(existsSync(join(root, 'k'))).toBe(true);
    await cache.release('k');
    expect(existsSync(join(root, 'k'))).toBe(false);
  });

  it('does not let extra releases unpin a later acquire', async () => {
    const cache = new CompileCache(root, 4);
    await cache.store('k', success(), [artifact('f', 'xxxx')]);
    await cache.release('k');
    await cache.release('k');
    cache.acquire('k');
    await cache.store('other', success(), [artifact('f', 'yyyy')]);
    await cache.release('other');
    expect(existsSync(join(root, 'k'))).toBe(true);
    expect(existsSync(join(root, 'other'))).toBe(false);
  });

  it('writes a key once when two jobs store it at the same time, and pins it for both', async () => {
    const cache = new CompileCache(root, 0);
    const [one, two] = await Promise.all([
      cache.store('k', success('one'), [artifact('main', 'first')]),
      cache.store('k', success('two'), [artifact('main', 'second')]),
    ]);
    expect(two).toEqual(one);
    expect(cache.size).toBe('first'.length + 'one'.length);
    expect(readFileSync(join(root, 'k', 'main'), 'utf8')).toBe('first');

    await cache.release('k');
    expect(existsSync(join(root, 'k'))).toBe(true);
    await cache.release('k');
    expect(existsSync(join(root, 'k'))).toBe(false);
  });

  it('lets a new instance load the entries a previous one left', async () => {
    const first = new CompileCache(root, 1024 * 1024);
    const stored = await first.store('k1', success('out'), [artifact('main', 'bin', true)]);
    await first.release('k1');
    await first.store('k2', { ...success(), status: 'compile_error' }, []);
    await first.release('k2');

    const second = new CompileCache(root, 1024 * 1024);
    await second.load();
    expect(second.size).toBe(first.size);
    expect(second.acquire('k1')).toEqual(expect.objectContaining(stored));
    expect(second.acquire('k2')?.status).toBe('compile_error');
  });

  it('removes the broken entries it finds at load', async () => {
    const first = new CompileCache(root, 1024 * 1024);
    await first.store('good', success(), [artifact('main', 'x')]);
    await first.release('good');
    mkdirSync(join(root, 'no-metadata'));
    writeFileSync(join(root, 'no-metadata', 'main'), 'half-written');
    mkdirSync(join(root, 'bad-json'));
    writeFileSync(join(root, 'bad-json', '.compile.json'), '{"status":');
    writeFileSync(join(root, 'stray-file'), 'x');

    const second = new CompileCache(root, 1024 * 1024);
    await second.load();
    expect(readdirSync(root)).toEqual(['good']);
    expect(second.acquire('no-metadata')).toBeUndefined();
    expect(second.acquire('bad-json')).toBeUndefined();
    expect(second.acquire('good')?.key).toBe('good');
    expect(second.size).toBe(1);
  });

  it('evicts at load down to its own maxBytes', async () => {
    const first = new CompileCache(root, 1024 * 1024);
    for (const key of ['a', 'b', 'c']) {
      await first.store(key, success(), [artifact('f', 'xxxx')]);
      await first.release(key);
    }
    const second = new CompileCache(root, 8);
    await second.load();
    expect(second.size).toBe(8);
    expect(readdirSync(root)).toHaveLength(2);
  });

  it('loads nothing, without failing, from a directory that does not exist', async () => {
    const cache = new CompileCache(join(root, 'missing'), 1024);
    await cache.load();
    expect(cache.size).toBe(0);
  });
});
