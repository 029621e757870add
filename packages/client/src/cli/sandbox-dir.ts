/**
 * The sandbox dir of `coderunner dev`. bubblewrap runs as each slot's own unprivileged uid, so
 * every directory above the sandbox dir must be searchable by other users (mode o+x); a home
 * directory such as /root (0700) is not, so a checkout there gets a sandbox dir under the
 * system's temp dir instead.
 */
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** The first directory above `dir` that other users cannot search, if any. */
export function unsearchableParent(dir: string): string | undefined {
  const parents: string[] = [];
  for (let current = dirname(resolve(dir)); ; current = dirname(current)) {
    parents.unshift(current);
    if (dirname(current) === current) break;
  }
  for (const parent of parents) {
    let mode: number;
    try {
      mode = statSync(parent).mode;
    } catch {
      return undefined; // not there yet: created with mode 0755
    }
    if ((mode & 0o001) === 0) return parent;
  }
  return undefined;
}

/** The sandbox dir to use: `wanted`, or one under the temp dir when a parent is not searchable. */
export function usableSandboxDir(wanted: string): { dir: string; blockedBy?: string } {
  const blockedBy = unsearchableParent(wanted);
  return blockedBy ? { dir: join(tmpdir(), 'coderunner-dev-sandbox'), blockedBy } : { dir: wanted };
}
