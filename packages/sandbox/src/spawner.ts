/**
 * Starts the sandbox's host processes through `coderunner-spawn` (native/coderunner-spawn.c), a
 * small helper that lives as long as the engine. Forking this process instead would copy its
 * page tables and fault on every page it touches until the child execs, a few milliseconds of
 * CPU per run; the helper also joins the cgroups and drops to the slot's uid itself, where a
 * shell and setpriv were two more programs to start. The pipes it makes are opened here through
 * `/proc/<helper>/fd/N`; a `HostProcess` then looks to the launcher like a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { errnoName, SandboxError } from './errors.js';
import { answerLengths, HeldSandbox, heldOutcome } from './held-sandbox.js';
import { signalName } from './launcher.js';

/** Where the build puts the helper (`pnpm build` compiles it next to the compiled modules). */
export const SPAWN_HELPER_PATH = fileURLToPath(new URL('../dist/coderunner-spawn', import.meta.url));

/**
 * Exit status of a process that could not join its cgroups, enter its network namespace or drop
 * its privileges; its standard error then starts with `JOIN_FAILED_MESSAGE`.
 */
export const JOIN_FAILED_EXIT = 125;
export const JOIN_FAILED_MESSAGE = 'coderunner: cannot ';

export interface SpawnRequest {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
  /** Files whose cgroups the process joins before it execs (`cgroup.procs` of each). */
  procsFiles?: readonly string[];
  /** Drop to this host uid and gid, with no groups, no capabilities and no_new_privs. */
  uid?: number;
  /**
   * Enter the helper's empty network namespace of this name (made on first use, loopback down)
   * rather than stay in the worker's.
   */
  netns?: string;
  /**
   * Start the program in a fresh sandbox made from the namespaces of a running one (see
   * `enter_main` in the stub, native/coderunner-stub.c): `uid` is then the uid inside, `cwd` the
   * work dir mounted there, and fd 3 (implied) tells the host pid of its first process, as
   * bubblewrap's status. With an empty `argv`, the stub itself waits there for its run (fd 4).
   */
  enter?: EnterSandbox;
  /** The stack limit it execs with (KiB); core dumps are always off. */
  stackKb: number | 'unlimited';
  /** A pipe the process writes on fd 3 (bubblewrap's status). */
  statusFd?: boolean;
  /** A pipe the process reads on fd 4 (implies `statusFd`). */
  controlFd?: boolean;
}

/** A running sandbox whose namespaces a new one is made from, and the new one's tmpfs sizes. */
export interface EnterSandbox {
  /** Host pid of a process inside the running sandbox. */
  pid: number;
  /** When it started (field 22 of its `/proc/<pid>/stat`): the helper enters no other process. */
  startTime: number;
  /** The host uid that started it (bubblewrap's), which the helper drops to before it enters. */
  hostUid: number;
  workDirBytes: number;
  tmpBytes: number;
}

type Stream = Socket | null;

/** A process started by the helper: the parts of `ChildProcess` the launcher uses. */
export class HostProcess extends EventEmitter {
  pid: number | undefined;
  stdin: Socket | null = null;
  stdout: Socket | null = null;
  stderr: Socket | null = null;
  /** 0–2, then fd 3 (status) and fd 4 (control) when asked for. */
  stdio: Stream[] = [];
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Why it could not be started, once known. */
  failure: Error | undefined;
  /** Settles when the pipes are here (true) or the process could not be started (false). */
  readonly ready: Promise<boolean>;
  private settle: (ok: boolean) => void = () => undefined;
  private ended = false;

  constructor(
    readonly id: string,
    private readonly signalIt: (signal: number) => void,
  ) {
    super();
    this.ready = new Promise((resolve) => (this.settle = resolve));
  }

  /** Whether it has ended (or could not be started): its `exit` has been emitted. */
  get exited(): boolean {
    return this.ended;
  }

