/** Shared helpers of the sandbox's integration tests (they need root, bubblewrap and cgroups). */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checker, NormalizedSubmission, NormalizedTestCase, ResolvedLimits } from '@coderunner/protocol';
import { createEngine, type Engine, type EngineOptions } from '../src/index.js';

/** Test engines use their own uid range, apart from any worker running on the same host. */
export const TEST_UID_BASE = 62000;

let counter = 0;

/** An engine on a fresh base dir; `dispose` closes it and removes the dir. */
export async function testEngine(
  options: EngineOptions = {},
): Promise<{ engine: Engine; baseDir: string; dispose: () => Promise<void> }> {
  const baseDir = await mkdtemp(join(tmpdir(), 'coderunner-sandbox-test-'));
  const engine = await createEngine({ uidBase: TEST_UID_BASE, slots: 2, ...options, baseDir });
  return {
    engine,
    baseDir,
    dispose: async () => {
      await engine.close();
      await rm(baseDir, { recursive: true, force: true });
    },
  };
}

export const DEFAULT_TEST_LIMITS: ResolvedLimits = {
  timeInMs: 2000,
  wallTimeInMs: 6000,
  memoryInKb: 256 * 1024,
  outputInKb: 64,
};

/** A normalized submission with sensible defaults. */
export function submission(
  language: string,
  code: string,
  testCases: NormalizedTestCase[] = [{ id: 't1', input: '' }],
  overrides: Partial<Omit<NormalizedSubmission, 'limits'>> & { limits?: Partial<ResolvedLimits> } = {},
): NormalizedSubmission {
  const checker: Checker = { type: 'lines', ignoreCase: false };
  const { limits, ...rest } = overrides;
  return {
    id: `test-${process.pid}-${++counter}`,
    language,
    code,
    files: [],
    testCases,
    checker,
    stopOnFirstFailure: false,
    ...rest,
    limits: { ...DEFAULT_TEST_LIMITS, ...limits },
  };
}

/** The text of a fixture under test/fixtures. */
export function fixture(path: string): string {
  return readFileSync(new URL(`./fixtures/${path}`, import.meta.url), 'utf8');
}

/**
 * Whether a process is part of a sandbox made ahead or of a base sandbox (its cgroup is a `w…`
 * or `b…` one): no program ran there.
 */
function inWarmSandbox(pid: string): boolean {
  return /\/coderunner\/[wb]\d+-/.test(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
}

/**
 * Host pids of live processes whose real uid is in [from, to), the waiting sandboxes made ahead
 * and the base sandboxes excepted unless `waiting`. Zombies are left out: they run nothing and hold nothing, and bubblewrap's exited
 * init is reaped by the host's pid 1 a moment after the run (in a container, by its init).
 */
export function processesOfUids(from: number, to: number, { waiting = false } = {}): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      const zombie = /^State:\s+Z/m.test(status);
      if (uid >= from && uid < to && !zombie && (waiting || !inWarmSandbox(name))) pids.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/**
 * Run cgroups this test process created and did not remove, in any v1 hierarchy or v2 (the
 * sandboxes made ahead, `w…`, are meant to be there).
 */
export function leftoverCgroups(): string[] {
  const left: string[] = [];
  for (const root of [
    '/sys/fs/cgroup/memory',
    '/sys/fs/cgroup/pids',
    '/sys/fs/cgroup/cpuacct',
    '/sys/fs/cgroup',
  ]) {
    try {
      for (const name of readdirSync(join(root, 'coderunner'))) {
        if (name.startsWith('s') && name.includes(`-${process.pid}-`))
          left.push(join(root, 'coderunner', name));
      }
    } catch {
      // No such hierarchy here.
    }
  }
  return left;
}
