/** cgroup v2: one directory per run under the engine's parent, with memory and pids enabled. */
import { existsSync } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  keyedValue,
  killLoop,
  mkdirIfMissing,
  procsOf,
  readText,
  removeDir,
  writeControl,
} from './fs-util.js';
import type { CgroupFileScript, CgroupLimits, CgroupManager, CgroupUsage, RunCgroup } from './types.js';

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Which of the optional control files a run cgroup has (the same for every one of a parent). */
interface V2Files {
  swapMax: boolean;
  oomGroup: boolean;
  /** memory.peak, from Linux 5.19; before that, memory.current. */
  peak: 'memory.peak' | 'memory.current';
}

class V2RunCgroup implements RunCgroup {
  readonly procsFiles: readonly string[];
  readonly dirs: readonly string[];
  /** CPU time at the last `resetUsage` (cpu.stat cannot be reset). */
  private cpuBaseNs = 0;

  constructor(
    private readonly dir: string,
    private readonly files: () => V2Files,
  ) {
    this.procsFiles = [`${dir}/cgroup.procs`];
    this.dirs = [dir];
  }

  script(limits: CgroupLimits): CgroupFileScript {
    const { swapMax, oomGroup, peak } = this.files();
    // The helper counts CPU time from the run's start itself (cpu.stat cannot be reset).
    return {
      writes: [
        [`${this.dir}/memory.max`, String(limits.memoryBytes)],
        ...(swapMax ? [[`${this.dir}/memory.swap.max`, '0'] as [string, string]] : []),
        ...(oomGroup ? [[`${this.dir}/memory.oom.group`, '1'] as [string, string]] : []),
        [`${this.dir}/pids.max`, String(limits.pids)],
      ],
      cpuFile: `${this.dir}/cpu.stat`,
      cpuKind: 'u',
      usageFiles: [`${this.dir}/${peak}`, `${this.dir}/memory.events`],
      after: [],
    };
  }

  usageOf([peak = '', events = '']: readonly string[], cpuNs: number): CgroupUsage {
    return { cpuNs, memoryPeakBytes: Number(peak), oomKilled: (keyedValue(events, 'oom_kill') ?? 0) > 0 };
  }

  async setLimits(limits: CgroupLimits): Promise<void> {
    await writeControl(`${this.dir}/memory.max`, limits.memoryBytes);
    const swap = `${this.dir}/memory.swap.max`;
    if (await exists(swap)) await writeControl(swap, 0);
    // Kill the whole group on OOM, as v1 effectively does for a single process.
    await writeControl(`${this.dir}/memory.oom.group`, 1).catch(() => undefined);
    await writeControl(`${this.dir}/pids.max`, limits.pids);
  }

  async resetUsage(): Promise<void> {
    this.cpuBaseNs = await this.totalCpuNs();
    // memory.peak resets only for the file descriptor that writes it (Linux 6.12): the peak
    // keeps the sandbox's own set-up, a few hundred KB.
  }

  private async totalCpuNs(): Promise<number> {
    return (keyedValue(await readText(`${this.dir}/cpu.stat`), 'usage_usec') ?? 0) * 1000;
  }

  async cpuNs(): Promise<number> {
    return (await this.totalCpuNs()) - this.cpuBaseNs;
  }

  async usage(): Promise<CgroupUsage> {
    const [cpuNs, events] = await Promise.all([this.cpuNs(), readText(`${this.dir}/memory.events`)]);
    // memory.peak exists from Linux 5.19; before that the current usage is the best there is.
    const peak = await readText(join(this.dir, this.files().peak));
    return this.usageOf([peak, events], cpuNs);
  }

  async killAll(): Promise<void> {
    const kill = `${this.dir}/cgroup.kill`;
    if (await exists(kill)) await writeControl(kill, 1);
    await killLoop(`${this.dir}/cgroup.procs`);
  }

  async remove(): Promise<void> {
    await removeDir(this.dir);
  }
}

/**
 * Makes `<root>/<parentName>` a parent for run cgroups with the memory and pids controllers.
 * A non-root cgroup with processes cannot hand controllers to its children (the "no internal
 * processes" rule), so when enabling them at `root` is refused, the processes in `root` — the
 * worker itself, in a container — are first moved to a leaf `<root>/init`.
 */
export async function prepareV2Parent(root: string, parentName: string): Promise<string> {
  const enable = (dir: string): Promise<void> =>
    writeControl(`${dir}/cgroup.subtree_control`, '+memory +pids');
  try {
    await enable(root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
    const leaf = join(root, 'init');
    await mkdirIfMissing(leaf);
    for (const pid of await procsOf(join(root, 'cgroup.procs'))) {
      await writeControl(join(leaf, 'cgroup.procs'), pid).catch(() => undefined);
    }
    await enable(root);
  }
  const parent = join(root, parentName);
  await mkdirIfMissing(parent);
  await enable(parent);
  return parent;
}

export class CgroupV2Manager implements CgroupManager {
  readonly version = 2;
  private files: V2Files | undefined;

  constructor(readonly location: string) {}

  /** The optional files, as the parent shows them (it has the same controllers enabled). */
  private readonly filesOf = (): V2Files => {
    const has = (name: string): boolean => existsSync(join(this.location, name));
    this.files ??= {
      swapMax: has('memory.swap.max'),
      oomGroup: has('memory.oom.group'),
      peak: has('memory.peak') ? 'memory.peak' : 'memory.current',
    };
    return this.files;
  };

  async existing(): Promise<string[]> {
    const entries = await readdir(this.location, { withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  open(name: string): RunCgroup {
    return new V2RunCgroup(join(this.location, name), this.filesOf);
  }

  /** One directory holds every controller: a run's cgroup is all its own. */
  openInLane(name: string): RunCgroup {
    return this.open(name);
  }

  async ensureLane(): Promise<void> {}

  async create(name: string, limits?: CgroupLimits): Promise<RunCgroup> {
    const dir = join(this.location, name);
    await mkdirIfMissing(dir);
    const cgroup = new V2RunCgroup(dir, this.filesOf);
    try {
      if (limits) await cgroup.setLimits(limits);
    } catch (error) {
      await cgroup.remove().catch(() => undefined);
      throw error;
    }
    return cgroup;
  }
}