  /** Signals the process, unless it has ended (the helper knows: no pid is ever reused here). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.ended) return false;
    this.signalIt(osConstants.signals[signal]);
    return true;
  }

  /** @internal */
  attach(pid: number, streams: Socket[]): void {
    this.pid = pid;
    this.stdio = streams;
    [this.stdin = null, this.stdout = null, this.stderr = null] = streams;
    for (const stream of streams) stream.on('error', () => undefined);
    this.settle(true);
  }

  /** @internal */
  end(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.ended) return;
    this.ended = true;
    this.settle(false);
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
    // As with a child process: its input pipes go with it,
    this.stdin?.destroy();
    this.stdio[4]?.destroy();
    // and `close` comes once its output has been read to the end too.
    const readers = [this.stdout, this.stderr, this.stdio[3]].filter(
      (s): s is Socket => s !== null && s !== undefined && !s.destroyed && !s.readableEnded,
    );
    let open = readers.length;
    const closed = (): void => {
      if (--open <= 0) this.emit('close', code, signal);
    };
    if (open === 0) this.emit('close', code, signal);
    for (const reader of readers) reader.once('close', closed);
  }

  /** @internal Emits `error` once, to whoever listens (an unheard `error` would throw). */
  fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.settle(false);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

/**
 * A request, in parts: its length and its NUL-terminated fields in one buffer, then any bytes
 * (`tail`) counted in the length, as they are (`flush` joins a turn's parts when they are small).
 */
function frame(fields: readonly string[], tail: readonly Buffer[] = []): Buffer[] {
  // The length's four bytes go in front of the fields, in the same buffer.
  let text = '\0\0\0\0';
  for (const field of fields) text += `${field}\0`;
  const body = Buffer.from(text);
  let length = body.length - 4;
  for (const part of tail) length += part.length;
  body.writeUInt32LE(length, 0);
  const parts: Buffer[] = [body];
  for (const part of tail) if (part.length > 0) parts.push(part);
  return parts;
}

const NOTHING = Buffer.alloc(0);

/** What one write takes as a single buffer (copied together); larger parts are written as they are. */
const JOIN_BYTES = 64 * 1024;

/** A running helper and what it said that is not a whole answer yet. */
interface Helper {
  process: ChildProcess;
  buffered: Buffer;
}

function launchHelper(path: string): ChildProcess {
  return spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
}

export class Spawner {
  private readonly live = new Map<string, HostProcess>();
  private readonly held = new Map<string, HeldSandbox>();
  private outgoing: Buffer[] = [];
  private serial = 0;
  private helper: Helper | undefined;
  private closed = false;
  /** How many times the helper had to be started again. */
  restarts = 0;

  private constructor(
    private readonly path: string,
    helperProcess: ChildProcess,
  ) {
    this.attach(helperProcess);
  }

  /** Takes a helper process on: its answers, and its end. */
  private attach(helperProcess: ChildProcess): void {
    const helper: Helper = { process: helperProcess, buffered: NOTHING };
    this.helper = helper;
    helperProcess.stdout?.on('data', (chunk: Buffer) => this.read(helper, chunk));
    helperProcess.stdin?.on('error', () => undefined);
    const ended = (why: string): void => {
      if (this.helper !== helper) return;
      this.helper = undefined;
      // Requests not yet written were for it: another helper must not start what they ask.
      this.outgoing = [];
      // What it had started is lost; the next spawn starts a new helper.
      const error = new SandboxError('SANDBOX_START_FAILED', `the spawn helper ended (${why})`);
      for (const child of this.live.values()) {
        child.fail(error);
        child.end(null, 'SIGKILL');
        // What it started may live on without it, holding the pipes open.
        for (const stream of child.stdio) stream?.destroy();
      }
      this.live.clear();
      for (const sandbox of this.held.values()) sandbox.end(undefined, error);
      this.held.clear();
    };
    helperProcess.once('exit', (code, signal) => ended(signal ?? `status ${code}`));
    helperProcess.once('error', (error) => ended(error.message));
  }

