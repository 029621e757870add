/**
 * cgroup v1: one directory per run in each of the memory, pids and cpuacct hierarchies; or, for
 * a lane's sandboxes, the cpuacct one the lane's (a directory made and removed costs the kernel
 * about 40 µs there, per run; the CPU counter is reset per run). Memory (whose peak must start
 * from nothing) and pids (whose limit would bind the next sandbox's set-up) stay per run.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { keyedValue, killLoop, mkdirIfMissing, readText, removeDir, writeControl } from './fs-util.js';
import type { CgroupFileScript, CgroupLimits, CgroupManager, CgroupUsage, RunCgroup } from './types.js';

/** Mount points of the v1 hierarchies the engine uses. */
export interface V1Mounts {
  memory: string;
  pids: string;
  cpuacct: string;
}

class V1RunCgroup implements RunCgroup {
  readonly procsFiles: readonly string[];
  readonly dirs: readonly string[];

  constructor(
    private readonly memory: string,
    private readonly pids: string,
    private readonly cpuacct: string,
    private readonly memsw: boolean,
    /** The memory limit in force, when known (a cgroup this manager just made has none). */
    private memoryLimit?: number,
    /** The cpuacct directory is a lane's (see `openInLane`), not the run's own. */
    laneCpuacct = false,
  ) {
    // Distinct directories only: cpuacct may share a hierarchy with another controller.
    const all = [...new Set([memory, pids, cpuacct])];
    this.dirs = laneCpuacct ? all.filter((dir) => dir !== cpuacct) : all;
    this.procsFiles = all.map((dir) => join(dir, 'cgroup.procs'));
  }

  script(limits: CgroupLimits): CgroupFileScript {
    const memory = String(limits.memoryBytes);
    // A fresh cgroup's memory+swap limit is the highest: memory goes first (see setLimits).
    return {
      writes: [
        [join(this.memory, 'memory.limit_in_bytes'), memory],
        ...(this.memsw
          ? [[join(this.memory, 'memory.memsw.limit_in_bytes'), memory] as [string, string]]
          : []),
        [join(this.pids, 'pids.max'), String(limits.pids)],
        [join(this.cpuacct, 'cpuacct.usage'), '0'],
        [join(this.memory, 'memory.max_usage_in_bytes'), '0'],
      ],
      cpuFile: join(this.cpuacct, 'cpuacct.usage'),
      cpuKind: 'n',
      usageFiles: [join(this.memory, 'memory.max_usage_in_bytes'), join(this.memory, 'memory.oom_control')],
    };
  }

  usageOf([peak = '', oom = '']: readonly string[], cpuNs: number): CgroupUsage {
    // memory.failcnt is unreliable here (it stays 0 when memsw equals the limit): use oom_kill.
    return { cpuNs, memoryPeakBytes: Number(peak), oomKilled: (keyedValue(oom, 'oom_kill') ?? 0) > 0 };
  }

  async setLimits(limits: CgroupLimits): Promise<void> {
    const memory = join(this.memory, 'memory.limit_in_bytes');
    const memsw = join(this.memory, 'memory.memsw.limit_in_bytes');
    if (!this.memsw) await writeControl(memory, limits.memoryBytes);
    else {
      // Swap off: memory+swap equals memory. The kernel wants memory ≤ memory+swap at every
      // step, so the order of the two writes depends on whether the limit goes up or down.
      this.memoryLimit ??= Number(await readText(memory));
      const raising = limits.memoryBytes > this.memoryLimit;
      for (const file of raising ? [memsw, memory] : [memory, memsw])
        await writeControl(file, limits.memoryBytes);
    }
    this.memoryLimit = limits.memoryBytes;
    await writeControl(join(this.pids, 'pids.max'), limits.pids);
  }

  async resetUsage(): Promise<void> {
    await writeControl(join(this.cpuacct, 'cpuacct.usage'), 0);
    await writeControl(join(this.memory, 'memory.max_usage_in_bytes'), 0);
  }

