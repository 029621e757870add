/** Options of the engine, each with its default. */
import { SandboxError } from './errors.js';
import type { Registry } from './registry.js';

export type SandboxType = 'bwrap' | 'direct';

export interface EngineOptions {
  /**
   * `bwrap` isolates every compile and run (needs root, bubblewrap, the spawn helper, user namespaces and
   * writable cgroups); `direct` runs programs as the worker with no isolation, for development.
   * Default `bwrap`.
   */
  sandboxType?: SandboxType;
  /** Where the engine keeps its files: compile cache, job sources. Default `/tmp/runner_sandbox`. */
  baseDir?: string;
  /** How many jobs may run at once; each slot has its own host uid. Default 2. */
  slots?: number;
  /** First host uid of the slots: slot n runs as `uidBase + 2n` and `uidBase + 2n + 1`. Default 61000. */
  uidBase?: number;
  /** The language registry. Default: the `languages.yaml` that ships with the package. */
  registry?: Registry;
  /** Wall-clock (and CPU) limit of a compile. Default 45 000 ms. */
  compileTimeoutMs?: number;
  /** Compiler output kept for the result. Default 64 KiB. */
  compileOutputLimitBytes?: number;
  /** Bytes of files a compile may leave for the runs. Default 128 MiB. */
  artifactMaxBytes?: number;
  /** Files a compile may leave for the runs. Default 1000. */
  artifactMaxFiles?: number;
  /** Size of the compile cache; 0 keeps nothing after a job. Default 512 MiB. */
  cacheMaxBytes?: number;
  /** Size of a run's writable work dir (tmpfs). Default 64 MiB. */
  runWorkDirBytes?: number;
  /** Size of a run's /tmp (tmpfs). Default 64 MiB. */
  runTmpBytes?: number;
  /** Size of a compile's work dir and of its /tmp (tmpfs, each). Default 512 MiB. */
  compileTmpBytes?: number;
  /** Name of the engine's parent cgroup in each hierarchy. Default `coderunner`. */
  cgroupName?: string;
  /**
   * Set up each slot's next test-run sandbox ahead of time, off the critical path (bwrap only).
   * Default true.
   */
  warmSandboxes?: boolean;
}

export type ResolvedEngineOptions = Required<Omit<EngineOptions, 'registry'>>;

function check(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new SandboxError('OPTIONS_INVALID', `${name} must be an integer of at least ${min}, got ${value}`);
  }
}

/** Fills in the defaults and checks every value. */
export function withDefaults(options: EngineOptions): ResolvedEngineOptions {
  const resolved: ResolvedEngineOptions = {
    sandboxType: options.sandboxType ?? 'bwrap',
    baseDir: options.baseDir ?? '/tmp/runner_sandbox',
    slots: options.slots ?? 2,
    uidBase: options.uidBase ?? 61000,
    compileTimeoutMs: options.compileTimeoutMs ?? 45_000,
    compileOutputLimitBytes: options.compileOutputLimitBytes ?? 64 * 1024,
    artifactMaxBytes: options.artifactMaxBytes ?? 128 * 1024 * 1024,
    artifactMaxFiles: options.artifactMaxFiles ?? 1000,
    cacheMaxBytes: options.cacheMaxBytes ?? 512 * 1024 * 1024,
    runWorkDirBytes: options.runWorkDirBytes ?? 64 * 1024 * 1024,
    runTmpBytes: options.runTmpBytes ?? 64 * 1024 * 1024,
    compileTmpBytes: options.compileTmpBytes ?? 512 * 1024 * 1024,
    cgroupName: options.cgroupName ?? 'coderunner',
    warmSandboxes: options.warmSandboxes ?? true,
  };
  if (!['bwrap', 'direct'].includes(resolved.sandboxType)) {
    throw new SandboxError(
      'OPTIONS_INVALID',
      `sandboxType must be bwrap or direct, got ${String(resolved.sandboxType)}`,
    );
  }
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(resolved.cgroupName)) {
    throw new SandboxError(
      'OPTIONS_INVALID',
      `cgroupName must be a plain name (letters, digits, _ or -), got ${resolved.cgroupName}`,
    );
  }
  check('slots', resolved.slots, 1);
  check('uidBase', resolved.uidBase, 1);
  for (const name of [
    'compileTimeoutMs',
    'compileOutputLimitBytes',
    'artifactMaxBytes',
    'artifactMaxFiles',
  ] as const) {
    check(name, resolved[name], 1);
  }
  for (const name of ['cacheMaxBytes', 'runWorkDirBytes', 'runTmpBytes', 'compileTmpBytes'] as const) {
    check(name, resolved[name], 0);
  }
  return resolved;
}
