import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  existsSync,
  lstatSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import {
  ArtifactError,
  globMatcher,
  readArtifacts,
  topLevelEntries,
  writeArtifacts,
  type ArtifactFile,
  type ArtifactLimits,
} from '../../src/artifacts.js';

interface TarEntry {
  header: Partial<tar.Header> & { name: string };
  data?: string | Buffer;
}

/** A tar archive of `entries`, as tar-stream writes it. */
async function archive(entries: readonly TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { header, data } of entries) {
    if (data === undefined) pack.entry(header);
    else pack.entry(header, data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const file = (name: string, data: string | Buffer, mode = 0o644): TarEntry => ({
  header: { name, mode },
  data,
});

const roomy: ArtifactLimits = { maxFiles: 100, maxBytes: 1024 * 1024 };
const all = globMatcher([]);

/** Kept names with their contents, for comparison. */
function summary(files: readonly ArtifactFile[]): { name: string; data: string; executable: boolean }[] {
  return files.map((f) => ({ name: f.name, data: f.data.toString('utf8'), executable: f.executable }));
}

describe('readArtifacts', () => {
  it('keeps regular files with their contents and executable bit', async () => {
    const tarball = await archive([
      { header: { name: './', type: 'directory', mode: 0o755 } },
      file('./main', '\x7fELF', 0o755),
      file('./main.c', 'int main(){}', 0o644),
      file('./run.sh', 'echo', 0o700),
    ]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(summary(files)).toEqual([
      { name: 'main', data: '\x7fELF', executable: true },
      { name: 'main.c', data: 'int main(){}', executable: false },
      { name: 'run.sh', data: 'echo', executable: true },
    ]);
    expect(files[0]?.data).toBeInstanceOf(Buffer);
  });

  it('counts any execute bit (owner, group or other) as executable', async () => {
    const tarball = await archive([file('g', '', 0o610), file('o', '', 0o601), file('none', '', 0o666)]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(files.map((f) => [f.name, f.executable])).toEqual([
      ['g', true],
      ['o', true],
      ['none', false],
    ]);
  });

  it('keeps files in subdirectories under their relative, normalized names', async () => {
    const tarball = await archive([
      { header: { name: './pkg/', type: 'directory' } },
      file('./pkg/Main.class', 'cafebabe'),
      file('pkg/./sub//Other.class', 'x'),
    ]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(files.map((f) => f.name)).toEqual(['pkg/Main.class', 'pkg/sub/Other.class']);
  });

  it('keeps a file whose long name needs a PAX header', async () => {
    const name = `${'d'.repeat(80)}/${'e'.repeat(80)}/file.bin`;
    const files = await readArtifacts(await archive([file(`./${name}`, 'long')]), all, roomy);
    expect(summary(files)).toEqual([{ name, data: 'long', executable: false }]);
  });

  it('drops symlinks, hard links, FIFOs, devices and directories', async () => {
    const tarball = await archive([
      { header: { name: 'link', type: 'symlink', linkname: '/etc/shadow' } },
      { header: { name: 'hard', type: 'link', linkname: 'main' } },
      { header: { name: 'fifo', type: 'fifo' } },
      { header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 } },
      { header: { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 } },
      { header: { name: 'dir', type: 'directory' } },
      file('main', 'kept', 0o755),
    ]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(files.map((f) => f.name)).toEqual(['main']);
  });

  it('drops names that climb out with ".." or are absolute', async () => {
    const tarball = await archive([
      file('../evil', 'x'),
      file('a/../../evil', 'x'),
      file('a/../b', 'x'),
      file('..', 'x'),
      file('/etc/cron.d/evil', 'x'),
      file('//abs', 'x'),
      file('./', 'x'),
      file('ok', 'kept'),
    ]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(files.map((f) => f.name)).toEqual(['ok']);
  });

  it('keeps a name that merely contains dots', async () => {
    const tarball = await archive([file('..hidden', 'a'), file('a..b', 'b'), file('.env', 'c')]);
    const files = await readArtifacts(tarball, all, roomy);
    expect(files.map((f) => f.name)).toEqual(['..hidden', 'a..b', '.env']);
  });

  it('keeps only the files the keep filter accepts, matched on the normalized name', async () => {
    const tarball = await archive([
      file('./Main.java', 'src'),
      file('./Main.class', 'a'),
      file('./Main$Inner.class', 'b'),
      file('./pkg/Util.class', 'c'),
    ]);
    const files = await readArtifacts(tarball, globMatcher(['*.class']), roomy);
    expect(files.map((f) => f.name)).toEqual(['Main.class', 'Main$Inner.class']);
  });

  it('keeps every file with an empty keep list', async () => {
    const tarball = await archive([file('a', '1'), file('b/c', '2')]);
    const files = await readArtifacts(tarball, globMatcher([]), roomy);
    expect(files.map((f) => f.name)).toEqual(['a', 'b/c']);
  });

  it('returns nothing for an empty archive', async () => {
    expect(await readArtifacts(await archive([]), all, roomy)).toEqual([]);
  });

  it('accepts exactly maxFiles files', async () => {
    const tarball = await archive([file('a', '1'), file('b', '2'), file('c', '3')]);
    const files = await readArtifacts(tarball, all, { maxFiles: 3, maxBytes: 100 });
    expect(files).toHaveLength(3);
  });

  it('rejects more than maxFiles files with an ArtifactError naming the limit', async () => {
    const tarball = await archive([file('a', '1'), file('b', '2'), file('c', '3')]);
    const promise = readArtifacts(tarball, all, { maxFiles: 2, maxBytes: 100 });
    await expect(promise).rejects.toBeInstanceOf(ArtifactError);
    await expect(readArtifacts(tarball, all, { maxFiles: 2, maxBytes: 100 })).rejects.toThrow(
      'the compile step left more than 2 files',
    );
  });

  it('counts only kept files against maxFiles', async () => {
    const tarball = await archive([
      file('Main.java', 'x'),
      file('Other.java', 'x'),
      { header: { name: 'link', type: 'symlink', linkname: 'Main.class' } },
      file('Main.class', 'x'),
    ]);
    const files = await readArtifacts(tarball, globMatcher(['*.class']), { maxFiles: 1, maxBytes: 100 });
    expect(files.map((f) => f.name)).toEqual(['Main.class']);
  });

  it('accepts exactly maxBytes bytes', async () => {
    const tarball = await archive([file('a', 'x'.repeat(6)), file('b', 'y'.repeat(4))]);
    const files = await readArtifacts(tarball, all, { maxFiles: 10, maxBytes: 10 });
    expect(files.reduce((sum, f) => sum + f.data.length, 0)).toBe(10);
  });

  it('rejects more than maxBytes bytes in all with an ArtifactError naming the limit', async () => {
    const mib = 1024 * 1024;
    const tarball = await archive([file('a', Buffer.alloc(mib)), file('b', Buffer.alloc(mib + 1))]);
    const promise = readArtifacts(tarball, all, { maxFiles: 10, maxBytes: 2 * mib });
    await expect(promise).rejects.toThrow(ArtifactError);
    await expect(readArtifacts(tarball, all, { maxFiles: 10, maxBytes: 2 * mib })).rejects.toThrow(
      'the compile step left more than 2 MiB of files',
    );
  });

  it('does not count dropped files against maxBytes', async () => {
    const tarball = await archive([file('big.o', 'x'.repeat(1000)), file('main', 'tiny')]);
    const files = await readArtifacts(tarball, globMatcher(['main']), { maxFiles: 10, maxBytes: 10 });
    expect(summary(files)).toEqual([{ name: 'main', data: 'tiny', executable: false }]);
  });

  it('rejects a buffer that is not a tar archive', async () => {
    await expect(readArtifacts(Buffer.from('x'.repeat(1024)), all, roomy)).rejects.toThrow();
  });
});

describe('globMatcher', () => {
  it('matches everything when there are no patterns', () => {
    const match = globMatcher([]);
    expect(match('main')).toBe(true);
    expect(match('deep/dir/file')).toBe(true);
  });

  it('matches a plain name exactly and only whole names', () => {
    const match = globMatcher(['main']);
    expect(match('main')).toBe(true);
    expect(match('main2')).toBe(false);
    expect(match('xmain')).toBe(false);
    expect(match('dir/main')).toBe(false);
  });

  it('lets * match any run of characters but not a slash', () => {
    const match = globMatcher(['*.class']);
    expect(match('Main.class')).toBe(true);
    expect(match('.class')).toBe(true);
    expect(match('Main$Inner.class')).toBe(true);
    expect(match('Main.java')).toBe(false);
    expect(match('pkg/Main.class')).toBe(false);
    expect(match('Main.classes')).toBe(false);
  });

  it('lets ? match exactly one character but not a slash', () => {
    const match = globMatcher(['a?.txt']);
    expect(match('ab.txt')).toBe(true);
    expect(match('a.txt')).toBe(false);
    expect(match('abc.txt')).toBe(false);
    expect(match('a/.txt')).toBe(false);
  });

  it('treats regular-expression characters in patterns literally', () => {
    expect(globMatcher(['*.class'])('Mainxclass')).toBe(false);
    expect(globMatcher(['a+b'])('a+b')).toBe(true);
    expect(globMatcher(['a+b'])('aab')).toBe(false);
    expect(globMatcher(['f[1].txt'])('f[1].txt')).toBe(true);
    expect(globMatcher(['f[1].txt'])('f1.txt')).toBe(false);
    expect(globMatcher(['(x)|y'])('(x)|y')).toBe(true);
    expect(globMatcher(['(x)|y'])('y')).toBe(false);
    expect(globMatcher(['^a$'])('^a$')).toBe(true);
    expect(globMatcher(['a\\b'])('a\\b')).toBe(true);
    expect(globMatcher(['{a,b}'])('a')).toBe(false);
  });

  it('matches directory patterns across their slash', () => {
    const match = globMatcher(['pkg/*.class']);
    expect(match('pkg/Main.class')).toBe(true);
    expect(match('Main.class')).toBe(false);
    expect(match('pkg/sub/Main.class')).toBe(false);
  });

  it('matches a name that any one of several patterns matches', () => {
    const match = globMatcher(['main', '*.so']);
    expect(match('main')).toBe(true);
    expect(match('libx.so')).toBe(true);
    expect(match('main.c')).toBe(false);
  });
});

describe('topLevelEntries', () => {
  it('lists each top-level name once, in order of first appearance', () => {
    expect(topLevelEntries(['main', 'pkg/A.class', 'lib/x/y.so', 'pkg/B.class', 'data.txt'])).toEqual([
      'main',
      'pkg',
      'lib',
      'data.txt',
    ]);
  });

  it('is empty for no files', () => {
    expect(topLevelEntries([])).toEqual([]);
  });
});

describe('writeArtifacts', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'artifacts-test-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const mode = (path: string): number => statSync(path).mode & 0o7777;

  it('writes files, nested ones included, with 0755 or 0644 and their contents', async () => {
    const dir = join(root, 'out', 'entry');
    await writeArtifacts(dir, [
      { name: 'main', data: Buffer.from('bin'), executable: true },
      { name: 'pkg/Main.class', data: Buffer.from('class'), executable: false },
    ]);
    expect(readFileSync(join(dir, 'main'), 'utf8')).toBe('bin');
    expect(readFileSync(join(dir, 'pkg', 'Main.class'), 'utf8')).toBe('class');
    expect(mode(join(dir, 'main'))).toBe(0o755);
    expect(mode(join(dir, 'pkg', 'Main.class'))).toBe(0o644);
    expect(mode(dir)).toBe(0o755);
    expect(mode(join(dir, 'pkg'))).toBe(0o755);
  });

  it('sets the modes whatever the umask', async () => {
    const previous = process.umask(0o077);
    try {
      await writeArtifacts(root, [
        { name: 'x', data: Buffer.from(''), executable: true },
        { name: 'y', data: Buffer.from(''), executable: false },
      ]);
    } finally {
      process.umask(previous);
    }
    expect(mode(join(root, 'x'))).toBe(0o755);
    expect(mode(join(root, 'y'))).toBe(0o644);
  });

  it('opens up an existing directory to 0755', async () => {
    const dir = join(root, 'private');
    mkdirSync(dir, { mode: 0o700 });
    await writeArtifacts(dir, []);
    expect(mode(dir)).toBe(0o755);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes a file under the name of a dropped symlink into a real directory, not through the link', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside);
    const tarball = await archive([
      { header: { name: 'd', type: 'symlink', linkname: outside } },
      file('d/planted', 'x'),
    ]);
    const dir = join(root, 'entry');
    await writeArtifacts(dir, await readArtifacts(tarball, all, roomy));
    expect(lstatSync(join(dir, 'd')).isDirectory()).toBe(true);
    expect(readFileSync(join(dir, 'd', 'planted'), 'utf8')).toBe('x');
    expect(existsSync(join(outside, 'planted'))).toBe(false);
  });
});
