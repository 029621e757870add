import { describe, expect, it } from '@jest/globals';
import type { Checker } from '@coderunner/protocol';
import type { LaunchOutcome } from '../../src/launcher.js';
import { judgeRun, programStatus } from '../../src/verdict.js';

/** A run that exited 0 well within its limits. */
function outcome(overrides: Partial<LaunchOutcome> = {}): LaunchOutcome {
  return {
    exitCode: 0,
    signal: null,
    stdout: Buffer.from('42\n'),
    stderr: Buffer.alloc(0),
    stdoutBytes: 3,
    stderrBytes: 0,
    wallMs: 20,
    cpuMs: 10,
    memoryPeakKb: 2048,
    oomKilled: false,
    killedFor: undefined,
    started: true,
    ...overrides,
  };
}

const lines: Checker = { type: 'lines', ignoreCase: false };

type JudgeOptions = Parameters<typeof judgeRun>[0];

function judge(overrides: Partial<JudgeOptions> = {}): ReturnType<typeof judgeRun> {
  return judgeRun({
    outcome: outcome(),
    exitCode: 0,
    signal: null,
    cpuLimitMs: 1000,
    memoryErrors: ['MemoryError', 'java.lang.OutOfMemoryError'],
    checker: lines,
    expected: '42\n',
    stdout: '42\n',
    stderr: '',
    ...overrides,
  });
}

describe('judgeRun', () => {
  it('gives success for a clean exit with the expected output', () => {
    expect(judge()).toEqual({ status: 'success' });
  });

  it('uses the checker: trailing whitespace passes the lines checker', () => {
    expect(judge({ stdout: '42   \n\n' })).toEqual({ status: 'success' });
  });

  it('gives wrong_answer with the checker’s message when the output differs', () => {
    expect(judge({ stdout: '41\n' })).toEqual({
      status: 'wrong_answer',
      message: 'line 1: expected "42", got "41"',
    });
  });

  it('uses the checker it is given', () => {
    expect(judge({ checker: { type: 'exact' }, stdout: '42' }).status).toBe('wrong_answer');
    expect(
      judge({ checker: { type: 'float', absoluteEpsilon: 0.5, relativeEpsilon: 0 }, stdout: '42.4' }),
    ).toEqual({
      status: 'success',
    });
  });

  it('gives success to any output when there is no expected output', () => {
    expect(judge({ expected: undefined, stdout: 'anything' })).toEqual({ status: 'success' });
  });

  describe('precedence', () => {
    it('puts output over its cap before everything else', () => {
      const result = judge({
        outcome: outcome({
          killedFor: 'output',
          oomKilled: true,
          cpuMs: 5000,
          exitCode: null,
          signal: 'SIGKILL',
        }),
        exitCode: null,
        signal: 'SIGKILL',
        stderr: 'MemoryError',
      });
      expect(result).toEqual({ status: 'output_limit_exceeded' });
    });

    it('puts the OOM killer before time', () => {
      const result = judge({
        outcome: outcome({ oomKilled: true, killedFor: 'wall', cpuMs: 5000 }),
        exitCode: null,
        signal: 'SIGKILL',
      });
      expect(result).toEqual({ status: 'memory_limit_exceeded' });
    });

    it('puts time before a runtime error', () => {
      const result = judge({
        outcome: outcome({ killedFor: 'cpu', cpuMs: 1001 }),
        exitCode: null,
        signal: 'SIGKILL',
      });
      expect(result).toEqual({ status: 'time_limit_exceeded' });
    });

    it('puts a runtime error before the checker, even with the right output', () => {
      expect(judge({ exitCode: 1 })).toEqual({ status: 'runtime_error', message: 'exited with status 1' });
    });

    it('puts the OOM killer before a runtime error', () => {
      const result = judge({ outcome: outcome({ oomKilled: true }), exitCode: null, signal: 'SIGKILL' });
      expect(result.status).toBe('memory_limit_exceeded');
    });
  });

  describe('time', () => {
    it('gives time_limit_exceeded without a message when killed for CPU time', () => {
      expect(
        judge({ outcome: outcome({ killedFor: 'cpu', cpuMs: 1050 }), exitCode: null, signal: 'SIGKILL' }),
      ).toEqual({ status: 'time_limit_exceeded' });
    });

    it('gives time_limit_exceeded when the measured CPU time is over the limit, even after a clean exit', () => {
      expect(judge({ outcome: outcome({ cpuMs: 1000.5 }) })).toEqual({ status: 'time_limit_exceeded' });
    });

    it('accepts CPU time exactly at the limit', () => {
      expect(judge({ outcome: outcome({ cpuMs: 1000 }) })).toEqual({ status: 'success' });
    });

    it('does not judge time without a CPU measurement', () => {
      expect(judge({ outcome: outcome({ cpuMs: null }) })).toEqual({ status: 'success' });
    });

    it('says when the wall clock, not the CPU, ran out', () => {
      expect(
        judge({ outcome: outcome({ killedFor: 'wall', cpuMs: 3 }), exitCode: null, signal: 'SIGKILL' }),
      ).toEqual({
        status: 'time_limit_exceeded',
        message: 'the wall-clock limit ran out',
      });
    });

    it('does not blame the wall clock when the CPU time was over too', () => {
      expect(
        judge({ outcome: outcome({ killedFor: 'wall', cpuMs: 1500 }), exitCode: null, signal: 'SIGKILL' }),
      ).toEqual({ status: 'time_limit_exceeded' });
    });
  });

  describe('memory errors reported by the runtime', () => {
    it('gives memory_limit_exceeded for a memory error in stderr with a non-zero exit', () => {
      expect(judge({ exitCode: 1, stderr: 'Traceback (most recent call last):\nMemoryError\n' })).toEqual({
        status: 'memory_limit_exceeded',
        message: 'the runtime ran out of memory',
      });
    });

    it('gives memory_limit_exceeded for a memory error in stderr with a signal', () => {
      const stderr = 'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space';
      expect(judge({ exitCode: null, signal: 'SIGABRT', stderr }).status).toBe('memory_limit_exceeded');
    });

    it('ignores a memory error in stderr when the program exited 0', () => {
      expect(judge({ stderr: 'caught MemoryError, carrying on' })).toEqual({ status: 'success' });
    });

    it('gives a runtime error for other stderr, or without memory errors for the language', () => {
      expect(judge({ exitCode: 1, stderr: 'ValueError' }).status).toBe('runtime_error');
      expect(judge({ exitCode: 1, stderr: 'MemoryError', memoryErrors: [] }).status).toBe('runtime_error');
    });
  });

  describe('runtime errors', () => {
    it('names the signal that killed the program', () => {
      expect(judge({ exitCode: null, signal: 'SIGSEGV' })).toEqual({
        status: 'runtime_error',
        message: 'killed by SIGSEGV',
      });
    });

    it('names the exit status', () => {
      expect(judge({ exitCode: 3 })).toEqual({ status: 'runtime_error', message: 'exited with status 3' });
    });

    it('judges by the exit status it is given, not the raw one of the launcher', () => {
      // Through bubblewrap, the raw 139 is the program's SIGSEGV (see programStatus).
      const result = judge({ outcome: outcome({ exitCode: 139 }), exitCode: null, signal: 'SIGSEGV' });
      expect(result).toEqual({ status: 'runtime_error', message: 'killed by SIGSEGV' });
    });
  });
});

