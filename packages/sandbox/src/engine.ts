/**
 * The execution engine: compiles a normalized submission once, runs every test case in its own
 * sandbox under kernel-enforced limits, and returns a verdict per test with the CPU time, wall
 * time and peak memory the kernel measured. It does not log: it returns results and reports
 * progress through `onEvent`.
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  overallVerdict,
  type CompileResult,
  type NormalizedSubmission,
  type TestResult,
  type Verdict,
} from '@coderunner/protocol';
import { detectCgroups } from './cgroup/detect.js';
import { sweepStaleRuns } from './cgroup/sweep.js';
import type { CgroupManager } from './cgroup/types.js';
import { CompileCache } from './compile-cache.js';
import { compile } from './compile-step.js';
import { SandboxError } from './errors.js';
import { Executor, runName, type WarmStats } from './executor.js';
import { BwrapIsolation, DirectIsolation, SANDBOX_PATH, slotNetns, type Isolation } from './isolation.js';
import { withDefaults, type EngineOptions, type ResolvedEngineOptions } from './options.js';
import { loadRegistry, type Registry } from './registry.js';
import { SlotPool } from './slot-pool.js';
import { buildSystemView, systemView } from './system-view.js';
import { SPAWN_HELPER_PATH, Spawner } from './spawner.js';
import { runTest, skippedTest } from './test-step.js';
import { probeToolchains, type LanguageInfo } from './toolchains.js';
import { WarmPool } from './warm.js';
import { findExecutable } from './which.js';

/** Progress of a job, in order: one `compiled`, then one `test` per test case. */
export type JudgeEvent = { type: 'compiled'; compile: CompileResult } | { type: 'test'; result: TestResult };

export interface JudgeResult {
  /** The overall verdict: the first non-success test verdict in test order, else success. */
  status: Verdict;
  compile: CompileResult;
  tests: TestResult[];
  passed: number;
  total: number;
  maxTimeUsedInMs: number;
  maxMemoryUsedInKb: number;
}

export interface JudgeOptions {
  /** Called after the compile step and after each test; awaited before the next step. */
  onEvent?: (event: JudgeEvent) => void | Promise<void>;
  /** Cancels the job: the running program is killed and `judge` rejects with CANCELLED. */
  signal?: AbortSignal;
}

/** What the engine found out about the host when it started. */
export interface EngineEnvironment {
  sandboxType: 'bwrap' | 'direct';
  cgroups: { version: 1 | 2; location: string } | { problem: string };
  bwrap?: string;
  /** The helper that starts every sandbox process. */
  spawnHelper: string;
  /**
   * bwrap: whether each slot keeps one empty network namespace (`slot`) or bubblewrap makes one
   * per run (`run`, where the helper may not make namespaces: no CAP_SYS_ADMIN).
   */
  netns?: 'slot' | 'run';
  root: boolean;
}

export class Engine {
  private readonly pool: SlotPool;
  /** Where each job's own files go (a submission id is one path segment). */
  private readonly jobsDir: string;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  /** @internal use `createEngine` */
  constructor(
    readonly options: ResolvedEngineOptions,
    readonly registry: Registry,
    private readonly toolchains: ReadonlyMap<string, LanguageInfo>,
    private readonly executor: Executor,
    private readonly cache: CompileCache,
    readonly environment: EngineEnvironment,
  ) {
    this.pool = new SlotPool(options.slots);
    this.jobsDir = join(options.baseDir, 'jobs');
  }

  /** Every language of the registry, with its toolchain version or why it is missing. */
  languages(): LanguageInfo[] {
    return [...this.toolchains.values()];
  }

  /** The registry id for a language id or alias, when its toolchain is installed. */
  resolveLanguage(id: string): string | undefined {
    const resolved = this.registry.resolve(id);
    return resolved !== undefined && this.toolchains.get(resolved)?.available ? resolved : undefined;
  }

  /** Slots free now. */
  get freeSlots(): number {
    return this.pool.available;
  }

  /**
   * Judges a submission. Throws `SandboxError` for faults of the sandbox or the host (never for
   * the program's own failures, which are verdicts).
   */
  judge(submission: NormalizedSubmission, options: JudgeOptions = {}): Promise<JudgeResult> {
    if (this.closed) return Promise.reject(new SandboxError('ENGINE_CLOSED', 'the engine is closed'));
    const job = this.judgeInSlot(submission, options);
    this.inFlight.add(job);
    void job.finally(() => this.inFlight.delete(job)).catch(() => undefined);
    return job;
  }

