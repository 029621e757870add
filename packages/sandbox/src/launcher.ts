/**
 * Starts one program under its limits and reports what happened: exit status, outputs (capped),
 * wall time from the host, CPU time and peak memory from the kernel (the run's cgroup). The
 * wall-clock limit, the CPU limit (polled from the cgroup) and the output caps are enforced
 * from outside, by killing the whole run.
 */
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { RunCgroup } from './cgroup/types.js';
import { OutputBuffer } from './output-buffer.js';
import type { EnterSandbox, HostProcess, Spawner } from './spawner.js';

/** Why the launcher killed a run, if it did. */
export type KillReason = 'wall' | 'cpu' | 'output' | 'cancelled';

export interface LaunchRequest {
  /** The host command: `argv[0]` is run with `argv.slice(1)`. */
  argv: readonly string[];
  /** Environment of the host command (kept minimal: the sandbox sets the program's own). */
  env: Record<string, string>;
  cwd: string;
  /** Host uid (and gid) the command drops to before it execs; unset keeps root. */
  uid?: number;
  /** The spawn helper's network namespace the command starts in. */
  netns?: string;
  /** Stack limit of the command (KiB). */
  stackKb: number | 'unlimited';
  /** Start it in a sandbox made from a running one's namespaces (see `SpawnRequest`). */
  enter?: EnterSandbox;
  stdin: string | Buffer;
  /** The cgroup the command joins before it execs. */
  cgroup?: RunCgroup;
  /** Kill when the cgroup's CPU time passes this (ms). */
  cpuLimitMs?: number;
  /** Kill when this much wall-clock time has passed (ms). */
  wallLimitMs: number;
  /** Kill when standard output passes this many bytes. */
  stdoutLimit: number;
  /** Kill when standard error passes this many bytes; `keep` only keeps the first bytes. */
  stderrLimit: number;
  stderrOverflow: 'kill' | 'keep';
  /** A pipe for bubblewrap's `--json-status-fd 3`, to tell a failed set-up from a program. */
  statusFd?: boolean;
  /** Kills the run when it fires. */
  signal?: AbortSignal;
}

/** What `supervise` needs: the run's input and limits, not how it was started. */
export type SuperviseRequest = Omit<
  LaunchRequest,
  'argv' | 'env' | 'cwd' | 'uid' | 'netns' | 'stackKb' | 'statusFd' | 'enter'
>;

/** A run's input and limits, picked from a larger request (its cgroup excepted). */
export function runLimitsOf(request: Omit<SuperviseRequest, 'cgroup'>): Omit<SuperviseRequest, 'cgroup'> {
  return {
    stdin: request.stdin,
    ...(request.cpuLimitMs !== undefined ? { cpuLimitMs: request.cpuLimitMs } : {}),
    wallLimitMs: request.wallLimitMs,
    stdoutLimit: request.stdoutLimit,
    stderrLimit: request.stderrLimit,
    stderrOverflow: request.stderrOverflow,
    ...(request.signal ? { signal: request.signal } : {}),
  };
}

export interface LaunchOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: Buffer;
  stderr: Buffer;
  stdoutBytes: number;
  stderrBytes: number;
  wallMs: number;
  /** From the cgroup; null without one. */
  cpuMs: number | null;
  memoryPeakKb: number | null;
  oomKilled: boolean;
  killedFor: KillReason | undefined;
  /** With `statusFd`: whether the sandbox got as far as starting the program. */
  started: boolean;
}

// Aliases follow their signal's usual name (SIGABRT before SIGIOT, SIGIO before SIGPOLL): keep the first.
const signalNames = new Map<number, string>(
  Object.entries(osConstants.signals)
    .reverse()
    .map(([name, number]) => [number, name]),
);

/** A signal name for a number (9 → SIGKILL). */
export function signalName(number: number): string {
  return signalNames.get(number) ?? `SIG${number}`;
}

/** The host pid of the sandbox's first process, from bubblewrap's JSON status (or the helper's, alike). */
function readChildPid(stream: Readable | null | undefined): Promise<number | undefined> {
  if (!stream) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let text = '';
    const found = (): number | undefined => {
      const match = /"child-pid":\s*(\d+)/.exec(text);
      return match ? Number(match[1]) : undefined;
    };
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      const pid = found();
      if (pid !== undefined) resolve(pid);
    });
    stream.on('error', () => resolve(undefined));
    stream.on('close', () => resolve(found()));
  });
}

/** A host command started, its program not necessarily yet: see `supervise`. */
export interface Spawned {
  child: HostProcess;
  /** With a status fd: whether the sandbox got as far as starting its program. */
  started: Promise<boolean>;
  /** With a status fd: the host pid of the sandbox's first process. */
  childPid: Promise<number | undefined>;
}

