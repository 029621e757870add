// What the benchmarks that run workers share: a worker process started from a checkout, waiting
// until workers answer, and the CPU time of a process and of its spawn helper.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WORKER_NODE_OPTIONS } from '../../packages/worker/dist/index.js';

/**
 * Starts a worker (2 slots, errors-only logs on this process's standard error) from `checkout`,
 * with its sandboxes under `dir` and slot uids from `uidBase`; `nodeArgs` go to node before the
 * script (by default the options `start.sh` and the image start a worker with).
 */
export function spawnWorker({
  checkout,
  natsUrl,
  dir,
  uidBase,
  warm = true,
  nodeArgs = WORKER_NODE_OPTIONS,
}) {
  return spawn(process.execPath, [...nodeArgs, join(checkout, 'packages/worker/dist/bin.js')], {
    env: {
      ...process.env,
      RUNNER_NATS_URL: natsUrl,
      RUNNER_RUNNER_SANDBOXBASEDIR: dir,
      RUNNER_RUNNER_UIDBASE: String(uidBase),
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_RUNNER_WARMSANDBOXES: String(warm),
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
    },
    // The worker logs (JSON) to standard output: keep them on this one's standard error.
    stdio: ['ignore', 2, 2],
  });
}

/** Resolves once a worker answers the client's `languages` request (20 s at most). */
export async function waitReady(client) {
  let last;
  for (let i = 0; i < 100; i++) {
    try {
      await client.languages(1000);
      return;
    } catch (error) {
      last = error;
      await sleep(200);
    }
  }
  throw new Error(`no worker answered: ${last?.message}`);
}

/**
 * CPU time (ms) of a process itself, its children (the sandboxed programs) excluded; with
 * `reaped`, also that of every descendant it has reaped (each counting those it reaped in turn).
 */
export function processCpuMs(pid, { reaped = false } = {}) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks =
    Number(fields[11]) + Number(fields[12]) + (reaped ? Number(fields[13]) + Number(fields[14]) : 0);
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

/** The pids of a process's children named `comm` (as /proc shows it, cut at 15 characters). */
export function childrenNamed(pid, comm) {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .split(' ')
    .filter(Boolean)
    .filter((child) => {
      try {
        return readFileSync(`/proc/${child}/comm`, 'utf8').trim() === comm.slice(0, 15);
      } catch {
        return false;
      }
    })
    .map(Number);
}
