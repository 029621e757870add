/**
 * Sandboxes set up ahead of their program, one per slot, so that a test run does not wait for
 * a cgroup and the spawn helper: the uid, namespaces, mounts, fresh tmpfs work dir and /tmp are
 * all in place, and a stub inside (native/coderunner-stub.c) waits on a pipe (fd 4). Each is
 * made from its uid's base sandbox (base-sandbox.ts), which the spawn helper enters, rather than
 * by a bubblewrap start of its own. Each one serves exactly one run and is then destroyed with
 * its cgroup. A slot has two uids and its sandboxes take them in turn: when a run takes the
 * slot's sandbox, the next is made on the other uid while the program runs (the next test of a
 * submission finds it ready), and a uid gets a new sandbox only once its last one is gone, so no
 * uid ever has a waiting sandbox beside a program.
 *
 * A run goes: limits written to the cgroup → the cgroup's counters reset → one message with the
 * run's files (their contents in it, up to INLINE_BYTES in all) and one with the program
 * (environment, stack limit, argv) sent at once → the stub writes the files in /box (as the
 * sandbox user: a file created there by the host's root would have no owner inside, and the
 * kernel refuses it) and execs the program. With larger files: the stub makes them empty and
 * answers `C` on standard output → the host copies the contents in through `/proc/<pid>/root` (no
 * program has run in this sandbox yet, so nothing in it can be a trap) → counters reset → the
 * program's message.
 */
import { copyFileSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager, RunCgroup } from './cgroup/types.js';
import type { ExecuteRequest } from './executor.js';
import { BaseSandboxes } from './base-sandbox.js';
import type { BwrapIsolation, WorkFile } from './isolation.js';
import { argvOf, SANDBOX_UID, SANDBOX_WORK_DIR } from './isolation.js';
import { runLimitsOf, spawnHost, supervise, type LaunchOutcome, type Spawned } from './launcher.js';
import type { Spawner } from './spawner.js';
import {
  createMessage,
  endSandbox,
  stubAnswer,
  stubMessage,
  WarmUnavailable,
  type Placement,
} from './stub-process.js';
import { SANDBOX_STUB_PATH } from './system-view.js';

/** The most the stub takes in its two messages together (BUF_SIZE in coderunner-stub.c). */
const STUB_INPUT_BYTES = 256 * 1024;
/** How the stub ends when it cannot make the run's files (FAIL_EXIT, FILES_FAILED there). */
const STUB_FAILED_EXIT = 125;
const STUB_FILES_FAILED = "coderunner: cannot make the run's files\n";

/**
 * Files of a run up to this size in all are sent to the stub with the run (it writes them), so
 * that the run need not wait for the stub to make them and answer before the host copies them in.
 */
const INLINE_BYTES = 128 * 1024;
/** Files of a run copied in rather than bound; more or larger go the cold way, with binds. */
const MAX_FILES = 64;
const MAX_BYTES = 16 * 1024 * 1024;
/** The host's root file system, which a sandbox's work dir must not be. */
const HOST_ROOT_DEV = statSync('/').dev;
/** The first back-off after a waiting sandbox died (ms); it doubles while that goes on. */
const BACKOFF_MS = 10;

/** What every sandbox made ahead has; a run that needs otherwise goes the cold way. */
export interface WarmSpec {
  workDirBytes: number;
  tmpBytes: number;
  /** Every toolchain's extra read-only paths. */
  roBinds: readonly string[];
}

/** The directories and files a run's inputs make in /box, or undefined when too many or odd. */
export function placementOf(inputs: readonly WorkFile[], maxBytes = MAX_BYTES): Placement | undefined {
  const placement: Placement = { dirs: [], files: [] };
  let bytes = 0;
  const visit = (host: string, name: string): boolean => {
    if (/[\n\0]/.test(name)) return false;
    const stat = lstatSync(host);
    if (stat.isDirectory()) {
      placement.dirs.push(name);
      return readdirSync(host).every((entry) => visit(join(host, entry), `${name}/${entry}`));
    }
    if (!stat.isFile()) return false;
    bytes += stat.size;
    placement.files.push({ host, name, size: stat.size, mode: stat.mode & 0o7777 });
    return placement.files.length <= MAX_FILES && bytes <= maxBytes;
  };
  return inputs.every((input) => visit(input.host, input.name)) ? placement : undefined;
}

