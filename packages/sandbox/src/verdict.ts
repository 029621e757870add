/** From what the kernel and the launcher saw to a test verdict. */
import type { Checker, TestVerdict } from '@coderunner/protocol';
import { check } from './checkers.js';
import type { LaunchOutcome } from './launcher.js';
import { signalName } from './launcher.js';

/** The exit status and signal of the program itself, seen through the sandbox or directly. */
export function programStatus(
  outcome: LaunchOutcome,
  throughBwrap: boolean,
): {
  exitCode: number | null;
  signal: string | null;
} {
  if (outcome.signal !== null) return { exitCode: null, signal: outcome.signal };
  const code = outcome.exitCode;
  // The sandbox (bubblewrap, or the init of one made from a base) reports a program killed by
  // signal N as exit status 128 + N, as shells do.
  if (throughBwrap && code !== null && code > 128 && code < 128 + 65) {
    return { exitCode: null, signal: signalName(code - 128) };
  }
  return { exitCode: code, signal: null };
}

export interface Judgement {
  status: TestVerdict;
  message?: string;
}

/**
 * The verdict of one run, in order of precedence: output over its cap (the launcher killed it),
 * memory (the OOM killer, or the runtime's own out-of-memory error), time (CPU over the limit or
 * the wall clock ran out), a crash (non-zero exit or a signal), then the checker.
 */
export function judgeRun(options: {
  outcome: LaunchOutcome;
  exitCode: number | null;
  signal: string | null;
  cpuLimitMs: number;
  memoryErrors: readonly string[];
  checker: Checker;
  expected: string | undefined;
  stdout: string;
  stderr: string;
}): Judgement {
  const { outcome, exitCode, signal } = options;
  if (outcome.killedFor === 'output') return { status: 'output_limit_exceeded' };
  if (outcome.oomKilled) return { status: 'memory_limit_exceeded' };
  const crashed = exitCode !== 0 || signal !== null;
  if (crashed && options.memoryErrors.some((text) => options.stderr.includes(text))) {
    return { status: 'memory_limit_exceeded', message: 'the runtime ran out of memory' };
  }
  const cpuOver = outcome.cpuMs !== null && outcome.cpuMs > options.cpuLimitMs;
  if (outcome.killedFor === 'cpu' || outcome.killedFor === 'wall' || cpuOver) {
    return {
      status: 'time_limit_exceeded',
      ...(outcome.killedFor === 'wall' && !cpuOver ? { message: 'the wall-clock limit ran out' } : {}),
    };
  }
  if (crashed) {
    return {
      status: 'runtime_error',
      message: signal !== null ? `killed by ${signal}` : `exited with status ${exitCode}`,
    };
  }
  if (options.expected === undefined) return { status: 'success' };
  const result = check(options.checker, options.expected, options.stdout);
  return result.ok ? { status: 'success' } : { status: 'wrong_answer', message: result.message ?? '' };
}