  async cpuNs(): Promise<number> {
    return Number(await readText(join(this.cpuacct, 'cpuacct.usage')));
  }

  async usage(): Promise<CgroupUsage> {
    const [cpuNs, peak, oom] = await Promise.all([
      this.cpuNs(),
      readText(join(this.memory, 'memory.max_usage_in_bytes')),
      readText(join(this.memory, 'memory.oom_control')),
    ]);
    return this.usageOf([peak, oom], cpuNs);
  }

  async killAll(): Promise<void> {
    await killLoop(join(this.pids, 'cgroup.procs'));
    await killLoop(join(this.memory, 'cgroup.procs'));
  }

  /** Removes the run's own directories (a lane's stay). */
  async remove(): Promise<void> {
    await Promise.all(this.dirs.map((dir) => removeDir(dir)));
  }
}

export class CgroupV1Manager implements CgroupManager {
  readonly version = 1;
  readonly location: string;
  private memswChecked: boolean | undefined;

  constructor(
    private readonly mounts: V1Mounts,
    private readonly parentName: string,
  ) {
    this.location = [mounts.memory, mounts.pids, mounts.cpuacct]
      .map((mount) => join(mount, parentName))
      .join(', ');
  }

  private dir(hierarchy: keyof V1Mounts, name: string): string {
    return join(this.mounts[hierarchy], this.parentName, name);
  }

  /** Whether swap is accounted (memory.memsw.* exist: the hierarchy's root shows it too). */
  private memsw(): boolean {
    this.memswChecked ??= existsSync(join(this.mounts.memory, 'memory.memsw.limit_in_bytes'));
    return this.memswChecked;
  }

  /** Names of the cgroups in any of the three hierarchies (a lane's have no memory one). */
  async existing(): Promise<string[]> {
    const names = new Set<string>();
    for (const mount of new Set([this.mounts.memory, this.mounts.pids, this.mounts.cpuacct])) {
      const entries = await readdir(join(mount, this.parentName), { withFileTypes: true }).catch(() => []);
      for (const entry of entries) if (entry.isDirectory()) names.add(entry.name);
    }
    return [...names];
  }

  open(name: string): RunCgroup {
    return new V1RunCgroup(
      this.dir('memory', name),
      this.dir('pids', name),
      this.dir('cpuacct', name),
      this.memsw(),
    );
  }

  /** Whether cpuacct has a hierarchy of its own (not mounted with memory or pids). */
  private get cpuacctApart(): boolean {
    return this.mounts.cpuacct !== this.mounts.memory && this.mounts.cpuacct !== this.mounts.pids;
  }

  openInLane(name: string, lane: string): RunCgroup {
    if (!this.cpuacctApart) return this.open(name);
    const cpuacct = this.dir('cpuacct', lane);
    return new V1RunCgroup(
      this.dir('memory', name),
      this.dir('pids', name),
      cpuacct,
      this.memsw(),
      undefined,
      true,
    );
  }

  async ensureLane(lane: string): Promise<void> {
    if (this.cpuacctApart) await mkdirIfMissing(this.dir('cpuacct', lane));
  }

  async create(name: string, limits?: CgroupLimits): Promise<RunCgroup> {
    const memory = this.dir('memory', name);
    const pids = this.dir('pids', name);
    const cpuacct = this.dir('cpuacct', name);
    const [fresh] = await Promise.all([
      mkdirIfMissing(memory),
      mkdirIfMissing(pids),
      mkdirIfMissing(cpuacct),
    ]);
    // A cgroup just made has no memory limit; one left behind may have any.
    const cgroup = new V1RunCgroup(memory, pids, cpuacct, this.memsw(), fresh ? Infinity : undefined);
    try {
      if (limits) await cgroup.setLimits(limits);
    } catch (error) {
      await cgroup.remove().catch(() => undefined);
      throw error;
    }
    return cgroup;
  }
}