/** How a run goes into a sandbox made ahead: its files, and the stub's two messages. */
export interface WarmPlan {
  placement: Placement;
  create: Buffer;
  program: Buffer;
  /** The files' contents are in `create`: both messages go at once, with no answer to wait for. */
  inline: boolean;
}

/**
 * The stub's first message with the files' contents in it (`c<mode> <length> <name>`, then the
 * bytes), and `q`: the stub makes them and goes on to the second message without answering.
 */
export function inlineCreateMessage(placement: Placement): Buffer {
  const parts = [Buffer.from('q\0'), ...placement.dirs.map((dir) => Buffer.from(`d${dir}\0`))];
  for (const file of placement.files) {
    const contents = readFileSync(file.host);
    parts.push(Buffer.from(`c${file.mode.toString(8)} ${contents.length} ${file.name}\0`), contents);
  }
  parts.push(Buffer.from('\0'));
  return Buffer.concat(parts);
}

/**
 * The stub's second message: stack limit, environment, argv; undefined when it cannot be sent
 * (a NUL inside), and the run goes the cold way.
 */
export function programMessage(request: ExecuteRequest): Buffer | undefined {
  const env = Object.entries(request.env).map(([name, value]) => `e${name}=${value}`);
  const argv = argvOf(request.command).map((arg) => `a${arg}`);
  const fields = [`s${request.stackKb}`, ...env, ...argv];
  return fields.some((field) => field.includes('\0')) ? undefined : stubMessage(fields);
}

/** The stub's messages for a run, or undefined when it could not take them (the run goes cold). */
export function stubPlan(placement: Placement, request: ExecuteRequest): WarmPlan | undefined {
  const program = programMessage(request);
  if (!program) return undefined;
  const fits = (create: Buffer): boolean => create.length + program.length <= STUB_INPUT_BYTES;
  const bytes = placement.files.reduce((sum, file) => sum + file.size, 0);
  if (bytes <= INLINE_BYTES) {
    const create = inlineCreateMessage(placement);
    if (fits(create)) return { placement, create, program, inline: true };
  }
  const create = createMessage(placement);
  // More than the stub can take would end it after its answer, as if the program had failed.
  return fits(create) ? { placement, create, program, inline: false } : undefined;
}

/** Which of its slot's two uids a sandbox runs as. */
type Lane = 0 | 1;

class WarmSandbox {
  private taken = false;
  /** A run ended in it and left its cgroup empty. */
  private emptied = false;

  constructor(
    readonly slot: number,
    readonly lane: Lane,
    readonly cgroup: RunCgroup,
    private readonly spawned: Spawned,
    /** Called when the sandbox ends while it waits (killed, or it could not start). */
    onDeathWhileWaiting: () => void,
  ) {
    spawned.child.once('exit', () => {
      if (!this.taken) onDeathWhileWaiting();
    });
  }

  private control(message: Buffer, end = false): void {
    const pipe = this.spawned.child.stdio[4] as NodeJS.WritableStream | null;
    if (!pipe) throw new WarmUnavailable('the sandbox has no control pipe');
    if (end) pipe.end(message);
    else pipe.write(message);
  }

  get isDead(): boolean {
    return this.spawned.child.exited;
  }

  /** Marks the sandbox as taken for a run: its end is then the run's business. */
  take(): this {
    this.taken = true;
    return this;
  }

