/**
 * Sandboxes made ahead (one per slot, off the critical path): each serves one run with a fresh
 * work dir, the slot's two uids take turns, a dead one is replaced and its run goes the cold way, the engine leaves none behind
 * when it closes, and with them off every run is made cold.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Engine } from '../src/index.js';
import { processesOfUids, submission, testEngine } from './helpers.js';

const UID_BASE = 62200;
const PIDS = '/sys/fs/cgroup/pids/coderunner';

/** The cgroups of sandboxes made ahead by this process, by name. */
function warmCgroups(): string[] {
  return readdirSync(PIDS).filter((name) => /^w\d+-/.test(name) && name.includes(`-${process.pid}-`));
}

function warmProcesses(name: string): number[] {
  return readFileSync(join(PIDS, name, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

/** Live processes of the slots' uids (two per slot, two slots), waiting sandboxes included. */
const slotProcesses = (): number[] => processesOfUids(UID_BASE, UID_BASE + 4, { waiting: true });

/** Both slots have a sandbox waiting: bubblewrap outside, its first process, and the stub. */
const bothWaiting = (): boolean =>
  warmCgroups().length === 2 && warmCgroups().every((name) => warmProcesses(name).length >= 3);

/** The host uids of the live processes named `comm` among the slots' uids. */
function programUids(comm: string): number[] {
  return processesOfUids(UID_BASE, UID_BASE + 4, { waiting: true }).flatMap((pid) => {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return [];
      return [Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1])];
    } catch {
      return [];
    }
  });
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const started = Date.now(); !check();) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Prints whether the previous run's marks are here, then leaves marks in /box and /tmp.
const MARKS = `#include <stdio.h>
#include <unistd.h>
int main(void){
  printf("%s %s %s\\n", access("./main", X_OK) == 0 ? "exec" : "noexec",
         access("mark", F_OK) == 0 ? "dirty" : "fresh", access("/tmp/mark", F_OK) == 0 ? "dirty" : "fresh");
  fclose(fopen("mark", "w")); fclose(fopen("/tmp/mark", "w"));
  return 0;
}`;

describe('with sandboxes made ahead', () => {
  let engine: Engine;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ engine, dispose } = await testEngine({ uidBase: UID_BASE }));
  });
  afterAll(() => dispose());

  it('has one waiting per slot once started', async () => {
    await until(bothWaiting);
    expect(
      warmCgroups()
        .map((name) => name.split('-')[0])
        .sort(),
    ).toEqual(['w0', 'w1']);
  });

  it('gives every run its own: files in place and executable, nothing of the run before', async () => {
    const before = warmCgroups();
    const result = await engine.judge(
      submission('c', MARKS, [
        { id: 'a', input: '', expectOutput: 'exec fresh fresh' },
        { id: 'b', input: '', expectOutput: 'exec fresh fresh' },
        { id: 'c', input: '', expectOutput: 'exec fresh fresh' },
      ]),
    );
    expect(result.tests.map((t) => [t.status, t.output.trim()])).toEqual([
      ['success', 'exec fresh fresh'],
      ['success', 'exec fresh fresh'],
      ['success', 'exec fresh fresh'],
    ]);
    // The slot's waiting sandbox was taken (each run took one), and another made.
    await until(() => warmCgroups().length === 2);
    expect(warmCgroups().filter((name) => before.includes(name))).toHaveLength(1);
  });

  it('takes the slot’s two uids in turn, the next sandbox made while a program runs', async () => {
    await until(bothWaiting);
    const code = '#include <unistd.h>\nint main(void){usleep(300000);return 0;}';
    // Seen from the host while the tests run: the uid of each program, and the warm cgroups.
    const uids: number[] = [];
    let most = 0;
    const watch = setInterval(() => {
      most = Math.max(most, warmCgroups().length);
      for (const uid of programUids('main')) if (uids.at(-1) !== uid - UID_BASE) uids.push(uid - UID_BASE);
    }, 20);
    const result = await engine.judge(
      submission('c', code, [
        { id: 'a', input: '' },
        { id: 'b', input: '' },
        { id: 'c', input: '' },
      ]),
    );
    clearInterval(watch);
    expect(result.status).toBe('success');
    const slot = Math.floor((uids[0] as number) / 2);
    expect(uids.map((uid) => Math.floor(uid / 2))).toEqual([slot, slot, slot]);
    expect(uids.map((uid) => uid % 2)).toEqual(uids[0] === 2 * slot ? [0, 1, 0] : [1, 0, 1]);
    // The other slot's waiting sandbox, the running one and the next one of the run's slot.
    expect(most).toBe(3);
  });

  it('replaces those that died while waiting, a run meanwhile going the cold way', async () => {
    await until(bothWaiting);
    for (const name of warmCgroups()) {
      for (const pid of warmProcesses(name)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone with its parent already (bubblewrap's --die-with-parent).
        }
      }
    }
    const result = await engine.judge(
      submission('c', '#include <stdio.h>\nint main(void){puts("still here");return 0;}', [
        { id: 'a', input: '', expectOutput: 'still here' },
      ]),
    );
    expect(result.status).toBe('success');
    // Both slots have one again: the run's slot after the run, the other without any run.
    await until(bothWaiting);
  });

  it('leaves no process and no cgroup behind when the engine closes', async () => {
    await until(bothWaiting);
    expect(slotProcesses().length).toBeGreaterThan(0);
    await engine.close();
    await until(() => slotProcesses().length === 0);
    expect(warmCgroups()).toEqual([]);
  });
});

describe('with sandboxes made ahead turned off', () => {
  it('makes every run cold, with the same verdicts', async () => {
    const { engine, dispose } = await testEngine({ uidBase: UID_BASE, warmSandboxes: false });
    try {
      const result = await engine.judge(
        submission('c', MARKS, [
          { id: 'a', input: '', expectOutput: 'exec fresh fresh' },
          { id: 'b', input: '', expectOutput: 'wrong' },
        ]),
      );
      expect(result.tests.map((t) => t.status)).toEqual(['success', 'wrong_answer']);
      expect(warmCgroups()).toEqual([]);
    } finally {
      await dispose();
    }
  });
});
