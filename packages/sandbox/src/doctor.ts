/**
 * Which protections are in effect on this host, and why any is missing. Never throws: every
 * finding is a check with a verdict and a sentence.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import { promisify } from 'node:util';
import { createEngine, type Engine } from './engine.js';
import type { EngineOptions } from './options.js';
import type { WarmStats } from './executor.js';
import { SPAWN_HELPER_PATH } from './spawner.js';
import { STUB_PATH } from './system-view.js';
import { findExecutable } from './which.js';

const run = promisify(execFile);

export interface DoctorCheck {
  name: string;
  /** `ok`: in effect; `warn`: works, with less protection or measurement; `fail`: does not work. */
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

export interface DoctorReport {
  /** No check failed. */
  ok: boolean;
  checks: DoctorCheck[];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function readNumber(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : Number(text.trim());
}

async function userNamespaces(): Promise<DoctorCheck> {
  const max = await readNumber('/proc/sys/user/max_user_namespaces');
  const apparmor = await readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  if (max === 0) {
    return { name: 'user namespaces', status: 'fail', detail: 'disabled: user.max_user_namespaces is 0' };
  }
  if (apparmor === 1) {
    return {
      name: 'user namespaces',
      status: 'fail',
      detail: 'restricted by AppArmor: set kernel.apparmor_restrict_unprivileged_userns=0',
    };
  }
  return { name: 'user namespaces', status: 'ok', detail: `enabled (max ${max ?? 'unknown'})` };
}

/** The smallest program that compiles and exits 0, for the languages that ship with the engine. */
const SMALLEST: Record<string, string> = {
  c: 'int main(void){return 0;}',
  cpp: 'int main(){return 0;}',
  go: 'package main\nfunc main(){}',
  python: 'pass',
  java: 'public class Main{public static void main(String[] a){}}',
  javascript: '',
};

async function liveRun(engine: Engine): Promise<DoctorCheck> {
  const language = engine.languages().find((l) => l.available && l.id in SMALLEST);
  if (!language)
    return { name: 'sandboxed run', status: 'fail', detail: 'no language is installed to try one' };
  try {
    const result = await engine.judge({
      id: 'doctor',
      language: language.id,
      code: SMALLEST[language.id] ?? '',
      files: [],
      testCases: [{ id: 'probe', input: '' }],
      limits: { timeInMs: 5000, wallTimeInMs: 10_000, memoryInKb: 262_144, outputInKb: 64 },
      checker: { type: 'exact' },
      stopOnFirstFailure: false,
    });
    return result.status === 'success'
      ? { name: 'sandboxed run', status: 'ok', detail: `compiled and ran a ${language.id} program` }
      : {
          name: 'sandboxed run',
          status: 'fail',
          detail:
            `a ${language.id} program that should exit 0 got ${result.status} (compile: ${result.compile.status}) ${result.compile.output ?? ''} ${result.tests[0]?.error ?? ''}`.trim(),
        };
  } catch (error) {
    return { name: 'sandboxed run', status: 'fail', detail: (error as Error).message };
  }
}

/** Whether the live run's test took a sandbox made ahead (made from its slot's base sandbox). */
function warmCheck(stats: WarmStats): DoctorCheck {
  const name = 'sandboxes made ahead';
  if (stats.served > 0 && stats.fellBack === 0)
    return { name, status: 'ok', detail: "test runs take one, made from their slot's base sandbox" };
  return {
    name,
    status: 'warn',
    detail:
      'they cannot start here, so every test run sets its sandbox up on the spot (slower): the stub the spawn helper starts must be allowed setns, mount and unshare (see the deployment seccomp profile)',
  };
}

export async function doctor(options: EngineOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const type = options.sandboxType ?? 'bwrap';
  checks.push(
    type === 'bwrap'
      ? { name: 'sandbox type', status: 'ok', detail: 'bwrap: every compile and run is isolated' }
      : {
          name: 'sandbox type',
          status: 'warn',
          detail: 'direct: NO ISOLATION — programs run as the worker, for development only',
        },
  );
  const root = process.getuid?.() === 0;
  checks.push({
    name: 'root',
    status: root ? 'ok' : type === 'bwrap' ? 'fail' : 'warn',
    detail: root
      ? 'running as root: each slot gets its own uid'
      : 'not root: no per-slot uid, no cgroup limits',
  });
  const bwrap = await findExecutable('bwrap');
  const version = bwrap ? (await run(bwrap, ['--version']).catch(() => ({ stdout: '' }))).stdout.trim() : '';
  checks.push(
    bwrap
      ? { name: 'bubblewrap', status: 'ok', detail: `${version || 'bwrap'} at ${bwrap}` }
      : {
          name: 'bubblewrap',
          status: type === 'bwrap' ? 'fail' : 'warn',
          detail: 'not installed (apt-get install bubblewrap)',
        },
  );
  for (const [name, path] of [
    ['spawn helper', SPAWN_HELPER_PATH],
    ['sandbox stub', STUB_PATH],
  ] as const) {
    checks.push(
      isExecutable(path)
        ? { name, status: 'ok', detail: path }
        : { name, status: 'fail', detail: `${path} is missing: build it with pnpm build (needs gcc)` },
    );
  }
  checks.push(await userNamespaces());

  let engine: Engine | undefined;
  try {
    engine = await createEngine({ ...options, cacheMaxBytes: options.cacheMaxBytes ?? 0 });
  } catch (error) {
    checks.push({ name: 'engine', status: 'fail', detail: (error as Error).message });
  }
  if (engine) {
    const cg = engine.environment.cgroups;
    checks.push(
      'problem' in cg
        ? {
            name: 'cgroups',
            status: type === 'bwrap' ? 'fail' : 'warn',
            detail: `${cg.problem}: no memory, pids or CPU accounting`,
          }
        : {
            name: 'cgroups',
            status: 'ok',
            detail: `v${cg.version}: memory (swap off), pids, CPU accounting at ${cg.location}`,
          },
    );
    const { netns } = engine.environment;
    if (netns) {
      checks.push({
        name: 'network',
        status: 'ok',
        detail:
          netns === 'slot'
            ? 'none: each slot keeps one empty network namespace (loopback down)'
            : 'none: a new network namespace per run (without CAP_SYS_ADMIN the worker cannot keep one per slot, which is faster)',
      });
    }
    for (const language of engine.languages()) {
      checks.push({
        name: `language ${language.id}`,
        status: language.available ? 'ok' : 'warn',
        detail: language.available
          ? (language.version ?? '')
          : `not offered: ${language.reason ?? 'unavailable'}`,
      });
    }
    const fs = await statfs(engine.options.baseDir).catch(() => undefined);
    checks.push(
      fs
        ? {
            name: 'base dir',
            status: 'ok',
            detail: `${engine.options.baseDir}: ${Math.floor((fs.bavail * fs.bsize) / 1048576)} MiB free`,
          }
        : { name: 'base dir', status: 'fail', detail: `${engine.options.baseDir} is not usable` },
    );
    checks.push(await liveRun(engine));
    if (type === 'bwrap' && engine.options.warmSandboxes) checks.push(warmCheck(engine.warmStats));
    await engine.close();
  }
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}