  async run(request: ExecuteRequest, plan: WarmPlan): Promise<LaunchOutcome> {
    if (this.isDead || this.spawned.child.failure)
      throw new WarmUnavailable('the sandbox ended before its program');
    const pid = await this.spawned.childPid;
    if (pid === undefined) throw new WarmUnavailable('the sandbox did not start');
    await this.cgroup.setLimits({ memoryBytes: request.memoryBytes, pids: request.pids });
    if (plan.inline) {
      // The stub's writing of the files counts in the run (a few microseconds, and their pages).
      await this.cgroup.resetUsage();
      this.control(Buffer.concat([plan.create, plan.program]), true);
    } else await this.copyIn(pid, plan);
    const outcome = await supervise(this.spawned, { ...runLimitsOf(request), cgroup: this.cgroup });
    this.emptied = true;
    // The stub could not make the files (it says so): not the program's doing.
    if (
      outcome.exitCode === STUB_FAILED_EXIT &&
      outcome.stdoutBytes === 0 &&
      outcome.stderr.toString() === STUB_FILES_FAILED
    )
      throw new WarmUnavailable("the sandbox could not make the run's files");
    return outcome;
  }

  /** The files made empty by the stub, their contents copied in from here, the program sent. */
  private async copyIn(pid: number, { placement, create, program }: WarmPlan): Promise<void> {
    this.control(create);
    await stubAnswer(this.spawned, 'the sandbox');
    const box = `/proc/${pid}/root${SANDBOX_WORK_DIR}`;
    // The stub answered from inside, so this is the sandbox's own tmpfs, not a host path.
    if (statSync(box).dev === HOST_ROOT_DEV) throw new WarmUnavailable('the sandbox has no work dir');
    try {
      for (const file of placement.files) copyFileSync(file.host, `${box}/${file.name}`);
    } catch (error) {
      throw new WarmUnavailable(`cannot copy the run's files in: ${(error as Error).message}`);
    }
    await this.cgroup.resetUsage();
    this.control(program, true);
  }

  /** Ends the sandbox (see `endSandbox`) and removes its cgroup. */
  async destroy(): Promise<void> {
    await endSandbox(this.spawned);
    // After a run, `supervise` has emptied the cgroup already, and its pid namespace is gone:
    // nothing can have entered it since (reading it again costs the kernel).
    if (!this.emptied) await this.cgroup.killAll().catch(() => undefined);
    await this.cgroup.remove().catch(() => undefined);
  }
}

/** One sandbox made ahead per slot, on the slot's two uids in turn. */
export class WarmPool {
  private readonly ready = new Map<number, Promise<WarmSandbox | undefined>>();
  /** The uid (lane) each slot's next sandbox is made on. */
  private readonly lanes = new Map<number, Lane>();
  /** The destruction of each lane's last used sandbox, by `slot/lane`: its next one waits for it. */
  private readonly ending = new Map<string, Promise<void>>();
  /** Slots whose next sandbox is due after a back-off (see `replaceDead`). */
  private readonly later = new Map<number, NodeJS.Timeout>();
  /** Sandboxes of each slot that died while waiting, in a row (for backing off). */
  private readonly deaths = new Map<number, number>();
  private closed = false;
  /** Each lane's long-lived sandbox, whose namespaces its sandboxes are made from. */
  private readonly bases: BaseSandboxes;

  constructor(
    private readonly spec: WarmSpec,
    private readonly isolation: BwrapIsolation,
    private readonly cgroups: CgroupManager,
    private readonly spawner: Spawner,
    /** A fresh cgroup name for a slot's sandbox made ahead (`w`) or base sandbox (`b`). */
    private readonly runName: (slot: number, kind: 'w' | 'b') => string,
  ) {
    this.bases = new BaseSandboxes({ roBinds: spec.roBinds }, isolation, spawner, cgroups, (slot) =>
      runName(slot, 'b'),
    );
  }

  /** How a run goes into a sandbox made ahead, or undefined when it does not fit one. */
  planFor(request: ExecuteRequest): WarmPlan | undefined {
    const { spec } = this;
    if (request.workDirBytes !== spec.workDirBytes || request.tmpBytes !== spec.tmpBytes) return undefined;
    if (!request.roBinds.every((path) => spec.roBinds.includes(path))) return undefined;
    // The files take room in the work dir: leave the program at least half of it.
    const placement = placementOf(request.files, Math.min(MAX_BYTES, spec.workDirBytes / 2));
    return placement && stubPlan(placement, request);
  }

