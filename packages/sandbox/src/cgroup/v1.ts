/**
 * cgroup v1: one directory per run in each of the memory, pids and cpuacct hierarchies; or, for
 * a lane's sandboxes (made one after another on one uid), the pids and cpuacct ones the lane's:
 * a directory made and removed costs the kernel about 40 µs in each, per run. The CPU counter is
 * reset before each run, and the process limit let go after it (a limit of 1 would bind the next
 * sandbox's set-up). Memory stays per run: a reused memory cgroup keeps 0.5–0.9 MB charged (the
 * kernel's per-CPU charge batches, slab), and the page cache a run reads stays charged to it,
 * against every later run's limit and in its peak.
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

/** A lane's part of its runs' cgroups (see `openInLane`), worked out once per lane. */
interface V1Lane {
  /** The lane's pids and cpuacct directories; none where that hierarchy is mounted with memory. */
  pids: string | undefined;
  cpuacct: string | undefined;
  /** The lane's directories, not its runs' own. */
  dirs: readonly string[];
  /** Their `cgroup.procs` files. */
  procsFiles: readonly string[];
}

class V1RunCgroup implements RunCgroup {
  readonly procsFiles: readonly string[];
  readonly dirs: readonly string[];
  private readonly laneDirs: readonly string[];

  constructor(
    private readonly memory: string,
    private readonly pids: string,
    private readonly cpuacct: string,
    private readonly memsw: boolean,
    /** The memory limit in force, when known (a cgroup this manager just made has none). */
    private memoryLimit?: number,
    /** The lane whose pids and cpuacct directories it shares, if any. */
    lane?: V1Lane,
  ) {
    this.laneDirs = lane?.dirs ?? [];
    if (lane?.pids !== undefined && lane.cpuacct !== undefined) {
      // The usual mounts: only the memory directory is the run's own.
      this.dirs = [memory];
      this.procsFiles = [`${memory}/cgroup.procs`, ...lane.procsFiles];
      return;
    }
    // Distinct directories only: cpuacct may share a hierarchy with another controller.
    const all = [...new Set([memory, pids, cpuacct])];
    this.dirs = all.filter((dir) => !this.laneDirs.includes(dir));
    this.procsFiles = all.map((dir) => `${dir}/cgroup.procs`);
  }

  script(limits: CgroupLimits): CgroupFileScript {
    const memory = String(limits.memoryBytes);
    // A fresh cgroup's memory+swap limit is the highest: memory goes first (see setLimits).
    return {
      writes: [
        [`${this.memory}/memory.limit_in_bytes`, memory],
        ...(this.memsw ? [[`${this.memory}/memory.memsw.limit_in_bytes`, memory] as [string, string]] : []),
        [`${this.pids}/pids.max`, String(limits.pids)],
        [`${this.cpuacct}/cpuacct.usage`, '0'],
        [`${this.memory}/memory.max_usage_in_bytes`, '0'],
      ],
      cpuFile: `${this.cpuacct}/cpuacct.usage`,
      cpuKind: 'n',
      usageFiles: [`${this.memory}/memory.max_usage_in_bytes`, `${this.memory}/memory.oom_control`],
      after: this.laneDirs.includes(this.pids) ? [[`${this.pids}/pids.max`, 'max']] : [],
    };
  }

  usageOf([peak = '', oom = '']: readonly string[], cpuNs: number): CgroupUsage {
    // memory.failcnt is unreliable here (it stays 0 when memsw equals the limit): use oom_kill.
    return { cpuNs, memoryPeakBytes: Number(peak), oomKilled: (keyedValue(oom, 'oom_kill') ?? 0) > 0 };
  }

  async setLimits(limits: CgroupLimits): Promise<void> {
    const memory = `${this.memory}/memory.limit_in_bytes`;
    const memsw = `${this.memory}/memory.memsw.limit_in_bytes`;
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
    await writeControl(`${this.pids}/pids.max`, limits.pids);
  }

  async resetUsage(): Promise<void> {
    await writeControl(`${this.cpuacct}/cpuacct.usage`, 0);
    await writeControl(`${this.memory}/memory.max_usage_in_bytes`, 0);
  }

  async cpuNs(): Promise<number> {
    return Number(await readText(`${this.cpuacct}/cpuacct.usage`));
  }

  async usage(): Promise<CgroupUsage> {
    const [cpuNs, peak, oom] = await Promise.all([
      this.cpuNs(),
      readText(`${this.memory}/memory.max_usage_in_bytes`),
      readText(`${this.memory}/memory.oom_control`),
    ]);
    return this.usageOf([peak, oom], cpuNs);
  }

  async killAll(): Promise<void> {
    await killLoop(`${this.pids}/cgroup.procs`);
    await killLoop(`${this.memory}/cgroup.procs`);
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
  /** The engine's parent directory in each hierarchy. */
  private readonly parents: V1Mounts;
  /** Each lane's part of its runs' cgroups, by the lane's name (a few per engine). */
  private readonly lanes = new Map<string, V1Lane>();

  constructor(
    private readonly mounts: V1Mounts,
    parentName: string,
  ) {
    this.parents = {
      memory: join(mounts.memory, parentName),
      pids: join(mounts.pids, parentName),
      cpuacct: join(mounts.cpuacct, parentName),
    };
    this.location = [this.parents.memory, this.parents.pids, this.parents.cpuacct].join(', ');
  }

  /** A cgroup's directory: its names are the engine's own (`runName`), a single plain segment. */
  private dir(hierarchy: keyof V1Mounts, name: string): string {
    return `${this.parents[hierarchy]}/${name}`;
  }

  /** Whether swap is accounted (memory.memsw.* exist: the hierarchy's root shows it too). */
  private memsw(): boolean {
    this.memswChecked ??= existsSync(join(this.mounts.memory, 'memory.memsw.limit_in_bytes'));
    return this.memswChecked;
  }

  /** Names of the cgroups in any of the three hierarchies (a lane's have no memory one). */
  async existing(): Promise<string[]> {
    const names = new Set<string>();
    for (const parent of new Set([this.parents.memory, this.parents.pids, this.parents.cpuacct])) {
      const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
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

  /** The hierarchies a lane's cgroup serves: those not mounted with memory (which stays per run). */
  private get laneHierarchies(): ('pids' | 'cpuacct')[] {
    return (['pids', 'cpuacct'] as const).filter((h) => this.mounts[h] !== this.mounts.memory);
  }

  openInLane(name: string, lane: string): RunCgroup {
    const shared = this.laneOf(lane);
    return new V1RunCgroup(
      this.dir('memory', name),
      shared.pids ?? this.dir('pids', name),
      shared.cpuacct ?? this.dir('cpuacct', name),
      this.memsw(),
      undefined,
      shared,
    );
  }

  private laneOf(lane: string): V1Lane {
    let shared = this.lanes.get(lane);
    if (!shared) {
      const hierarchies = this.laneHierarchies;
      const inLane = (h: 'pids' | 'cpuacct'): string | undefined =>
        hierarchies.includes(h) ? this.dir(h, lane) : undefined;
      const dirs = hierarchies.map((h) => this.dir(h, lane));
      shared = {
        pids: inLane('pids'),
        cpuacct: inLane('cpuacct'),
        dirs,
        procsFiles: [...new Set(dirs)].map((dir) => `${dir}/cgroup.procs`),
      };
      this.lanes.set(lane, shared);
    }
    return shared;
  }

  async ensureLane(lane: string): Promise<void> {
    await Promise.all(this.laneOf(lane).dirs.map((dir) => mkdirIfMissing(dir)));
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
