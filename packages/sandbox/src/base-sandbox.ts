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
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupManager, RunCgroup } from './cgroup/types.js';
import type { BwrapIsolation } from './isolation.js';
import { spawnHost, type Spawned } from './launcher.js';
import type { Spawner } from './spawner.js';
import { createMessage, WarmUnavailable } from './stub-process.js';
import { SANDBOX_STUB_PATH } from './system-view.js';

/** How long a base's stub may take to answer (ms). */
const ANSWER_TIMEOUT_MS = 5000;

export interface BaseSpec {
  /** Every toolchain's extra read-only paths. */
  roBinds: readonly string[];
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
    if (this.closed) throw new WarmUnavailable('the engine is closing');
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
        if (b.spawned.child.exited) ended();
        else b.spawned.child.once('exit', ended);
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
      if (pid === undefined) throw new WarmUnavailable('the base sandbox did not start');
      // Nothing to make: the stub answers once it runs, i.e. once bubblewrap's set-up is done.
      (spawned.child.stdio[4] as NodeJS.WritableStream | null)?.write(createMessage({ dirs: [], files: [] }));
      await stubAnswer(spawned);
      const startTime = startTimeOf(pid);
      if (startTime === undefined) throw new WarmUnavailable('the base sandbox ended as it started');
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

/** Ends a base (see `endSandbox`) and removes its cgroup. */
async function stop({ spawned, cgroup }: Pick<Base, 'spawned' | 'cgroup'>): Promise<void> {
  await endSandbox(spawned);
  await cgroup.killAll().catch(() => undefined);
  await cgroup.remove().catch(() => undefined);
}

/**
 * Waits for the stub's `C` on standard output (paused again afterwards), or fails with
 * WarmUnavailable when the base ends or stays silent.
 */
function stubAnswer({ child }: Spawned): Promise<void> {
  const what = 'the base sandbox';
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.stdout?.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void =>
      done(chunk.toString() === 'C' ? undefined : new WarmUnavailable(`${what} answered oddly`));
    const onExit = (): void => done(new WarmUnavailable(`${what} ended before it answered`));
    const timer = setTimeout(() => done(new WarmUnavailable(`${what} did not answer`)), ANSWER_TIMEOUT_MS);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Ends a base: its first process goes first, so that bubblewrap outside reaps it and exits, and
 * is reaped by the helper in turn: killed all at once they would linger as zombies.
 */
async function endSandbox({ child, childPid }: Spawned): Promise<void> {
  if (child.exited) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pid = await Promise.race([childPid, exited.then(() => undefined), sleep(1000).then(() => undefined)]);
  try {
    // While the process outside runs, its child's pid cannot have been reused (it would be a zombie).
    if (pid !== undefined && !child.exited) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  if (!child.exited) await exited;
  clearTimeout(timer);
}
