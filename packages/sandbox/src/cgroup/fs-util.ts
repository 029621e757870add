// Synchronous calls on purpose: cgroupfs files live in memory and answer at once, and a sync
// call costs a fraction of the CPU of a promise round trip through the thread pool (several per
// run, on every run).
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A synchronous call as a promise (rejected with what it throws). */
function settle<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Reads a cgroup file as text. */
export function readText(path: string): Promise<string> {
  return settle(() => readFileSync(path, 'utf8'));
}

/** Writes a cgroup control file (which must exist: cgroupfs files are never created). */
export function writeControl(path: string, value: string | number): Promise<void> {
  return settle(() => writeFileSync(path, String(value), { flag: 'r+' }));
}

/** A `key value` line of a flat-keyed cgroup file (`memory.events`, `cpu.stat`, …). */
export function keyedValue(text: string, key: string): number | undefined {
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name === key && value !== undefined) return Number(value);
  }
  return undefined;
}

/** Makes a directory (and its parents) unless it exists; resolves whether it made one. */
export function mkdirIfMissing(path: string): Promise<boolean> {
  return settle(() => mkdirSync(path, { recursive: true }) !== undefined);
}

/** Pids listed in a `cgroup.procs` file. */
export async function procsOf(procsFile: string): Promise<number[]> {
  const text = await readText(procsFile).catch(() => '');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

/**
 * SIGKILLs every process listed in `procsFile` until the list stays empty. Without
 * `cgroup.kill`, a forking process can add a child between the read and the kill, hence the loop.
 */
export async function killLoop(procsFile: string, attempts = 200): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const pids = await procsOf(procsFile);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(i < 10 ? 1 : 5);
  }
  throw new Error(`processes of ${procsFile} survive SIGKILL`);
}

/** rmdir that waits for exiting processes to leave (EBUSY) for a little while. */
export async function removeDir(path: string, attempts = 100): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= attempts) throw error;
      await sleep(i < 10 ? 1 : 5);
    }
  }
}