describe('programStatus', () => {
  it('maps bubblewrap’s exit status 128 + N to signal N', () => {
    expect(programStatus(outcome({ exitCode: 137 }), true)).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(programStatus(outcome({ exitCode: 139 }), true)).toEqual({ exitCode: null, signal: 'SIGSEGV' });
    expect(programStatus(outcome({ exitCode: 134 }), true)).toEqual({ exitCode: null, signal: 'SIGABRT' });
    expect(programStatus(outcome({ exitCode: 136 }), true)).toEqual({ exitCode: null, signal: 'SIGFPE' });
    expect(programStatus(outcome({ exitCode: 129 }), true)).toEqual({ exitCode: null, signal: 'SIGHUP' });
  });

  it('keeps exit statuses that are not 128 + a signal', () => {
    expect(programStatus(outcome({ exitCode: 0 }), true)).toEqual({ exitCode: 0, signal: null });
    expect(programStatus(outcome({ exitCode: 1 }), true)).toEqual({ exitCode: 1, signal: null });
    expect(programStatus(outcome({ exitCode: 128 }), true)).toEqual({ exitCode: 128, signal: null });
    expect(programStatus(outcome({ exitCode: 128 + 65 }), true)).toEqual({ exitCode: 193, signal: null });
    expect(programStatus(outcome({ exitCode: 255 }), true)).toEqual({ exitCode: 255, signal: null });
  });

  it('keeps 137 as an exit status when the program ran directly', () => {
    expect(programStatus(outcome({ exitCode: 137 }), false)).toEqual({ exitCode: 137, signal: null });
    expect(programStatus(outcome({ exitCode: 1 }), false)).toEqual({ exitCode: 1, signal: null });
  });

  it('lets a signal Node reported win, through bubblewrap or not', () => {
    expect(programStatus(outcome({ exitCode: null, signal: 'SIGKILL' }), true)).toEqual({
      exitCode: null,
      signal: 'SIGKILL',
    });
    expect(programStatus(outcome({ exitCode: null, signal: 'SIGTERM' }), false)).toEqual({
      exitCode: null,
      signal: 'SIGTERM',
    });
  });

  it('reports neither when there is neither', () => {
    expect(programStatus(outcome({ exitCode: null, signal: null }), true)).toEqual({
      exitCode: null,
      signal: null,
    });
  });
});
