/**
 * Finds the cgroup hierarchies of this host and prepares the engine's parent cgroup: v2 where
 * it has the memory and pids controllers, else v1 (as on hosts in hybrid mode).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirIfMissing, readText } from './fs-util.js';
import { CgroupV1Manager, type V1Mounts } from './v1.js';
import { CgroupV2Manager, prepareV2Parent } from './v2.js';
import type { CgroupManager } from './types.js';

interface CgroupMount {
  type: 'cgroup' | 'cgroup2';
  mountPoint: string;
  options: string[];
}

/** The cgroup mounts listed in a mountinfo file. */
export function parseMountinfo(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const [fsType, , superOptions = ''] = right.split(' ');
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const mountPoint = left.split(' ')[4];
    if (mountPoint === undefined) continue;
    mounts.push({
      type: fsType,
      mountPoint: mountPoint.replace(/\\040/g, ' '),
      options: superOptions.split(','),
    });
  }
  return mounts;
}

export type CgroupDetection = { ok: true; manager: CgroupManager } | { ok: false; problem: string };

async function detectV2(mount: CgroupMount, parentName: string): Promise<CgroupManager | undefined> {
  const controllers = (await readText(join(mount.mountPoint, 'cgroup.controllers')).catch(() => '')).split(
    /\s+/,
  );
  if (!controllers.includes('memory') || !controllers.includes('pids')) return undefined;
  return new CgroupV2Manager(await prepareV2Parent(mount.mountPoint, parentName));
}

function v1Mounts(mounts: readonly CgroupMount[]): V1Mounts | undefined {
  const find = (controller: string): string | undefined =>
    mounts.find((m) => m.type === 'cgroup' && m.options.includes(controller))?.mountPoint;
  const memory = find('memory');
  const pids = find('pids');
  const cpuacct = find('cpuacct');
  return memory && pids && cpuacct ? { memory, pids, cpuacct } : undefined;
}

function explain(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return 'the cgroup hierarchy is not writable: run the worker as root, and in a container mount /sys/fs/cgroup read-write (or delegate a cgroup v2 subtree)';
  }
  return `the engine's cgroup could not be prepared: ${(error as Error).message}`;
}

/**
 * Detects cgroups and creates `<hierarchy>/<parentName>` for the engine's runs.
 * `mountinfoPath` is for tests.
 */
export async function detectCgroups(
  parentName = 'coderunner',
  mountinfoPath = '/proc/self/mountinfo',
): Promise<CgroupDetection> {
  let mounts: CgroupMount[];
  try {
    mounts = parseMountinfo(await readFile(mountinfoPath, 'utf8'));
  } catch (error) {
    return { ok: false, problem: `cannot read ${mountinfoPath}: ${(error as Error).message}` };
  }
  try {
    for (const mount of mounts.filter((m) => m.type === 'cgroup2')) {
      const manager = await detectV2(mount, parentName);
      if (manager) return { ok: true, manager };
    }
    const v1 = v1Mounts(mounts);
    if (v1) {
      await Promise.all(Object.values(v1).map((mount: string) => mkdirIfMissing(join(mount, parentName))));
      return { ok: true, manager: new CgroupV1Manager(v1, parentName) };
    }
  } catch (error) {
    return { ok: false, problem: explain(error) };
  }
  return {
    ok: false,
    problem: 'no cgroup hierarchy with the memory and pids controllers is mounted (neither v2 nor v1)',
  };
}
