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

/**
 * The files the spawn helper reads and writes for a run in a sandbox it holds (`Spawner.hold`),
 * instead of this process.
 */
export interface CgroupFileScript {
  /** Control files and their values, written in this order before the run: limits, then resets. */
  writes: [path: string, value: string][];
  /** The cgroup's CPU time: `n`, the file is nanoseconds; `u`, its `usage_usec` line. */
  cpuFile: string;
  cpuKind: 'n' | 'u';
  /** Read once the run has ended, for `usageOf`. */
  usageFiles: string[];
  /** Written once the run has ended (or its writes failed): a lane's limits let go for its next sandbox. */
  after: [path: string, value: string][];
}

/** One run's cgroup (in every hierarchy that serves it, under cgroup v1). */
export interface RunCgroup {
  /** Files a process writes its pid into to join the cgroup. */
  readonly procsFiles: readonly string[];
  /** Its directories (one per v1 hierarchy), for a helper that makes and removes them. */
  readonly dirs: readonly string[];
  /** How a helper sets a fresh cgroup's limits, resets its counters and measures the run. */
  script(limits: CgroupLimits): CgroupFileScript;
  /** The usage from the texts of the script's `usageFiles` and the run's CPU time. */
  usageOf(texts: readonly string[], cpuNs: number): CgroupUsage;
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
  /**
   * A run cgroup for a sandbox of a lane, which has one sandbox at a time: what needs no fresh
   * directory per run lives in the lane's long-lived cgroup `lane` (made by `ensureLane`, removed
   * like a run cgroup of that name) — under cgroup v1 the CPU time (its counter reset before each
   * run) and the process limit (let go after each run, see `CgroupFileScript.after`). Its `dirs`
   * are the run's own only. A single cgroup v2 directory is the run's own.
   */
  openInLane(name: string, lane: string): RunCgroup;
  /** Makes the lane's long-lived directories, unless they exist. */
  ensureLane(lane: string): Promise<void>;
}