/**
 * Starts the host command (joining its cgroup first) with pipes for its standard streams,
 * bubblewrap's status on fd 3 (`statusFd`) and, with `controlFd`, a pipe it reads on fd 4.
 */
export function spawnHost(
  spawner: Spawner,
  request: Pick<
    LaunchRequest,
    'argv' | 'env' | 'cwd' | 'uid' | 'netns' | 'stackKb' | 'statusFd' | 'cgroup' | 'enter'
  >,
  controlFd = false,
): Spawned {
  const child = spawner.spawn({
    ...request,
    ...(request.cgroup ? { procsFiles: request.cgroup.procsFiles } : {}),
    controlFd,
  });
  if (!request.statusFd)
    return { child, childPid: Promise.resolve(undefined), started: Promise.resolve(true) };
  const childPid = child.ready.then((ok) => (ok ? readChildPid(child.stdio[3]) : undefined));
  return { child, childPid, started: childPid.then((pid) => pid !== undefined) };
}

/** Starts a command under its limits and waits for it: `spawnHost` then `supervise`. */
export function launch(spawner: Spawner, request: LaunchRequest): Promise<LaunchOutcome> {
  return supervise(spawnHost(spawner, request), request);
}

/**
 * Feeds a started command its input and watches it to the end under its limits; the wall-clock
 * limit and the wall time count from this call.
 */
export async function supervise(spawned: Spawned, request: SuperviseRequest): Promise<LaunchOutcome> {
  const { child } = spawned;
  // The pipes exist once the helper has started the command.
  await child.ready;
  const started = performance.now();
  const stdout = new OutputBuffer(request.stdoutLimit);
  const stderr = new OutputBuffer(request.stderrLimit);
  let killedFor: KillReason | undefined;
  const kill = (reason: KillReason): void => {
    if (killedFor !== undefined) return;
    killedFor = reason;
    child.kill('SIGKILL');
    void request.cgroup?.killAll().catch(() => undefined);
  };

  child.stdout?.on('data', (chunk: Buffer) => {
    if (!stdout.push(chunk)) kill('output');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    if (!stderr.push(chunk) && request.stderrOverflow === 'kill') kill('output');
  });
  // A sandbox set up ahead may have had its streams paused until now.
  child.stdout?.resume();
  child.stderr?.resume();
  const stdin = child.stdin as Writable;
  stdin.on('error', () => undefined); // EPIPE: the program did not read all of its input.
  stdin.end(request.stdin);

  const wallTimer = setTimeout(() => kill('wall'), request.wallLimitMs);
  const onAbort = (): void => kill('cancelled');
  if (request.signal?.aborted) onAbort();
  request.signal?.addEventListener('abort', onAbort);
  let cpuTimer: NodeJS.Timeout | undefined;
  const { cgroup, cpuLimitMs } = request;
  if (cgroup && cpuLimitMs !== undefined) {
    const every = Math.min(100, Math.max(10, Math.floor(cpuLimitMs / 5)));
    cpuTimer = setInterval(() => {
      cgroup.cpuNs().then(
        (ns) => ns > cpuLimitMs * 1e6 && kill('cpu'),
        () => undefined,
      );
    }, every);
  }

  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      if (child.failure) return resolve({ code: null, signal: null, error: child.failure });
      if (child.exitCode !== null || child.signalCode !== null)
        return resolve({ code: child.exitCode, signal: child.signalCode });
      child.once('error', (error: Error) => resolve({ code: null, signal: null, error }));
      child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal }));
    },
  );
  const wallMs = performance.now() - started;
  clearTimeout(wallTimer);
  request.signal?.removeEventListener('abort', onAbort);
  if (cpuTimer) clearInterval(cpuTimer);
  if (exit.error) throw exit.error;

  // Whatever the program left behind (a daemon, a stopped child) dies with its cgroup.
  if (cgroup) await cgroup.killAll();
  await new Promise<void>((resolve) => {
    if (child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false) resolve();
    child.once('close', () => resolve());
    setTimeout(resolve, 1000).unref();
  });
  child.stdout?.destroy();
  child.stderr?.destroy();
  const usage = cgroup ? await cgroup.usage() : undefined;

  return {
    exitCode: exit.code,
    signal: exit.signal,
    stdout: stdout.toBuffer(),
    stderr: stderr.toBuffer(),
    stdoutBytes: stdout.total,
    stderrBytes: stderr.total,
    wallMs,
    cpuMs: usage ? usage.cpuNs / 1e6 : null,
    memoryPeakKb: usage ? Math.ceil(usage.memoryPeakBytes / 1024) : null,
    oomKilled: usage?.oomKilled ?? false,
    killedFor,
    started: await spawned.started,
  };
}
