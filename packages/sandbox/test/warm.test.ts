/**
 * Sandboxes made ahead (one per slot, off the critical path): each serves one run with a fresh
 * work dir, the slot's two uids take turns, a dead one is replaced and its run goes the cold way, the engine leaves none behind
 * when it closes, and with them off every run is made cold.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Engine } from '../src/index.js';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_REGISTRY_PATH, registryFromObject } from '../src/registry.js';
import { processesOfUids, submission, testEngine } from './helpers.js';

const UID_BASE = 62200;
// A sandbox made ahead has a memory cgroup of its own; its lane's pids and CPU accounting
// cgroups serve the lane's sandboxes one after another.
const MEMORY = '/sys/fs/cgroup/memory/coderunner';
const PIDS = '/sys/fs/cgroup/pids/coderunner';
const CPUACCT = '/sys/fs/cgroup/cpuacct/coderunner';

/** The cgroups of sandboxes made ahead by this process, by name. */
function warmCgroups(): string[] {
  return readdirSync(MEMORY).filter((name) => /^w\d+-/.test(name) && name.includes(`-${process.pid}-`));
}

/** The lanes' long-lived cgroups of this process, by name, in `hierarchy`. */
function laneCgroups(hierarchy = CPUACCT): string[] {
  return readdirSync(hierarchy).filter((name) => /^l\d+-/.test(name) && name.includes(`-${process.pid}-`));
}

function warmProcesses(name: string): number[] {
  return readFileSync(join(MEMORY, name, 'cgroup.procs'), 'utf8')
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
    expect(laneCgroups().length).toBeGreaterThanOrEqual(2);
    await engine.close();
    await until(() => slotProcesses().length === 0);
    expect(warmCgroups()).toEqual([]);
    expect(laneCgroups()).toEqual([]);
    expect(laneCgroups(PIDS)).toEqual([]);
  });
});