  /** Starts making the slot's next sandbox, unless it has one. */
  refill(slot: number): void {
    const timer = this.later.get(slot);
    if (timer) clearTimeout(timer);
    this.later.delete(slot);
    if (this.closed || this.ready.has(slot)) return;
    const lane = this.lanes.get(slot) ?? 0;
    this.lanes.set(slot, lane === 0 ? 1 : 0);
    const previous = this.ending.get(`${slot}/${lane}`) ?? Promise.resolve();
    const pending: Promise<WarmSandbox | undefined> = previous
      .then(() => this.make(slot, lane, (sandbox) => this.replaceDead(slot, sandbox, pending)))
      .catch(() => undefined);
    this.ready.set(slot, pending);
  }

  /** Destroys a used sandbox, returning at once; its uid's next sandbox waits for the end. */
  recycle(used: WarmSandbox | undefined): void {
    if (!used) return;
    const key = `${used.slot}/${used.lane}`;
    const ending = used.destroy();
    this.ending.set(key, ending);
    void ending.finally(() => {
      if (this.ending.get(key) === ending) this.ending.delete(key);
    });
  }

  /**
   * A waiting sandbox died: replace it, backing off while that keeps happening (a host that
   * cannot start sandboxes at all would otherwise be asked to every few milliseconds).
   */
  private replaceDead(slot: number, dead: WarmSandbox, pending: Promise<WarmSandbox | undefined>): void {
    if (this.ready.get(slot) !== pending) return;
    this.ready.delete(slot);
    const deaths = (this.deaths.get(slot) ?? 0) + 1;
    this.deaths.set(slot, deaths);
    this.recycle(dead);
    if (this.closed || this.later.has(slot)) return;
    this.later.set(
      slot,
      setTimeout(() => this.refill(slot), Math.min(5000, BACKOFF_MS * 2 ** deaths)),
    );
  }

  /**
   * The slot's sandbox (waiting for it if it is still being made); the slot's next one is made
   * at once, on its other uid.
   */
  async take(slot: number): Promise<WarmSandbox | undefined> {
    this.refill(slot);
    const pending = this.ready.get(slot);
    this.ready.delete(slot);
    this.refill(slot);
    const sandbox = await pending;
    if (sandbox && !sandbox.isDead) this.deaths.delete(slot);
    return sandbox?.take();
  }

  private async make(
    slot: number,
    lane: Lane,
    onDeath: (sandbox: WarmSandbox) => void,
  ): Promise<WarmSandbox> {
    const cgroup = await this.cgroups.create(this.runName(slot, 'w'));
    try {
      const { workDirBytes, tmpBytes } = this.spec;
      const base = await this.bases.process(slot, lane);
      const spawned = spawnHost(
        this.spawner,
        {
          argv: [SANDBOX_STUB_PATH],
          env: {},
          cwd: SANDBOX_WORK_DIR,
          uid: SANDBOX_UID,
          enter: { ...base, hostUid: this.isolation.uidOf(slot, lane), workDirBytes, tmpBytes },
          stackKb: 'unlimited',
          statusFd: true,
          cgroup,
        },
        true,
      );
      const sandbox: WarmSandbox = new WarmSandbox(slot, lane, cgroup, spawned, () => onDeath(sandbox));
      return sandbox;
    } catch (error) {
      await cgroup.remove().catch(() => undefined);
      throw error;
    }
  }

  /** Destroys every sandbox made ahead; makes no more. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.later.values()) clearTimeout(timer);
    this.later.clear();
    await Promise.allSettled([...this.ending.values()]);
    const pending = [...this.ready.values()];
    this.ready.clear();
    for (const sandbox of await Promise.all(pending)) await sandbox?.destroy();
    await this.bases.close();
  }
}

export type { WarmSandbox };
