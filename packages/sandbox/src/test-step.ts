/** One test run: the compiled program, its input, its limits, and the verdict. */
import { join } from 'node:path';
import type { NormalizedSubmission, NormalizedTestCase, TestResult } from '@coderunner/protocol';
import { topLevelEntries } from './artifacts.js';
import type { CacheEntry } from './compile-cache.js';
import type { Executor } from './executor.js';
import { SANDBOX_PATH, type WorkFile } from './isolation.js';
import type { ResolvedEngineOptions } from './options.js';
import { expandTemplate, type Command, type Language } from './registry.js';
import { judgeRun, programStatus } from './verdict.js';

/**
 * The files a run of a cache entry gets, made once per entry: an entry's files never change
 * while it is cached, and every test of a submission (and every later one of the same program)
 * runs them.
 */
const entryFiles = new WeakMap<CacheEntry, WorkFile[]>();
function filesOf(entry: CacheEntry): WorkFile[] {
  let files = entryFiles.get(entry);
  if (!files) {
    files = topLevelEntries(entry.files).map((name) => ({ host: join(entry.dir, name), name }));
    entryFiles.set(entry, files);
  }
  return files;
}

export interface TestContext {
  options: ResolvedEngineOptions;
  executor: Executor;
  language: Language;
  slot: number;
  entry: CacheEntry;
  signal?: AbortSignal;
}

/** A language's run command and environment for a memory limit (its templates expanded). */
interface RunSpec {
  readonly command: Command;
  readonly env: Readonly<Record<string, string>>;
}

/** Memory limits whose run spec a language keeps (most submissions use a few). */
const MAX_SPECS_PER_LANGUAGE = 32;
const runSpecs = new WeakMap<Language, Map<number, RunSpec>>();

/**
 * A language's run spec for a memory limit, made once and frozen: the runs that share it share
 * the stub's program message too (`ProgramMessages` in warm.ts keys it by these objects).
 */
function runSpecOf(language: Language, memoryKb: number): RunSpec {
  let specs = runSpecs.get(language);
  if (!specs) runSpecs.set(language, (specs = new Map<number, RunSpec>()));
  let spec = specs.get(memoryKb);
  if (!spec) {
    const run = language.run;
    const runEnv = Object.fromEntries(
      Object.entries(language.runEnv).map(([name, value]) => [name, expandTemplate(value, memoryKb)]),
    );
    spec = Object.freeze({
      command: Object.freeze(
        typeof run === 'string'
          ? expandTemplate(run, memoryKb)
          : run.map((arg) => expandTemplate(arg, memoryKb)),
      ),
      env: Object.freeze({
        PATH: SANDBOX_PATH,
        LANG: 'C.UTF-8',
        HOME: '/tmp',
        TMPDIR: '/tmp',
        ...language.env,
        ...runEnv,
      }),
    });
    if (specs.size >= MAX_SPECS_PER_LANGUAGE) specs.clear();
    specs.set(memoryKb, spec);
  }
  return spec;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/** Runs one test case and judges it. */
export async function runTest(
  submission: NormalizedSubmission,
  test: NormalizedTestCase,
  index: number,
  ctx: TestContext,
): Promise<TestResult> {
  const { language, limits } = { language: ctx.language, limits: submission.limits };
  const spec = runSpecOf(language, limits.memoryInKb);
  const outputLimit = limits.outputInKb * 1024;
  const outcome = await ctx.executor.execute(
    {
      slot: ctx.slot,
      command: submission.customCommands?.runCommand ?? spec.command,
      env: spec.env,
      files: filesOf(ctx.entry),
      roBinds: language.roBinds,
      workDirBytes: ctx.options.runWorkDirBytes,
      tmpBytes: ctx.options.runTmpBytes,
      stdin: test.input,
      memoryBytes: (limits.memoryInKb + language.limits.memoryOverheadMb * 1024) * 1024,
      pids: language.limits.pids,
      cpuLimitMs: limits.timeInMs,
      wallLimitMs: limits.wallTimeInMs,
      stdoutLimit: outputLimit,
      stderrLimit: outputLimit,
      stderrOverflow: 'kill',
      stackKb: limits.memoryInKb,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
    true,
  );
  const { exitCode, signal } = programStatus(outcome, ctx.executor.isolation.type === 'bwrap');
  const stdout = outcome.stdout.toString('utf8');
  const stderr = outcome.stderr.toString('utf8');
  const judgement = judgeRun({
    outcome,
    exitCode,
    signal,
    cpuLimitMs: limits.timeInMs,
    memoryErrors: language.memoryErrors,
    checker: submission.checker,
    expected: test.expectOutput,
    stdout,
    stderr,
  });
  const truncated =
    outcome.stdoutBytes > outcome.stdout.length || outcome.stderrBytes > outcome.stderr.length;
  return {
    testCaseId: test.id,
    index,
    status: judgement.status,
    // Without a cgroup (direct mode as a non-root user) the wall time is the only measure.
    timeUsedInMs: round(outcome.cpuMs ?? outcome.wallMs),
    wallTimeInMs: round(outcome.wallMs),
    memoryUsedInKb: outcome.memoryPeakKb ?? 0,
    exitCode,
    signal,
    output: stdout,
    error: stderr,
    ...(truncated ? { truncated: true } : {}),
    ...(judgement.message !== undefined ? { message: judgement.message } : {}),
  };
}

/** The result of a test that was not run (after a compile error or an earlier failure). */
export function skippedTest(test: NormalizedTestCase, index: number): TestResult {
  return {
    testCaseId: test.id,
    index,
    status: 'skipped',
    timeUsedInMs: 0,
    wallTimeInMs: 0,
    memoryUsedInKb: 0,
    exitCode: null,
    signal: null,
    output: '',
    error: '',
  };
}
