/** cgroup v1: one directory per run in each of the memory, pids and cpuacct hierarchies. */
import { join } from 'node:path';
import { access, readdir } from 'node:fs/promises';
import { keyedValue, killLoop, mkdirIfMissing, readText, removeDir, writeControl } from './fs-util.js';
import type { CgroupLimits, CgroupManager, CgroupUsage, RunCgroup } from './types.js';

/** Mount points of the v1 hierarchies the engine uses. */
export interface V1Mounts {
  memory: string;
  pids: string;
  cpuacct: string;
}

class V1RunCgroup implements RunCgroup {
  readonly procsFiles: readonly string[];

  constructor(
    private readonly memory: string,
    private readonly pids: string,
    private readonly cpuacct: string,
  ) {
    // Distinct directories only: cpuacct may share a hierarchy with another controller.
    this.procsFiles = [...new Set([memory, pids, cpuacct])].map((dir) => join(dir, 'cgroup.procs'));
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
    // memory.failcnt is unreliable here (it stays 0 when memsw equals the limit): use oom_kill.
    return { cpuNs, memoryPeakBytes: Number(peak), oomKilled: (keyedValue(oom, 'oom_kill') ?? 0) > 0 };
  }

  async killAll(): Promise<void> {
    await killLoop(join(this.pids, 'cgroup.procs'));
    await killLoop(join(this.memory, 'cgroup.procs'));
  }

  async remove(): Promise<void> {
    await Promise.all([...new Set([this.memory, this.pids, this.cpuacct])].map((dir) => removeDir(dir)));
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

  private async hasMemsw(dir: string): Promise<boolean> {
    this.memswChecked ??= await access(join(dir, 'memory.memsw.limit_in_bytes')).then(
      () => true,
      () => false,
    );
    return this.memswChecked;
  }

  async existing(): Promise<string[]> {
    const entries = await readdir(join(this.mounts.memory, this.parentName), { withFileTypes: true }).catch(
      () => [],
    );
    return entries.filter((e) => e.isDirectory()).map((e) => e.name);
  }

  open(name: string): RunCgroup {
    return new V1RunCgroup(this.dir('memory', name), this.dir('pids', name), this.dir('cpuacct', name));
  }

  async create(name: string, limits: CgroupLimits): Promise<RunCgroup> {
    const memory = this.dir('memory', name);
    const pids = this.dir('pids', name);
    const cpuacct = this.dir('cpuacct', name);
    await Promise.all([mkdirIfMissing(memory), mkdirIfMissing(pids), mkdirIfMissing(cpuacct)]);
    const cgroup = new V1RunCgroup(memory, pids, cpuacct);
    try {
      await writeControl(join(memory, 'memory.limit_in_bytes'), limits.memoryBytes);
      // Swap off: memory+swap may not exceed memory alone.
      if (await this.hasMemsw(memory)) {
        await writeControl(join(memory, 'memory.memsw.limit_in_bytes'), limits.memoryBytes);
      }
      await writeControl(join(pids, 'pids.max'), limits.pids);
    } catch (error) {
      await cgroup.remove().catch(() => undefined);
      throw error;
    }
    return cgroup;
  }
}
