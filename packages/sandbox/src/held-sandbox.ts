/**
 * A sandbox made ahead that the spawn helper holds with its pipes, and its one run: the request
 * the worker sends (R in native/coderunner-spawn.c) and the answer it gets. The helper writes the
 * cgroup's limits, feeds the stub and the input, enforces the limits and answers with the outcome;
 * `Spawner.hold` starts one and carries the messages.
 */
import { constants as osConstants } from 'node:os';
import { errnoName, SandboxError } from './errors.js';
import { signalName } from './launcher.js';

const killReasons = new Set(['wall', 'cpu', 'output', 'cancelled']);

/** Bytes, or a host file's whole contents (which the helper sends from the file: no copy here). */
export type ControlPart = Buffer | { path: string; size: number };

/** A run in a sandbox the helper holds: its limits, and what the helper does with its cgroup. */
export interface HeldRunRequest {
  /** The cgroup's control files and values, written in order before the run. */
  writes: readonly (readonly [string, string])[];
  cpuFile: string;
  cpuKind: 'n' | 'u';
  /** Files read once the run has ended (their texts come back in `usageTexts`). */
  usageFiles: readonly string[];
  /** Control files and values written once the run has ended, or failed to start (none: []). */
  after?: readonly (readonly [string, string])[];
  /** What the sandbox reads on fd 4 (the stub's messages, in parts), then on its standard input. */
  control: readonly ControlPart[];
  stdin: Buffer;
  wallLimitMs: number;
  cpuLimitMs?: number;
  stdoutLimit: number;
  stderrLimit: number;
  stderrOverflow: 'kill' | 'keep';
  signal?: AbortSignal;
}

/** How a held sandbox's run ended, as the helper saw it. */
export interface HeldRunOutcome {
  exitCode: number | null;
  signal: string | null;
  wallMs: number;
  /** The cgroup's CPU time over the run (ns); -1 when it could not be read. */
  cpuNs: number;
  killedFor: 'wall' | 'cpu' | 'output' | 'cancelled' | undefined;
  stdout: Buffer;
  stderr: Buffer;
  stdoutBytes: number;
  stderrBytes: number;
  usageTexts: string[];
  /** A host file among the parts could not be read to its length (the run was killed). */
  filesFailed: boolean;
}

/**
 * The runs each cancel signal stops, with one listener per signal for them all, kept for the
 * signal's life (a worker passes one signal to every job): adding and removing a listener per run
 * cost a run more than the rest of its request.
 */
const runsOf = new WeakMap<AbortSignal, Set<HeldSandbox>>();

function listen(signal: AbortSignal, sandbox: HeldSandbox): void {
  let runs = runsOf.get(signal);
  if (!runs) {
    const listening = new Set<HeldSandbox>();
    runsOf.set(signal, listening);
    signal.addEventListener('abort', () => {
      for (const run of listening) run.cancel();
    });
    runs = listening;
  }
  runs.add(sandbox);
}

/**
 * A sandbox the helper started and holds (its pipes stay with the helper), waiting for the one
 * run it serves: see H and R in native/coderunner-spawn.c.
 */
export class HeldSandbox {
  /** Settles when it has ended (after its run's outcome, if it had a run). */
  readonly ended: Promise<void>;
  private settleEnded: () => void = () => undefined;
  private done = false;
  /** The helper ended first: what it was to remove once the sandbox ended is not removed. */
  private lost = false;
  private pending: { resolve: (o: HeldRunOutcome) => void; reject: (e: Error) => void } | undefined;
  /** The run's cancel signal, while the run lasts. */
  private signal: AbortSignal | undefined;

  constructor(
    readonly id: string,
    private readonly send: (fields: readonly string[], tail?: readonly Buffer[]) => void,
  ) {
    this.ended = new Promise((resolve) => (this.settleEnded = resolve));
  }

  get exited(): boolean {
    return this.done;
  }

  /** Whether it ended with the helper, which then did not remove its directories. */
  get orphaned(): boolean {
    return this.lost;
  }

