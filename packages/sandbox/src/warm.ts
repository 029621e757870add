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
 * The spawn helper holds these sandboxes, their pipes and cgroups (`Spawner.hold`), and runs each
 * in one request: it writes the limits to the cgroup and resets its counters, sends the stub one
 * message with the run's files (their contents in it) and the program (environment, stack limit,
 * argv) — the stub writes the files in /box as the sandbox user (a file created there by the
 * host's root would have no owner inside, and the kernel refuses it) and execs the program —
 * feeds the input, enforces the limits and answers with the outcome and the cgroup's figures.
 * Done here, the pipes, timers and cgroup files of every run were most of this process's work.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupManager, RunCgroup } from './cgroup/types.js';
import type { ExecuteRequest } from './executor.js';
import { BaseSandboxes } from './base-sandbox.js';
import type { BwrapIsolation, WorkFile } from './isolation.js';
import { argvOf, SANDBOX_UID, SANDBOX_WORK_DIR } from './isolation.js';
import type { LaunchOutcome } from './launcher.js';
import type { ControlPart, HeldSandbox } from './held-sandbox.js';
import type { Spawner } from './spawner.js';
import { stubMessage, WarmUnavailable, type Placement } from './stub-process.js';

/** The most the stub takes in its second message (BUF_SIZE in coderunner-stub.c). */
const STUB_INPUT_BYTES = 256 * 1024;
/** How the stub ends when it cannot make the run's files (FAIL_EXIT, FILES_FAILED there). */
const STUB_FAILED_EXIT = 125;
const STUB_FILES_FAILED = "coderunner: cannot make the run's files\n";

/** Files up to this size go in the request to the spawn helper; larger ones it reads itself. */
const INLINE_FILE_BYTES = 64 * 1024;
/** Files of a run sent to the stub; more or larger go the cold way, with binds. */
const MAX_FILES = 64;
const MAX_BYTES = 16 * 1024 * 1024;
/** The first back-off after a waiting sandbox died (ms); it doubles while that goes on. */
const BACKOFF_MS = 10;
/**
 * How recent the last sandbox made must be for the next to be made while a run goes on. Making
 * one moves its first process into its cgroups; under cgroup v1 a move waits for an RCU grace
 * period unless another came shortly before (or the hierarchy is mounted with `favordynmods`),
 * and meanwhile every fork and exit on the host waits too, the run's among them: after a pause,
 * 5–8 ms added to a run of 1.5 ms. At a steady pace the moves follow each other and cost little.
 */
const RECENT_MAKE_MS = 5;

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

/** How a run goes into a sandbox made ahead: the stub's two messages, the files' contents in the first. */
export interface WarmPlan {
  messages: [files: ControlPart[], program: Buffer];
}

/**
 * The stub's first message with the files' contents in it (`c<mode> <length> <name>`, then the
 * bytes), and `q`: the stub makes them and goes on to the second message without answering.
 * Files over `inlineBytes` are parts the spawn helper sends from the file itself; the others'
 * contents are read here, and the bytes between joined into as few parts as can be.
 */
export function filesMessage(placement: Placement, inlineBytes = INLINE_FILE_BYTES): ControlPart[] {
  const parts: ControlPart[] = [];
  let bytes = [Buffer.from('q\0'), ...placement.dirs.map((dir) => Buffer.from(`d${dir}\0`))];
  for (const file of placement.files) {
    bytes.push(Buffer.from(`c${file.mode.toString(8)} ${file.size} ${file.name}\0`));
    if (file.size <= inlineBytes) {
      const contents = readFileSync(file.host);
      // A file that changed since it was listed would not match its header.
      if (contents.length !== file.size) throw new WarmUnavailable(`${file.name} changed while it was read`);
      bytes.push(contents);
      continue;
    }
    parts.push(Buffer.concat(bytes), { path: file.host, size: file.size });
    bytes = [];
  }
  bytes.push(Buffer.from('\0'));
  parts.push(Buffer.concat(bytes));
  return parts;
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

/**
 * The stub's messages for a run, its files' (`filesMessage`) and the program's, or undefined when
 * it could not take them (the run goes cold).
 */
export function stubPlan(files: ControlPart[], program: Buffer | undefined): WarmPlan | undefined {
  if (!program || program.length > STUB_INPUT_BYTES) return undefined;
  return { messages: [files, program] };
}

/**
 * The program messages of the last runs, by their environment object. The runs of a language
 * share one environment and one command for each memory limit, made once and never changed (see
 * `runSpecOf` in test-step), so most runs find their message made.
 */
export class ProgramMessages {
  private readonly made = new WeakMap<
    ExecuteRequest['env'],
    { command: ExecuteRequest['command']; stackKb: number; message: Buffer | undefined }
  >();

  get(request: ExecuteRequest): Buffer | undefined {
    const hit = this.made.get(request.env);
    if (hit && hit.command === request.command && hit.stackKb === request.stackKb) return hit.message;
    const message = programMessage(request);
    this.made.set(request.env, { command: request.command, stackKb: request.stackKb, message });
    return message;
  }
}

/**
 * The placements and first messages of the last runs' files, by their paths. A run's files are
 * those of a compile cache entry, which is content-addressed: what a path holds does not change
 * while its key names it (an entry evicted and made again holds a compile of the same sources),
 * so the tests of a submission, and later submissions of the same program, read them once.
 */
export class FilesMessages {
  /** `held`: the bytes of the message kept in memory; `fileBytes`: the files' sizes in all. */
  private readonly cached = new Map<
    string,
    { placement: Placement; message: ControlPart[]; held: number; fileBytes: number }
  >();
  private bytes = 0;
  /** The key of a list of files, by the list (a cache entry's runs share one list: see test-step). */
  private readonly keys = new WeakMap<readonly WorkFile[], string>();

  constructor(
    private readonly maxEntries = 16,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The placement and message of these files, made now if need be; undefined when they do not fit. */
  get(
    files: readonly WorkFile[],
    maxBytes: number,
  ): { placement: Placement; message: ControlPart[] } | undefined {
    let key = this.keys.get(files);
    if (key === undefined) {
      key = files.map((file) => `${file.host}\0${file.name}`).join('\n');
      this.keys.set(files, key);
    }
    const hit = this.cached.get(key);
    if (hit) {
      // The most recently used go last, the first to go is the least recently used.
      this.cached.delete(key);
      this.cached.set(key, hit);
      return hit.fileBytes <= maxBytes ? hit : undefined;
    }
    const placement = placementOf(files, maxBytes);
    if (!placement) return undefined;
    const message = filesMessage(placement);
    // What it holds in memory: the files sent from their own paths are not read here.
    const held = message.reduce((sum, part) => sum + (Buffer.isBuffer(part) ? part.length : 0), 0);
    const fileBytes = placement.files.reduce((sum, file) => sum + file.size, 0);
    const made = { placement, message, held, fileBytes };
    this.cached.set(key, made);
    this.bytes += held;
    for (const [oldest, entry] of this.cached) {
      if (this.cached.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.cached.delete(oldest);
      this.bytes -= entry.held;
    }
    return made;
  }
}

/** Which of its slot's two uids a sandbox runs as. */
type Lane = 0 | 1;

class WarmSandbox {
  private taken = false;

  constructor(
    readonly slot: number,
    readonly lane: Lane,
    readonly cgroup: RunCgroup,
    private readonly held: HeldSandbox,
    /** Called when the sandbox ends while it waits (killed, or it could not start). */
    onDeathWhileWaiting: () => void,
  ) {
    void held.ended.then(() => {
      if (!this.taken) onDeathWhileWaiting();
    });
  }

  get isDead(): boolean {
    return this.held.exited;
  }

  /** Marks the sandbox as taken for a run: its end is then the run's business. */
  take(): this {
    this.taken = true;
    return this;
  }

  async run(request: ExecuteRequest, plan: WarmPlan): Promise<LaunchOutcome> {
    if (this.isDead) throw new WarmUnavailable('the sandbox ended before its program');
    const script = this.cgroup.script({ memoryBytes: request.memoryBytes, pids: request.pids });
    let ran;
    try {
      ran = await this.held.run({
        ...script,
        control: [...plan.messages[0], plan.messages[1]],
        stdin: typeof request.stdin === 'string' ? Buffer.from(request.stdin) : request.stdin,
        wallLimitMs: request.wallLimitMs,
        cpuLimitMs: request.cpuLimitMs,
        stdoutLimit: request.stdoutLimit,
        stderrLimit: request.stderrLimit,
        stderrOverflow: request.stderrOverflow,
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      throw new WarmUnavailable(`the sandbox could not run: ${(error as Error).message}`);
    }
    if (ran.filesFailed) throw new WarmUnavailable("the run's files could not be read to their length");
    // The stub could not make the files (it says so): not the program's doing.
    if (
      ran.exitCode === STUB_FAILED_EXIT &&
      ran.stdoutBytes === 0 &&
      ran.stderr.toString() === STUB_FILES_FAILED
    )
      throw new WarmUnavailable("the sandbox could not make the run's files");
    const usage = this.cgroup.usageOf(ran.usageTexts, ran.cpuNs);
    return {
      exitCode: ran.exitCode,
      signal: ran.signal,
      stdout: ran.stdout,
      stderr: ran.stderr,
      stdoutBytes: ran.stdoutBytes,
      stderrBytes: ran.stderrBytes,
      wallMs: ran.wallMs,
      cpuMs: ran.cpuNs >= 0 ? ran.cpuNs / 1e6 : null,
      memoryPeakKb: Math.ceil(usage.memoryPeakBytes / 1024),
      oomKilled: usage.oomKilled,
      killedFor: ran.killedFor,
      started: true,
    };
  }

  /** Ends the sandbox; the helper removes its cgroup, unless the helper ended first. */
  async destroy(): Promise<void> {
    this.held.kill();
    await this.held.ended;
    if (!this.held.orphaned) return;
    await this.cgroup.killAll().catch(() => undefined);
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
  /** Each lane's long-lived cgroup (see `CgroupManager.openInLane`), by `slot/lane`, once made. */
  private readonly laneCgroups = new Map<string, { name: string; made: Promise<void> }>();
  private readonly files = new FilesMessages();
  private readonly programs = new ProgramMessages();
  /** Slots whose next sandbox is made once their run has ended (see `take`). */
  private readonly afterRun = new Set<number>();
  /** When the last sandbox began to be made (`performance.now()`). */
  private lastMade = -Infinity;

  constructor(
    private readonly spec: WarmSpec,
    private readonly isolation: BwrapIsolation,
    private readonly cgroups: CgroupManager,
    private readonly spawner: Spawner,
    /** A fresh cgroup name for a slot's sandbox made ahead (`w`), base sandbox (`b`) or lane (`l`). */
    private readonly runName: (slot: number, kind: 'w' | 'b' | 'l') => string,
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
    try {
      // The files take room in the work dir: leave the program at least half of it.
      const files = this.files.get(request.files, Math.min(MAX_BYTES, spec.workDirBytes / 2));
      return files && stubPlan(files.message, this.programs.get(request));
    } catch {
      // A file gone or changed while it was read: the cold way tells what is wrong, if anything.
      return undefined;
    }
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

  /**
   * The slot's run is over: the sandbox it took (if any) is destroyed, returning at once, and the
   * slot's next sandbox is made now if `take` left it for then.
   */
  release(slot: number, used: WarmSandbox | undefined): void {
    this.recycle(used);
    if (this.afterRun.delete(slot)) this.refill(slot);
  }

  /** Destroys a sandbox, returning at once; its uid's next sandbox waits for the end. */
  private recycle(used: WarmSandbox | undefined): void {
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
   * The slot's sandbox (waiting for it if it is still being made); the slot's next one is made on
   * its other uid, at once at a steady pace, after a pause once the run is over (`release`).
   */
  async take(slot: number): Promise<WarmSandbox | undefined> {
    this.refill(slot);
    const pending = this.ready.get(slot);
    this.ready.delete(slot);
    // Made during the run, it would hold the run up after a pause (see RECENT_MAKE_MS).
    if (performance.now() - this.lastMade < RECENT_MAKE_MS) this.refill(slot);
    else this.afterRun.add(slot);
    const sandbox = await pending;
    if (sandbox && !sandbox.isDead) this.deaths.delete(slot);
    return sandbox?.take();
  }

  private async make(
    slot: number,
    lane: Lane,
    onDeath: (sandbox: WarmSandbox) => void,
  ): Promise<WarmSandbox> {
    const { workDirBytes, tmpBytes } = this.spec;
    this.lastMade = performance.now();
    const base = await this.bases.process(slot, lane);
    // The helper makes the run's own cgroup, and removes it once the sandbox has ended; the
    // lane's, made once, holds what can be reset between its sandboxes.
    const cgroup = this.cgroups.openInLane(this.runName(slot, 'w'), await this.laneCgroup(slot, lane));
    const held = this.spawner.hold(
      {
        // No program: the stub, which the helper's child makes the sandbox with, waits there.
        argv: [],
        env: {},
        cwd: SANDBOX_WORK_DIR,
        uid: SANDBOX_UID,
        enter: { ...base, hostUid: this.isolation.uidOf(slot, lane), workDirBytes, tmpBytes },
        stackKb: 'unlimited',
        procsFiles: cgroup.procsFiles,
      },
      cgroup.dirs,
    );
    const sandbox: WarmSandbox = new WarmSandbox(slot, lane, cgroup, held, () => onDeath(sandbox));
    return sandbox;
  }

  /** The name of the lane's long-lived cgroup, made on first use (and again after a failure). */
  private async laneCgroup(slot: number, lane: Lane): Promise<string> {
    const key = `${slot}/${lane}`;
    let entry = this.laneCgroups.get(key);
    if (!entry) {
      const name = this.runName(slot, 'l');
      entry = { name, made: this.cgroups.ensureLane(name) };
      this.laneCgroups.set(key, entry);
    }
    try {
      await entry.made;
    } catch (error) {
      if (this.laneCgroups.get(key) === entry) this.laneCgroups.delete(key);
      throw error;
    }
    return entry.name;
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
    for (const { name, made } of this.laneCgroups.values()) {
      await made.catch(() => undefined);
      const cgroup = this.cgroups.open(name);
      await cgroup.killAll().catch(() => undefined);
      await cgroup.remove().catch(() => undefined);
    }
    this.laneCgroups.clear();
  }
}

export type { WarmSandbox };
