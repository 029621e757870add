/**
 * The read-only system every sandbox sees: the host's /usr (and the top-level links or dirs
 * into it), an /etc and a /dev of the engine's own, made once when it starts.
 *
 * bubblewrap re-reads the mount table for every bind it makes, so each bind costs more than the
 * last: one /etc and one /dev in place of a bind per file halves its set-up work. The /etc is a
 * snapshot of what programs and toolchains read there — the dynamic linker's cache and
 * configuration, the alternatives links, the time zone, each toolchain's own config dir (its
 * `roBinds` under /etc) — plus a passwd and group naming only the sandbox user. The /dev holds
 * the usual character devices (the host's own nodes, copied) and the /proc/self/fd links. The
 * /etc also carries the stub that sandboxes made ahead wait in (warm.ts), so that it needs no
 * bind of its own.
 */
import { execFile } from 'node:child_process';
import {
  chmod,
  copyFile,
  cp,
  lstat,
  mkdir,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SANDBOX_UID } from './isolation.js';

const run = promisify(execFile);

/** Where the build puts the stub (`pnpm build` compiles it next to the compiled modules). */
export const STUB_PATH = fileURLToPath(new URL('../dist/coderunner-stub', import.meta.url));
/** Where sandboxes see the stub. */
export const SANDBOX_STUB_PATH = '/etc/coderunner/stub';

/** What of the host's /etc the sandbox gets, besides the toolchains' own dirs. */
const ETC_ENTRIES = ['alternatives', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'localtime'];
/** The devices of the sandbox's /dev, as bubblewrap's `--dev` has them. */
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_LINKS: Record<string, string> = {
  fd: '/proc/self/fd',
  stdin: '/proc/self/fd/0',
  stdout: '/proc/self/fd/1',
  stderr: '/proc/self/fd/2',
};

async function kind(path: string): Promise<'dir' | 'file' | 'symlink' | 'char' | undefined> {
  try {
    const stat = await lstat(path);
    if (stat.isSymbolicLink()) return 'symlink';
    if (stat.isCharacterDevice()) return 'char';
    return stat.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

/** Where the view of an engine lives under its base dir. */
export function viewDirs(baseDir: string): { etc: string; dev: string } {
  return { etc: join(baseDir, 'etc'), dev: join(baseDir, 'dev') };
}

/**
 * Makes (or remakes) the /etc and /dev under the base dir. `etcPaths`: the toolchains' extra
 * paths; those under /etc are copied in (the rest are bound per run).
 */
export async function buildSystemView(baseDir: string, etcPaths: readonly string[]): Promise<void> {
  const { etc, dev } = viewDirs(baseDir);
  await mkdir(etc, { recursive: true, mode: 0o755 });
  await writeFile(
    join(etc, 'passwd'),
    `runner:x:${SANDBOX_UID}:${SANDBOX_UID}:runner:/tmp:/usr/sbin/nologin\n`,
    { mode: 0o644 },
  );
  await writeFile(join(etc, 'group'), `runner:x:${SANDBOX_UID}:\n`, { mode: 0o644 });
  // A fresh copy renamed into place: a sandbox may be executing the one there now.
  await mkdir(join(etc, 'coderunner'), { recursive: true, mode: 0o755 });
  const stub = join(etc, SANDBOX_STUB_PATH.slice('/etc/'.length));
  await copyFile(STUB_PATH, `${stub}.new`);
  await chmod(`${stub}.new`, 0o755);
  await rename(`${stub}.new`, stub);
  const names = [...ETC_ENTRIES, ...etcPaths.filter((p) => p.startsWith('/etc/')).map((p) => p.slice(5))];
  for (const name of new Set(names)) {
    const target = join(etc, name);
    // What the host no longer has goes too; links stay links (their targets are in /usr).
    await rm(target, { recursive: true, force: true });
    if ((await kind(`/etc/${name}`)) === undefined) continue;
    await mkdir(join(target, '..'), { recursive: true, mode: 0o755 });
    await cp(`/etc/${name}`, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  }

  await mkdir(join(dev, 'shm'), { recursive: true, mode: 0o755 });
  for (const device of DEVICES) {
    const target = join(dev, device);
    if ((await kind(target)) !== 'char') {
      if ((await kind(`/dev/${device}`)) !== 'char') continue;
      await rm(target, { force: true });
      // Node cannot make a device node; cp can copy one (as root).
      await run('cp', ['-a', `/dev/${device}`, target]);
    }
    // Readable and writable by the sandbox user, as in bubblewrap's --dev, whatever the host's
    // node allows.
    await chmod(target, 0o666);
  }
  for (const [name, target] of Object.entries(DEV_LINKS)) {
    const path = join(dev, name);
    if ((await kind(path)) === 'symlink' && (await readlink(path)) === target) continue;
    await rm(path, { force: true, recursive: true });
    await symlink(target, path);
  }
}

/**
 * The bubblewrap arguments of the view: /usr and the top-level dirs as the host has them
 * (symlinks where it has merged /usr), then the engine's /etc and /dev. A fresh /dev/shm and
 * /proc are per run (`bwrapArgv`).
 */
export async function systemView(baseDir: string): Promise<string[]> {
  const { etc, dev } = viewDirs(baseDir);
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const path = `/${name}`;
    const found = await kind(path);
    if (found === 'symlink') args.push('--symlink', await readlink(path), path);
    else if (found === 'dir') args.push('--ro-bind', path, path);
  }
  // The /dev dir is root's, mode 755: the sandbox can use its devices and change nothing.
  args.push('--ro-bind', etc, '/etc', '--dev-bind', dev, '/dev');
  return args;
}
