/**
 * One long-lived sandbox per slot uid (lane), started by bubblewrap like any other, whose
 * namespaces the sandboxes made ahead are made from: the spawn helper enters its user, mount,
 * uts and network namespaces and makes a fresh mount, pid, ipc and cgroup namespace with fresh
 * tmpfs mounts for each run (`enter` in spawner.ts). Starting bubblewrap — a new user namespace,
 * its mounts, two more programs — was most of what a run cost the machine; entering namespaces
 * that exist costs a fraction of it. A base runs no program of anyone's: its stub waits for a
 * program that never comes, and a run cannot see it (its pid namespace is the run's own).
 */
import { readFileSync } from 'node:fs';
import type { CgroupManager, RunCgroup } from './cgroup/types.js';
import type { BwrapIsolation } from './isolation.js';
import { spawnHost, type Spawned } from './launcher.js';
import type { Spawner } from './spawner.js';
import { SANDBOX_STUB_PATH } from './system-view.js';

/** How long a base may take to start (ms). */
const START_TIMEOUT_MS = 5000;

export interface BaseSpec {
  /** Every toolchain's extra read-only paths. */
  roBinds: readonly string[];
}

/** Why a base could not be started. */
export class BaseUnavailable extends Error {
  override name = 'BaseUnavailable';
}

/** A running base: the host pid of a process inside it, and when that process started. */
export interface BaseProcess {
  pid: number;
  /** Field 22 of its `/proc/<pid>/stat`: with the pid, it names the process even after pid reuse. */
  startTime: number;
}

interface Base extends BaseProcess {
  spawned: Spawned;
  cgroup: RunCgroup;
}

/** When a process started (clock ticks after boot), or undefined when it is gone. */
export function startTimeOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const value = Number(fields[19]);
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** An empty message: the stub answers `C` once it runs, i.e. once bubblewrap's set-up is done. */
const EMPTY_CREATE = Buffer.from('\0');

/** Waits for the stub's `C` on standard output. */
function stubAnswer(spawned: Spawned): Promise<void> {
  const { child } = spawned;
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void =>
      done(chunk.toString() === 'C' ? undefined : new BaseUnavailable('the base sandbox answered oddly'));
    const onExit = (): void => done(new BaseUnavailable('the base sandbox ended as it started'));
    const timer = setTimeout(
      () => done(new BaseUnavailable('the base sandbox did not start')),
      START_TIMEOUT_MS,
    );
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

export class BaseSandboxes {
  /** By `slot/lane`: the running (or starting) base. */
  private readonly bases = new Map<string, Promise<Base>>();
  private closed = false;

  constructor(
    private readonly spec: BaseSpec,
    private readonly isolation: BwrapIsolation,
    private readonly spawner: Spawner,
    private readonly cgroups: CgroupManager,
    /** A fresh cgroup name for a slot's base. */
    private readonly cgroupName: (slot: number) => string,
  ) {}

  /** A process inside the lane's base, started now if none runs. */
  async process(slot: number, lane: 0 | 1): Promise<BaseProcess> {
    if (this.closed) throw new BaseUnavailable('the engine is closing');
    const key = `${slot}/${lane}`;
    let base = this.bases.get(key);
    if (!base) {
      base = this.start(slot, lane);
      this.bases.set(key, base);
      const forget = (): void => {
        if (this.bases.get(key) === base) this.bases.delete(key);
      };
      // A base that ended (or never started) is started again by the next run that needs it.
      base.then((b) => {
        const ended = (): void => {
          forget();
          void stop(b);
        };
        const { child } = b.spawned;
        if (child.exitCode !== null || child.signalCode !== null) ended();
        else child.once('exit', ended);
      }, forget);
    }
    const { pid, startTime } = await base;
    return { pid, startTime };
  }

  private async start(slot: number, lane: 0 | 1): Promise<Base> {
    // A cgroup of its own: its memory is counted, and nothing of it outlives it.
    const cgroup = await this.cgroups.create(this.cgroupName(slot));
    const prepared = await this.isolation.prepare({
      slot,
      lane,
      command: [SANDBOX_STUB_PATH],
      env: {},
      files: [],
      roBinds: this.spec.roBinds,
      // Each run mounts its own over these.
      workDirBytes: 4096,
      tmpBytes: 4096,
    });
    const spawned = spawnHost(this.spawner, { ...prepared, stackKb: 'unlimited', cgroup }, true);
    try {
      const pid = await spawned.childPid;
      if (pid === undefined) throw new BaseUnavailable('the base sandbox did not start');
      (spawned.child.stdio[4] as NodeJS.WritableStream | null)?.write(EMPTY_CREATE);
      await stubAnswer(spawned);
      const startTime = startTimeOf(pid);
      if (startTime === undefined) throw new BaseUnavailable('the base sandbox ended as it started');
      // Nothing more is read from it; it must not keep the worker's event loop alive either.
      for (const stream of spawned.child.stdio) stream?.unref();
      return { spawned, pid, startTime, cgroup };
    } catch (error) {
      await stop({ spawned, cgroup });
      throw error;
    }
  }

  /** Stops every base; starts no more. */
  async close(): Promise<void> {
    this.closed = true;
    const bases = [...this.bases.values()];
    this.bases.clear();
    await Promise.all(bases.map((base) => base.then(stop, () => undefined)));
  }
}

/** Kills a base's stub (bubblewrap then exits), waits for its end and removes its cgroup. */
async function stop({ spawned, cgroup }: Pick<Base, 'spawned' | 'cgroup'>): Promise<void> {
  await end(spawned);
  await cgroup.killAll().catch(() => undefined);
  await cgroup.remove().catch(() => undefined);
}

async function end(spawned: Spawned): Promise<void> {
  const { child } = spawned;
  if (child.exitCode !== null || child.signalCode !== null || child.failure) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pid = await Promise.race([spawned.childPid, exited.then(() => undefined)]);
  try {
    // While bubblewrap runs, its child's pid cannot have been reused (it would be a zombie).
    if (pid !== undefined && child.exitCode === null && child.signalCode === null)
      process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  await exited;
  clearTimeout(timer);
}
