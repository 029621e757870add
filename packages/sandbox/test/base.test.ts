/**
 * Runs made from a lane's base sandbox (base-sandbox.ts): the runs of one uid share the base's
 * user namespace and nothing they can write — files, SysV objects, keys — and a base that dies
 * is replaced. One slot: its runs take the lanes 0, 1, 0, ... so runs 1 and 3 share a base.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Engine, JudgeResult } from '../src/index.js';
import { fixture, processesOfUids, submission, testEngine } from './helpers.js';

const UID_BASE = 62400;
const PIDS = '/sys/fs/cgroup/pids/coderunner';

let engine: Engine;
let dispose: () => Promise<void>;

beforeAll(async () => {
  ({ engine, dispose } = await testEngine({ slots: 1, uidBase: UID_BASE }));
});
afterAll(() => dispose());

async function sharedState(mode: 'leave' | 'look'): Promise<JudgeResult> {
  return engine.judge(submission('c', fixture('hostile/shared-state.c'), [{ id: 't', input: mode }]));
}

/** The cgroups of this process's base sandboxes. */
function baseCgroups(): string[] {
  return readdirSync(PIDS).filter((name) => /^b\d+-/.test(name) && name.includes(`-${process.pid}-`));
}

const SANDBOX = [
  'user namespace: No space left on device',
  'umount /tmp: Operation not permitted',
  'pid 2, pid 1 is coderunner-stub',
  'Seccomp:\t2',
  '',
];

describe('runs made from a base sandbox', () => {
  it('leave nothing a later run of the same uid can find', async () => {
    const left = await sharedState('leave');
    expect(left.tests[0]?.output.split('\n')).toEqual([
      'write /box/left: yes',
      'write /tmp/left: yes',
      'write /dev/shm/left: yes',
      'shm: yes',
      'msg: yes',
      'add key: Operation not permitted',
      ...SANDBOX,
    ]);
    for (let run = 2; run <= 3; run++) {
      const looked = await sharedState('look');
      expect(looked.tests[0]?.output.split('\n')).toEqual([
        'find /box/left: No such file or directory',
        'find /tmp/left: No such file or directory',
        'find /dev/shm/left: No such file or directory',
        'shm: No such file or directory',
        'msg: No such file or directory',
        'find key: Operation not permitted',
        ...SANDBOX,
      ]);
    }
  });

  it('run on one base per uid, which is started again when it dies', async () => {
    const bases = baseCgroups();
    expect(bases).toHaveLength(2);
    const holders = bases.map((name) =>
      readFileSync(join(PIDS, name, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number),
    );
    // bubblewrap outside, its first process and the stub.
    for (const pids of holders) expect(pids.length).toBeGreaterThanOrEqual(3);
    for (const pid of holders.flat()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone with the one killed before it.
      }
    }
    // The sandboxes made from them meanwhile may fail: those runs go the cold way.
    for (let run = 0; run < 4; run++) {
      const result = await engine.judge(
        submission('c', '#include <stdio.h>\nint main(void){puts("ok");return 0;}', [
          { id: 't', input: '', expectOutput: 'ok' },
        ]),
      );
      expect(result.status).toBe('success');
    }
    for (let tries = 0; tries < 100 && baseCgroups().filter((b) => !bases.includes(b)).length < 2; tries++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(baseCgroups().filter((name) => !bases.includes(name))).toHaveLength(2);
    expect(baseCgroups().filter((name) => bases.includes(name))).toEqual([]);
    // And the runs made from the new ones are as before.
    expect((await sharedState('look')).tests[0]?.output).toContain('pid 1 is coderunner-stub');
  });

  it('are gone with the engine, bases included', async () => {
    await dispose();
    expect(baseCgroups()).toEqual([]);
    expect(processesOfUids(UID_BASE, UID_BASE + 2, { waiting: true })).toEqual([]);
    ({ engine, dispose } = await testEngine({ slots: 1, uidBase: UID_BASE }));
  });
});
