/**
 * A sandbox with the stub inside (native/coderunner-stub.c), seen from the host: the stub's
 * messages, its answer, and the sandbox's end. Shared by the sandboxes made ahead (warm.ts) and
 * the base sandboxes they are made from (base-sandbox.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Spawned } from './launcher.js';

/** How long the stub may take to answer (ms). */
const ANSWER_TIMEOUT_MS = 5000;

/** The warm path cannot serve this run (the sandbox died or refused): run it cold instead. */
export class WarmUnavailable extends Error {
  override name = 'WarmUnavailable';
}

/** A message to the stub: NUL-terminated fields, each a letter and its text, then an empty one. */
export function stubMessage(fields: readonly string[]): Buffer {
  return Buffer.from(`${fields.map((field) => `${field}\0`).join('')}\0`);
}

/** The directories and files a run's inputs make in the sandbox's work dir, parents first. */
export interface Placement {
  dirs: string[];
  files: { host: string; name: string; size: number; mode: number }[];
}

/** The stub's first message: the dirs and (empty, sandbox-owned) files to make, parents first. */
export function createMessage(placement: Placement): Buffer {
  return stubMessage([
    ...placement.dirs.map((dir) => `d${dir}`),
    ...placement.files.map((f) => `f${f.name}`),
  ]);
}

/**
 * Waits for the stub's `C` on standard output (paused again afterwards), or fails with
 * WarmUnavailable when `what` (the sandbox, named for the message) ends or stays silent.
 */
export function stubAnswer({ child }: Spawned, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.stdout?.pause();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void =>
      done(chunk.toString() === 'C' ? undefined : new WarmUnavailable(`${what} answered oddly`));
    const onExit = (): void => done(new WarmUnavailable(`${what} ended before it answered`));
    const timer = setTimeout(() => done(new WarmUnavailable(`${what} did not answer`)), ANSWER_TIMEOUT_MS);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Ends a sandbox: its first process goes first, so that the process outside (bubblewrap, or the
 * spawn helper's child that made it) reaps it and exits, and is reaped by the helper in turn:
 * killed all at once they would linger as zombies for the host's init.
 */
export async function endSandbox({ child, childPid }: Spawned): Promise<void> {
  if (child.exited) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const pid = await Promise.race([childPid, exited.then(() => undefined), sleep(1000).then(() => undefined)]);
  try {
    // While the process outside runs, its child's pid cannot have been reused (it would be a zombie).
    if (pid !== undefined && !child.exited) process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
  if (!child.exited) await exited;
  clearTimeout(timer);
}
