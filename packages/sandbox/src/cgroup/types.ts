/** What a run's cgroup enforces. */
export interface CgroupLimits {
  /** Memory limit; swap is always off. */
  memoryBytes: number;
  /** Processes and threads. */
  pids: number;
}

/** What the kernel measured for a run's cgroup. */
export interface CgroupUsage {
  /** CPU time (user + system) of every process that was in the cgroup. */
  cpuNs: number;
  /** Peak memory charged to the cgroup (pages of processes, tmpfs files, page cache). */
  memoryPeakBytes: number;
  /** The kernel's OOM killer killed a process of the cgroup. */
  oomKilled: boolean;
}

/** One run's cgroup (in every hierarchy that serves it, under cgroup v1). */
export interface RunCgroup {
  /** Files a process writes its pid into to join the cgroup. */
  readonly procsFiles: readonly string[];
  /** Sets (or changes) the limits. */
  setLimits(limits: CgroupLimits): Promise<void>;
  /**
   * Starts the measurements afresh: CPU time and peak memory from now on (for a sandbox that
   * was set up before its program was given to it).
   */
  resetUsage(): Promise<void>;
  /** CPU time so far, for enforcing the limit while the run goes on. */
  cpuNs(): Promise<number>;
  usage(): Promise<CgroupUsage>;
  /** Kills every process in the cgroup and waits until it is empty. */
  killAll(): Promise<void>;
  /** Removes the cgroup; call after `killAll`. */
  remove(): Promise<void>;
}

/** Creates run cgroups under the engine's own parent cgroup. */
export interface CgroupManager {
  readonly version: 1 | 2;
  /** Where the run cgroups are made, for `doctor`. */
  readonly location: string;
  /** A new run cgroup; without limits until `setLimits`, when none are given. */
  create(name: string, limits?: CgroupLimits): Promise<RunCgroup>;
  /** The run cgroups that exist now, by name. */
  existing(): Promise<string[]>;
  /** A handle on an existing run cgroup (to clean up after a process that died). */
  open(name: string): RunCgroup;
}
