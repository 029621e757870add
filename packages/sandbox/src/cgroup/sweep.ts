/**
 * Cleans up after engines that died without cleaning up (a worker killed with SIGKILL): run
 * cgroups named after a process that no longer exists are emptied (every process in them
 * killed) and removed. Run cgroups are named `s<slot>-<pid>-<n>` by the executor (`w…` for
 * sandboxes made ahead, `b…` for base sandboxes, `l…` for lanes).
 */
import type { CgroupManager } from './types.js';

const RUN_NAME = /^[swbl]\d+-(\d+)-\d+$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the run cgroups of dead processes; returns their names. */
export async function sweepStaleRuns(manager: CgroupManager): Promise<string[]> {
  const swept: string[] = [];
  for (const name of await manager.existing()) {
    const owner = Number(RUN_NAME.exec(name)?.[1]);
    if (!owner || owner === process.pid || alive(owner)) continue;
    const cgroup = manager.open(name);
    try {
      await cgroup.killAll();
      await cgroup.remove();
      swept.push(name);
    } catch {
      // Leave it for the next start.
    }
  }
  return swept;
}