  private async judgeInSlot(submission: NormalizedSubmission, options: JudgeOptions): Promise<JudgeResult> {
    const language = this.registry.languages.get(submission.language);
    const toolchain = this.toolchains.get(submission.language);
    if (!language || !toolchain?.available) {
      throw new SandboxError(
        'LANGUAGE_UNAVAILABLE',
        `language ${submission.language} is not available here${toolchain?.reason ? `: ${toolchain.reason}` : ''}`,
      );
    }
    const slot = await this.pool.acquire();
    const jobDir = `${this.jobsDir}/${submission.id}-${process.pid}-${slot}`;
    let entryKey: string | undefined;
    // A compile taken from the cache writes nothing here: no job dir to remove.
    let wroteJobDir = true;
    try {
      const { result: compileResult, entry } = await compile(submission, {
        options: this.options,
        executor: this.executor,
        cache: this.cache,
        language,
        toolchain: toolchain.version ?? '',
        slot,
        jobDir,
        ...(options.signal ? { signal: options.signal } : {}),
      }).catch((error: unknown) => {
        throw asSandboxError(error);
      });
      entryKey = entry.key;
      wroteJobDir = !compileResult.cached;
      await options.onEvent?.({ type: 'compiled', compile: compileResult });

      const tests: TestResult[] = [];
      let stop = compileResult.status !== 'success';
      for (const [index, test] of submission.testCases.entries()) {
        if (options.signal?.aborted) throw new SandboxError('CANCELLED', 'the job was cancelled');
        const result = stop
          ? skippedTest(test, index)
          : await runTest(submission, test, index, {
              options: this.options,
              executor: this.executor,
              language,
              slot,
              entry,
              ...(options.signal ? { signal: options.signal } : {}),
            });
        if (result.status !== 'success' && submission.stopOnFirstFailure) stop = true;
        tests.push(result);
        if (compileResult.status === 'success') await options.onEvent?.({ type: 'test', result });
      }
      return {
        status: overallVerdict(tests, compileResult),
        compile: compileResult,
        tests,
        passed: tests.filter((t) => t.status === 'success').length,
        total: tests.length,
        maxTimeUsedInMs: Math.max(0, ...tests.map((t) => t.timeUsedInMs)),
        maxMemoryUsedInKb: Math.max(0, ...tests.map((t) => t.memoryUsedInKb)),
      };
    } finally {
      if (entryKey !== undefined) await this.cache.release(entryKey);
      if (wroteJobDir) await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);
      this.pool.release(slot);
    }
  }

  /**
   * Starts one trivial program in the sandbox, as every run does; throws `SandboxError` with the
   * reason when that cannot work here (no user namespaces, cgroups refused, …).
   */
  async selfTest(): Promise<void> {
    const slot = await this.pool.acquire();
    try {
      const outcome = await this.executor.execute({
        slot,
        command: ['/bin/sh', '-c', 'exit 0'],
        env: { PATH: SANDBOX_PATH },
        files: [],
        roBinds: [],
        workDirBytes: 1 << 20,
        tmpBytes: 1 << 20,
        stdin: '',
        memoryBytes: 64 << 20,
        pids: 8,
        cpuLimitMs: 5000,
        wallLimitMs: 10_000,
        stdoutLimit: 4096,
        stderrLimit: 4096,
        stderrOverflow: 'keep',
        stackKb: 8192,
      });
      if (outcome.exitCode !== 0) {
        throw new SandboxError(
          'SANDBOX_UNAVAILABLE',
          `the sandbox cannot run a program: ${outcome.stderr.toString('utf8').trim() || `status ${outcome.exitCode}`}`,
        );
      }
    } catch (error) {
      if (error instanceof SandboxError && error.code !== 'SANDBOX_UNAVAILABLE') {
        throw new SandboxError('SANDBOX_UNAVAILABLE', error.message, { cause: error });
      }
      throw error;
    } finally {
      this.pool.release(slot);
    }
  }

  /** How the test runs so far were served by the sandboxes made ahead (counts since the start). */
  get warmStats(): Readonly<WarmStats> {
    return { ...this.executor.warmStats };
  }

  /** Stops taking jobs, waits for those in flight, and destroys the sandboxes made ahead. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await this.executor.close();
  }
}

function asSandboxError(error: unknown): SandboxError {
  if (error instanceof SandboxError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const detail = code === 'ENOSPC' ? 'the disk is full' : (error as Error).message;
  return new SandboxError('WORKSPACE_FAILED', `the compile step failed on the host: ${detail}`, {
    cause: error,
  });
}

/** Checks the host, prepares the base dir and the cgroups, probes the toolchains. */
export async function createEngine(input: EngineOptions = {}): Promise<Engine> {
  const options = withDefaults(input);
  const registry = input.registry ?? loadRegistry();
  const root = process.getuid?.() === 0;
  const { baseDir } = options;
  try {
    await mkdir(baseDir, { recursive: true, mode: 0o755 });
    // Sandboxes run as the slots' uids and must reach the files bound from here.
    await chmod(baseDir, 0o755);
    for (const dir of ['cache', 'jobs', 'runs'])
      await mkdir(join(baseDir, dir), { recursive: true, mode: 0o755 });
  } catch (error) {
    throw new SandboxError('WORKSPACE_FAILED', `cannot prepare ${baseDir}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  const detection = root
    ? await detectCgroups(options.cgroupName)
    : { ok: false as const, problem: 'not running as root' };
  const cgroups: CgroupManager | undefined = detection.ok ? detection.manager : undefined;
  // Runs of a worker that was killed outright may still hold processes and memory.
  if (cgroups) await sweepStaleRuns(cgroups);
  const environment: EngineEnvironment = {
    sandboxType: options.sandboxType,
    cgroups: detection.ok
      ? { version: detection.manager.version, location: detection.manager.location }
      : { problem: detection.problem },
    root,
    spawnHelper: SPAWN_HELPER_PATH,
  };
  const spawner = await Spawner.start();
  try {
    return await assemble(options, registry, baseDir, environment, cgroups, spawner);
  } catch (error) {
    await spawner.close();
    throw error;
  }
}

/** The engine's parts, once the host has been looked at. */
async function assemble(
  options: ResolvedEngineOptions,
  registry: Registry,
  baseDir: string,
  environment: EngineEnvironment,
  cgroups: CgroupManager | undefined,
  spawner: Spawner,
): Promise<Engine> {
  const { root } = environment;
  const problem = 'problem' in environment.cgroups ? environment.cgroups.problem : '';
  let isolation: Isolation;
  let warm: WarmPool | undefined;
  if (options.sandboxType === 'bwrap') {
    const bwrap = await findExecutable('bwrap');
    const missing = [
      !bwrap && 'bubblewrap (bwrap) is not installed',
      !root && 'the bwrap sandbox needs root to give each slot its own uid and cgroup',
      !cgroups && `no usable cgroups: ${problem}`,
    ].filter((m): m is string => typeof m === 'string');
    if (missing.length > 0 || !bwrap) {
      throw new SandboxError(
        'SANDBOX_UNAVAILABLE',
        `the bwrap sandbox cannot run here: ${missing.join('; ')} (run coderunner doctor; sandboxType direct runs without isolation)`,
      );
    }
    environment.bwrap = bwrap;
    const netnsPerSlot =
      (await spawner.status({
        argv: ['/bin/true'],
        env: {},
        cwd: '/',
        stackKb: 'unlimited',
        netns: slotNetns(0),
      })) === 0;
    environment.netns = netnsPerSlot ? 'slot' : 'run';
    const roBinds = [...new Set([...registry.languages.values()].flatMap((l) => l.roBinds))];
    await buildSystemView(baseDir, roBinds).catch((error: unknown) => {
      throw new SandboxError(
        'WORKSPACE_FAILED',
        `cannot prepare the sandbox's /etc and /dev: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    });
    const bwrapIsolation = new BwrapIsolation({
      bwrap,
      netnsPerSlot,
      uidBase: options.uidBase,
      system: await systemView(baseDir),
    });
    isolation = bwrapIsolation;
    if (options.warmSandboxes && cgroups) {
      warm = new WarmPool(
        { workDirBytes: options.runWorkDirBytes, tmpBytes: options.runTmpBytes, roBinds },
        bwrapIsolation,
        cgroups,
        spawner,
        runName,
      );
    }
  } else {
    isolation = new DirectIsolation(join(baseDir, 'runs'));
  }

  const cache = new CompileCache(join(baseDir, 'cache'), options.cacheMaxBytes);
  await cache.load();
  const toolchains = await probeToolchains(registry);
  const engine = new Engine(
    options,
    registry,
    toolchains,
    new Executor(isolation, cgroups, spawner, warm),
    cache,
    environment,
  );
  for (let slot = 0; slot < options.slots; slot++) warm?.refill(slot);
  return engine;
}