  /**
   * Runs it (once it is ready, if it is still being made): one request, one answer. Rejects when
   * it cannot (it ended, or a file could not be written).
   */
  run(request: HeldRunRequest): Promise<HeldRunOutcome> {
    if (this.done) return Promise.reject(new SandboxError('SANDBOX_START_FAILED', 'the sandbox has ended'));
    if (this.pending)
      return Promise.reject(new SandboxError('SANDBOX_START_FAILED', 'the sandbox is running'));
    const outcome = new Promise<HeldRunOutcome>((resolve, reject) => (this.pending = { resolve, reject }));
    if (request.signal) {
      this.signal = request.signal;
      listen(request.signal, this);
    }
    this.send(
      [
        'R',
        this.id,
        String(Math.max(0, Math.ceil(request.wallLimitMs))),
        request.cpuLimitMs === undefined ? '' : String(Math.max(0, Math.ceil(request.cpuLimitMs))),
        request.cpuFile,
        request.cpuKind,
        String(request.stdoutLimit),
        String(request.stderrLimit),
        request.stderrOverflow === 'kill' ? '1' : '0',
        String(request.writes.length),
        ...request.writes.flat(),
        String(request.usageFiles.length),
        ...request.usageFiles,
        String(request.after?.length ?? 0),
        ...(request.after ?? []).flat(),
        String(request.control.length),
        ...request.control.map((part) =>
          Buffer.isBuffer(part) ? `b${part.length}` : `f${part.size} ${part.path}`,
        ),
        String(request.stdin.length),
      ],
      [...request.control.filter((part): part is Buffer => Buffer.isBuffer(part)), request.stdin],
    );
    if (request.signal?.aborted) this.cancel();
    return outcome;
  }

  /** @internal Its run's job was cancelled: the helper kills the run (and answers as usual). */
  cancel(): void {
    if (this.pending) this.send(['C', this.id]);
  }

  /** Its run is over: its signal has no more to cancel here. */
  private settled(): void {
    if (this.signal) runsOf.get(this.signal)?.delete(this);
    this.signal = undefined;
  }

  /** Kills it (and its run): what was in it goes with its first process. */
  kill(): void {
    if (!this.done) this.send(['K', this.id, String(osConstants.signals.SIGKILL)]);
  }

  /** @internal It ended: with its run's outcome, or without one (`error`: with the helper). */
  end(outcome?: HeldRunOutcome, error?: Error): void {
    if (this.done) return;
    this.done = true;
    this.lost = error !== undefined;
    const pending = this.pending;
    this.pending = undefined;
    this.settled();
    if (pending && outcome) pending.resolve(outcome);
    else
      pending?.reject(error ?? new SandboxError('SANDBOX_START_FAILED', 'the sandbox ended before its run'));
    this.settleEnded();
  }

  /** @internal The run could not start (E): the sandbox is being killed. */
  refuse(errno: number): void {
    const pending = this.pending;
    this.pending = undefined;
    this.settled();
    pending?.reject(new SandboxError('SANDBOX_START_FAILED', `the sandbox cannot run: ${errnoName(errno)}`));
  }
}

/** The lengths of the bytes after an R answer's line: output, error, then each usage file. */
export function answerLengths(words: readonly string[]): number[] {
  // R id code signal wallUs cpuNs killed outTotal errTotal outLen errLen nusage len...
  return [words[9], words[10], ...words.slice(12)].map(Number);
}

/** A run's outcome from an R answer's words and the bytes that followed them. */
export function heldOutcome(
  words: readonly string[],
  lengths: readonly number[],
  bytes: Buffer,
): HeldRunOutcome {
  const [code = -1, signal = 0, wallUs = 0, cpuNs = -1] = words.slice(2, 6).map(Number);
  const parts: Buffer[] = [];
  let at = 0;
  for (const length of lengths) {
    parts.push(bytes.subarray(at, at + length));
    at += length;
  }
  const [stdout = Buffer.alloc(0), stderr = Buffer.alloc(0), ...usage] = parts;
  const killed = words[6] ?? '-';
  return {
    exitCode: code >= 0 ? code : null,
    signal: signal > 0 ? signalName(signal) : null,
    wallMs: wallUs / 1000,
    cpuNs,
    killedFor: killReasons.has(killed) ? (killed as HeldRunOutcome['killedFor']) : undefined,
    // Copies: the answer's buffer holds other runs' bytes too.
    stdout: Buffer.from(stdout),
    stderr: Buffer.from(stderr),
    stdoutBytes: Number(words[7]),
    stderrBytes: Number(words[8]),
    usageTexts: usage.map((text) => text.toString('utf8')),
    filesFailed: killed === 'files',
  };
}