describe('a run in a sandbox made ahead, which the spawn helper supervises', () => {
  let engine: Engine;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    ({ engine, dispose } = await testEngine({ uidBase: UID_BASE }));
    await until(bothWaiting);
  });
  afterAll(() => dispose());

  /** Judges in a sandbox made ahead: the run must not have gone the cold way. */
  async function warmJudge(
    ...args: Parameters<typeof submission>
  ): Promise<Awaited<ReturnType<Engine['judge']>>> {
    await until(bothWaiting);
    const before = engine.warmStats;
    const result = await engine.judge(submission(...args));
    const runs = result.tests.filter((t) => t.status !== 'skipped').length;
    expect(engine.warmStats).toEqual({ served: before.served + runs, fellBack: before.fellBack });
    return result;
  }

  it('gives the program its standard streams only, and pid 1 shows nothing of the host', async () => {
    const code = [
      'import os',
      'for fd in (3, 4):',
      '    try:',
      '        os.fstat(fd)',
      "        print(fd, 'open')",
      '    except OSError as e:',
      '        print(fd, e.strerror)',
      "print(open('/proc/1/cmdline', 'rb').read().rstrip(b'\\0').replace(b'\\0', b' ').decode())",
    ].join('\n');
    const result = await warmJudge('python', code);
    expect(result.tests[0]?.output).toBe(
      '3 Bad file descriptor\n4 Bad file descriptor\ncoderunner-stub enter\n',
    );
  });

  it('enforces the CPU, wall-clock, memory and output limits', async () => {
    const spin = await warmJudge('c', 'int main(void){for(volatile long i=0;;i++);}', undefined, {
      limits: { timeInMs: 300 },
    });
    expect(spin.tests[0]?.status).toBe('time_limit_exceeded');
    // Killed for its CPU time (polled), long before the wall-clock limit (6 s).
    expect(spin.tests[0]?.timeUsedInMs).toBeGreaterThanOrEqual(300);
    expect(spin.tests[0]?.wallTimeInMs).toBeLessThan(1500);
    const sleep = await warmJudge(
      'c',
      '#include <unistd.h>\nint main(void){sleep(30);return 0;}',
      undefined,
      {
        limits: { wallTimeInMs: 400 },
      },
    );
    expect(sleep.tests[0]?.status).toBe('time_limit_exceeded');
    expect(sleep.tests[0]?.wallTimeInMs).toBeGreaterThanOrEqual(400);
    expect(sleep.tests[0]?.wallTimeInMs).toBeLessThan(3000);
    const memory = await warmJudge(
      'c',
      '#include <stdlib.h>\nint main(void){volatile char*p=malloc(200<<20);for(long i=0;i<(200<<20);i+=4096)p[i]=1;return 0;}',
      undefined,
      { limits: { memoryInKb: 32 * 1024 } },
    );
    expect(memory.tests[0]?.status).toBe('memory_limit_exceeded');
    const flood = await warmJudge('c', '#include <stdio.h>\nint main(void){for(;;)putchar(65);}', undefined, {
      limits: { outputInKb: 64 },
    });
    expect(flood.tests[0]?.status).toBe('output_limit_exceeded');
    expect(flood.tests[0]?.output).toBe('A'.repeat(64 * 1024));
  });

  it('counts each run’s CPU time from zero in its lane’s CPU cgroup, which runs share', async () => {
    // The first test spins for 250 ms of CPU; the third runs on the same lane after it.
    const words = ['spin', 'a', 'b', 'c', 'd'];
    const result = await warmJudge(
      'c',
      '#include <stdio.h>\n#include <string.h>\n#include <time.h>\nint main(void){char w[16]={0};scanf("%15s",w);if(!strcmp(w,"spin"))while(clock()<CLOCKS_PER_SEC/4);puts(w);return 0;}',
      words.map((word) => ({ id: word, input: `${word}\n`, expectOutput: word })),
    );
    expect(result.tests.map((t) => t.status)).toEqual(words.map(() => 'success'));
    expect(result.tests[0]?.timeUsedInMs).toBeGreaterThanOrEqual(240);
    for (const test of result.tests.slice(1)) expect(test.timeUsedInMs).toBeLessThan(100);
    // Each slot's two lanes, each with one CPU cgroup for all its runs.
    expect(
      laneCgroups()
        .map((name) => name.split('-')[0])
        .sort(),
    ).toEqual(['l0', 'l0', 'l1', 'l1']);
  });

  it('serves test after test, a run asked for while its sandbox is still being made waiting for it', async () => {
    const tests = Array.from({ length: 30 }, (_, i) => ({
      id: `t${i}`,
      input: `${i}\n`,
      expectOutput: `${i}`,
    }));
    const result = await warmJudge(
      'c',
      '#include <stdio.h>\nint main(void){int n;scanf("%d",&n);printf("%d\\n",n);return 0;}',
      tests,
    );
    expect(result.tests.map((t) => t.status)).toEqual(tests.map(() => 'success'));
  });

  it('feeds a large input while it collects the output, and does not wait on input left unread', async () => {
    const input = Array.from({ length: 40_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
    // Echoed, it passes the output limit (64 KiB) while the input is still being written.
    const echo = await warmJudge('python', 'import sys\nsys.stdout.write(sys.stdin.read())', [
      { id: 'echo', input },
    ]);
    expect(echo.tests[0]?.status).toBe('output_limit_exceeded');
    expect(echo.tests[0]?.output).toBe(input.slice(0, 64 * 1024));
    const cat = await warmJudge(
      'python',
      'import sys,hashlib\ndata=sys.stdin.buffer.read()\nprint(len(data), hashlib.md5(data).hexdigest())',
      [{ id: 'md5', input }],
    );
    expect(cat.tests[0]?.output.trim()).toBe(
      `${Buffer.byteLength(input)} ${createHash('md5').update(input).digest('hex')}`,
    );
    const ignore = await warmJudge('python', 'print("done")', [
      { id: 'ignore', input, expectOutput: 'done' },
    ]);
    expect(ignore.tests[0]?.status).toBe('success');
  });

  it('gets files larger than the stub’s buffer whole', async () => {
    const content = Array.from({ length: 70_000 }, (_, i) => `${i}`).join(',');
    expect(content.length).toBeGreaterThan(256 * 1024);
    const result = await warmJudge(
      'python',
      'import hashlib\ndata=open("data.txt","rb").read()\nprint(len(data), hashlib.md5(data).hexdigest())',
      undefined,
      { files: [{ name: 'data.txt', content, encoding: 'utf8' }] },
    );
    expect(result.tests[0]?.output.trim()).toBe(
      `${content.length} ${createHash('md5').update(content).digest('hex')}`,
    );
  });

  it('goes the cold way when the helper dies during the run', async () => {
    await until(bothWaiting);
    const before = engine.warmStats;
    const judged = engine.judge(
      submission(
        'c',
        '#include <stdio.h>\n#include <unistd.h>\nint main(void){usleep(300000);puts("ok");return 0;}',
        [{ id: 'a', input: '', expectOutput: 'ok' }],
      ),
    );
    await until(() => programUids('main').length > 0);
    const helper = (
      engine as unknown as { executor: { spawner: { helper?: { process: { kill(s: string): void } } } } }
    ).executor.spawner.helper;
    helper?.process.kill('SIGKILL');
    const result = await judged;
    expect(result.status).toBe('success');
    expect(engine.warmStats).toEqual({ served: before.served, fellBack: before.fellBack + 1 });
    // A new helper makes new sandboxes, and runs are served from them again.
    await warmJudge('c', '#include <stdio.h>\nint main(void){puts("ok");return 0;}', [
      { id: 'a', input: '', expectOutput: 'ok' },
    ]);
  });

  it('kills the run when the job is cancelled', async () => {
    await until(bothWaiting);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    await expect(
      engine.judge(submission('c', '#include <unistd.h>\nint main(void){sleep(30);return 0;}'), {
        signal: controller.signal,
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(programUids('main')).toEqual([]);
  });

  it('kills every run of a cancel signal that jobs share, and none after it is over', async () => {
    await until(bothWaiting);
    const controller = new AbortController();
    // A job that is over before the signal fires: nothing of it is cancelled later.
    const done = await engine.judge(
      submission('c', '#include <stdio.h>\nint main(void){puts("ok");return 0;}', [
        { id: 'a', input: '', expectOutput: 'ok' },
      ]),
      { signal: controller.signal },
    );
    expect(done.status).toBe('success');
    const sleeper = submission('c', '#include <unistd.h>\nint main(void){sleep(30);return 0;}');
    const started = Date.now();
    const both = [1, 2].map((n) =>
      engine.judge({ ...sleeper, id: `shared-${n}` }, { signal: controller.signal }).then(
        () => 'finished',
        (error: { code?: string }) => error.code,
      ),
    );
    setTimeout(() => controller.abort(), 500);
    expect(await Promise.all(both)).toEqual(['CANCELLED', 'CANCELLED']);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(programUids('main')).toEqual([]);
    // A job given the signal once it has fired does not run.
    await expect(
      engine.judge({ ...sleeper, id: 'shared-3' }, { signal: controller.signal }),
    ).rejects.toMatchObject({
      code: 'CANCELLED',
    });
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

describe("a lane's process limit", () => {
  it('binds its run only: the next sandboxes on the lane are made, and their programs may fork', async () => {
    // `c` limited to one process per run (its fork fails; a run made the cold way could not
    // start at all, so each waits for a sandbox made ahead), then `forking`, the same with the
    // default limit, on the same lanes: every sandbox is made, and serves its run.
    const doc = parseYaml(readFileSync(DEFAULT_REGISTRY_PATH, 'utf8')) as {
      languages: Record<string, { aliases?: string[]; limits?: Record<string, number> }>;
    };
    const c = doc.languages.c ?? {};
    doc.languages.forking = { ...c, aliases: [] };
    doc.languages.c = { ...c, limits: { ...c.limits, pids: 1 } };
    const { engine, dispose } = await testEngine({ uidBase: UID_BASE, registry: registryFromObject(doc) });
    const FORK = `#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void){pid_t p=fork();if(p==0)_exit(0);if(p>0)wait(0);puts(p<0?"denied":"forked");return 0;}`;
    try {
      const outputs: string[] = [];
      for (const language of ['c', 'c', 'c', 'c', 'c', 'forking', 'forking', 'forking', 'forking']) {
        await until(bothWaiting);
        const result = await engine.judge(submission(language, FORK));
        outputs.push(`${language} ${result.tests[0]?.output.trim()}`);
      }
      expect(outputs).toEqual([
        ...Array<string>(5).fill('c denied'),
        ...Array<string>(4).fill('forking forked'),
      ]);
      expect(engine.warmStats).toEqual({ served: 9, fellBack: 0 });
    } finally {
      await dispose();
    }
  });
});