  /** Starts the helper; it ends with `close` (or with this process). */
  static async start(path = SPAWN_HELPER_PATH): Promise<Spawner> {
    try {
      accessSync(path, fsConstants.X_OK);
    } catch {
      throw new SandboxError(
        'SANDBOX_UNAVAILABLE',
        `the spawn helper ${path} is missing: build it with pnpm build (it needs a C compiler)`,
      );
    }
    const helper = launchHelper(path);
    await new Promise<void>((resolve, reject) => {
      helper.once('spawn', resolve);
      helper.once('error', (error) =>
        reject(new SandboxError('SANDBOX_UNAVAILABLE', `cannot start the spawn helper: ${error.message}`)),
      );
    });
    return new Spawner(path, helper);
  }

  /** Starts a process; its `error` event tells when it could not be. */
  spawn(request: SpawnRequest): HostProcess {
    const id = String(++this.serial);
    const child = new HostProcess(id, (signal) => this.send(['K', id, String(signal)]));
    if (this.closed) {
      queueMicrotask(() => {
        child.fail(new SandboxError('SANDBOX_START_FAILED', 'the spawn helper is closed'));
        child.end(null, null);
      });
      return child;
    }
    this.ensureHelper();
    this.live.set(id, child);
    this.send(['S', id, ...this.startFields(request)]);
    return child;
  }

  private ensureHelper(): void {
    if (this.helper) return;
    this.restarts++;
    this.attach(launchHelper(this.path));
  }

  /** The fields of S (and H) after the id. */
  private startFields(request: SpawnRequest): string[] {
    const fds = request.controlFd ? 5 : request.statusFd || request.enter ? 4 : 3;
    const { enter } = request;
    const env = Object.entries(request.env).map(([name, value]) => `${name}=${value}`);
    const procs = request.procsFiles ?? [];
    return [
      request.cwd,
      request.uid === undefined ? '' : String(request.uid),
      String(request.stackKb),
      request.netns ?? '',
      enter ? `${enter.pid}:${enter.startTime}:${enter.hostUid}:${enter.workDirBytes}:${enter.tmpBytes}` : '',
      String(fds),
      String(procs.length),
      ...procs,
      String(request.argv.length),
      ...request.argv,
      String(env.length),
      ...env,
    ];
  }

  /**
   * Starts a sandbox made from a running one (`request.enter`) that the helper holds with its
   * pipes, after making `dirs` (the cgroup it joins, removed once it has ended), for one run.
   */
  hold(request: SpawnRequest & { enter: EnterSandbox }, dirs: readonly string[]): HeldSandbox {
    const id = String(++this.serial);
    const sandbox = new HeldSandbox(id, (fields, tail) => this.send(fields, tail));
    if (this.closed) {
      queueMicrotask(() =>
        sandbox.end(undefined, new SandboxError('SANDBOX_START_FAILED', 'the spawn helper is closed')),
      );
      return sandbox;
    }
    this.ensureHelper();
    this.held.set(id, sandbox);
    this.send(['H', id, String(dirs.length), ...dirs, ...this.startFields({ ...request, controlFd: true })]);
    return sandbox;
  }

