/**
 * Runs one command in a sandbox from start to clean-up: a fresh cgroup with its limits, the
 * isolation's host command, the launch, then the whole cgroup killed and removed — in `finally`,
 * whatever happened.
 */
import type { CgroupManager } from './cgroup/types.js';
import { SandboxError } from './errors.js';
import type { IsolatedCommand, Isolation } from './isolation.js';
import { launch, runLimitsOf, type LaunchOutcome } from './launcher.js';
import { JOIN_FAILED_EXIT, JOIN_FAILED_MESSAGE, type Spawner } from './spawner.js';
import { WarmUnavailable } from './stub-process.js';
import type { WarmPool } from './warm.js';

export interface ExecuteRequest extends IsolatedCommand {
  stdin: string | Buffer;
  memoryBytes: number;
  pids: number;
  cpuLimitMs: number;
  wallLimitMs: number;
  stdoutLimit: number;
  stderrLimit: number;
  stderrOverflow: 'kill' | 'keep';
  stackKb: number;
  signal?: AbortSignal;
}

/** Numbers runs across every engine of the process, so that their cgroup names never collide. */
let runCounter = 0;

/**
 * A fresh cgroup name for a slot: `s<slot>-<pid>-<n>` for a run, `w<slot>-<pid>-<n>` for a
 * sandbox made ahead, `b…` for a base sandbox, `l…` for a lane's long-lived cgroup (the start-up
 * sweep relies on the pattern).
 */
export function runName(slot: number, kind: 's' | 'w' | 'b' | 'l' = 's'): string {
  return `${kind}${slot}-${process.pid}-${++runCounter}`;
}

/** How the test runs that could take a sandbox made ahead were served. */
export interface WarmStats {
  /** Took the slot's sandbox made ahead. */
  served: number;
  /** Found none that worked (it could not be made, or died) and set one up on the spot. */
  fellBack: number;
}

export class Executor {
  readonly warmStats: WarmStats = { served: 0, fellBack: 0 };

  constructor(
    readonly isolation: Isolation,
    private readonly cgroups: CgroupManager | undefined,
    /** Starts every sandbox's host process; ends with the executor. */
    private readonly spawner: Spawner,
    /** Sandboxes made ahead for test runs (bwrap only). */
    private readonly warm?: WarmPool,
  ) {}

  /** Ends the sandboxes made ahead, then the spawn helper. */
  async close(): Promise<void> {
    await this.warm?.close();
    await this.spawner.close();
  }

  /**
   * Runs a command in a sandbox. `reuse`: the run may take the slot's sandbox made ahead (test
   * runs); the slot gets a new one after the run.
   */
  async execute(request: ExecuteRequest, reuse = false): Promise<LaunchOutcome> {
    const plan = reuse ? this.warm?.planFor(request) : undefined;
    if (!this.warm || !plan) return this.executeCold(request);
    const sandbox = await this.warm.take(request.slot);
    try {
      if (sandbox) {
        const outcome = checked(await sandbox.run(request, plan), this.isolation.type);
        this.warmStats.served++;
        return outcome;
      }
    } catch (error) {
      if (!(error instanceof WarmUnavailable)) throw asStartFailure(error);
    } finally {
      // The run's processes are dead by now (its cgroup was emptied): removing the rest need
      // not hold the result back.
      this.warm.release(request.slot, sandbox);
    }
    this.warmStats.fellBack++;
    return this.executeCold(request);
  }

  private async executeCold(request: ExecuteRequest): Promise<LaunchOutcome> {
    const runId = runName(request.slot);
    const cgroup = await this.cgroups
      ?.create(runId, { memoryBytes: request.memoryBytes, pids: request.pids })
      .catch((error: unknown) => {
        throw new SandboxError(
          'CGROUP_FAILED',
          `cannot create the run's cgroup: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      });
    let prepared;
    try {
      prepared = await this.isolation.prepare(request, runId);
      const outcome = await launch(this.spawner, {
        ...prepared,
        stackKb: request.stackKb,
        ...runLimitsOf(request),
        ...(cgroup ? { cgroup } : {}),
      });
      return checked(outcome, this.isolation.type);
    } catch (error) {
      throw asStartFailure(error);
    } finally {
      await prepared?.cleanup().catch(() => undefined);
      if (cgroup) {
        await cgroup.killAll().catch(() => undefined);
        await cgroup.remove().catch(() => undefined);
      }
    }
  }
}

/** The outcome, unless it shows a cancelled job or a sandbox that failed before the program. */
function checked(outcome: LaunchOutcome, isolation: Isolation['type']): LaunchOutcome {
  if (outcome.killedFor === 'cancelled') throw new SandboxError('CANCELLED', 'the job was cancelled');
  // The spawn helper's child could not join the cgroup or drop its privileges.
  const joinFailed =
    outcome.exitCode === JOIN_FAILED_EXIT &&
    outcome.stderr.subarray(0, JOIN_FAILED_MESSAGE.length).toString() === JOIN_FAILED_MESSAGE;
  // bubblewrap reports its pid before it sets the sandbox up, so a set-up failure shows only
  // as its own message and status 1. (A program that imitates it only fails its own job.)
  const setupFailed =
    isolation === 'bwrap' &&
    outcome.exitCode === 1 &&
    outcome.stdoutBytes === 0 &&
    outcome.stderr.subarray(0, 7).toString() === 'bwrap: ';
  if (!outcome.started || joinFailed || setupFailed) {
    const detail = outcome.stderr.toString('utf8').trim().split('\n').slice(-3).join(' / ');
    throw new SandboxError(
      'SANDBOX_START_FAILED',
      `the sandbox could not start the program: ${detail || 'no detail'}`,
    );
  }
  return outcome;
}

function asStartFailure(error: unknown): SandboxError {
  if (error instanceof SandboxError) return error;
  return new SandboxError('SANDBOX_START_FAILED', `the sandbox failed: ${(error as Error).message}`, {
    cause: error,
  });
}