  /** Runs a command to its end, its output unread; resolves with its exit status (null if none). */
  async status(request: SpawnRequest): Promise<number | null> {
    const child = this.spawn(request);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code: number | null) => resolve(code));
      child.once('error', () => resolve(null));
    });
    if (await child.ready) {
      child.stdin?.end();
      child.stdout?.resume();
      child.stderr?.resume();
    }
    return exited;
  }

  /** Ends the helper, and with it whatever it started that still runs; starts no other. */
  async close(): Promise<void> {
    this.closed = true;
    const helperProcess = this.helper?.process;
    if (!helperProcess || helperProcess.exitCode !== null || helperProcess.signalCode !== null) return;
    const exited = new Promise((resolve) => helperProcess.once('exit', resolve));
    this.flush();
    helperProcess.stdin?.end();
    const timer = setTimeout(() => helperProcess.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  /**
   * Queues a request; those of one turn of the event loop are written together (a run's request
   * and the next sandbox's come in the same turn): each write wakes the helper.
   */
  private send(fields: readonly string[], tail?: readonly Buffer[]): void {
    if (!this.helper) return;
    if (this.outgoing.length === 0) setImmediate(() => this.flush());
    for (const part of frame(fields, tail)) this.outgoing.push(part);
  }

  private flush(): void {
    const parts = this.outgoing;
    this.outgoing = [];
    const stdin = this.helper?.process.stdin;
    if (!stdin || parts.length === 0) return;
    let bytes = 0;
    for (const part of parts) bytes += part.length;
    // A turn's requests are small, but for a test's input: copied into one buffer, they are one
    // write through the stream (each part written is a stream write of its own).
    if (bytes <= JOIN_BYTES) {
      stdin.write(parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes));
      return;
    }
    // Corked: the parts go in one writev.
    stdin.cork();
    for (const part of parts) stdin.write(part);
    stdin.uncork();
  }

  /** Answers are lines; R's line is followed by the bytes its numbers count. */
  private read(helper: Helper, chunk: Buffer): void {
    let buffered = helper.buffered.length > 0 ? Buffer.concat([helper.buffered, chunk]) : chunk;
    for (;;) {
      const newline = buffered.indexOf(10);
      if (newline < 0) break;
      const words = buffered.toString('latin1', 0, newline).split(' ');
      let end = newline + 1;
      if (words[0] === 'R') {
        const lengths = answerLengths(words);
        end += lengths.reduce((sum, n) => sum + n, 0);
        if (buffered.length < end) break;
        this.ranHeld(words, lengths, buffered.subarray(newline + 1, end));
      } else this.answer(helper, words);
      buffered = buffered.subarray(end);
    }
    // What remains is copied, so that the chunk it came in can be let go.
    helper.buffered = buffered.length > 0 ? Buffer.from(buffered) : NOTHING;
  }

  private ranHeld(words: string[], lengths: number[], bytes: Buffer): void {
    const sandbox = this.held.get(words[1] ?? '');
    if (!sandbox) return;
    this.held.delete(sandbox.id);
    sandbox.end(heldOutcome(words, lengths, bytes));
  }

  /** E, F and X for a held sandbox; false for any other. */
  private answerHeld(kind: string | undefined, id: string, numbers: number[]): boolean {
    const sandbox = this.held.get(id);
    if (!sandbox) return false;
    if (kind === 'E') sandbox.refuse(numbers[0] ?? 0);
    // F: it could not start (an X may follow, once its process has gone: nothing to wait for).
    else if (kind === 'X' || kind === 'F') {
      this.held.delete(id);
      sandbox.end();
    }
    return true;
  }

  private answer(helper: Helper, [kind, id = '', ...rest]: string[]): void {
    const numbers = rest.map(Number);
    if (this.answerHeld(kind, id, numbers)) return;
    const child = this.live.get(id);
    if (!child) return;
    if (kind === 'S') {
      const [pid = 0, ...fds] = numbers;
      const streams: Socket[] = [];
      try {
        for (const [index, fd] of fds.entries())
          streams.push(this.open(helper, fd, index === 0 || index === 4));
        child.attach(pid, streams);
      } catch (error) {
        for (const stream of streams) stream.destroy();
        child.fail(error as Error);
        child.kill('SIGKILL');
      } finally {
        this.send(['D', id]);
      }
    } else if (kind === 'F') {
      const code = errnoName(numbers[0] ?? 0);
      const error = Object.assign(new Error(`spawn ${code}`), { code });
      child.fail(error);
      if (child.pid === undefined) {
        this.live.delete(id);
        child.end(null, null);
      }
    } else if (kind === 'X') {
      this.live.delete(id);
      const [code = -1, signal = 0] = numbers;
      child.end(code >= 0 ? code : null, signal > 0 ? (signalName(signal) as NodeJS.Signals) : null);
    }
  }

  /** A pipe end the helper holds, opened here as a stream of this process. */
  private open(helper: Helper, fd: number, writable: boolean): Socket {
    const flags = (writable ? fsConstants.O_WRONLY : fsConstants.O_RDONLY) | fsConstants.O_NONBLOCK;
    const own = openSync(`/proc/${helper.process.pid}/fd/${fd}`, flags);
    return new Socket({ fd: own, readable: !writable, writable });
  }
}
