/**
 * A run cgroup on this host's real hierarchy: its limits can be set after it is made, raised and
 * lowered (on cgroup v1 the memory and memory+swap limits must be written in the right order),
 * and its counters start afresh on `resetUsage` — what a sandbox made ahead relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { detectCgroups } from '../src/cgroup/detect.js';
import type { RunCgroup } from '../src/cgroup/types.js';
import { Spawner } from '../src/spawner.js';

let cgroup: RunCgroup;
let spawner: Spawner;

beforeAll(async () => {
  spawner = await Spawner.start();
  const detection = await detectCgroups();
  if (!detection.ok) throw new Error(detection.problem);
  cgroup = await detection.manager.create(`s0-${process.pid}-0`);
});

afterAll(async () => {
  await spawner.close();
  await cgroup.killAll();
  await cgroup.remove();
});

/** Runs Python in the cgroup; resolves with its exit status (null when killed) and signal. */
function python(code: string): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawner.spawn({
      argv: ['/usr/bin/python3', '-c', code],
      env: {},
      cwd: '/',
      stackKb: 8192,
      procsFiles: cgroup.procsFiles,
    });
    child.once('exit', (exitCode: number | null, signal: string | null) =>
      resolve({ code: exitCode, signal }),
    );
    void child.ready.then(() => child.stdin?.end());
  });
}

const TOUCH_64_MB = 'b = bytearray(64 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1';
const SPIN = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass';

describe('a run cgroup', () => {
  it('takes limits after it was made, and lets them be lowered and raised again', async () => {
    await cgroup.setLimits({ memoryBytes: 512 << 20, pids: 16 });
    expect(await python(TOUCH_64_MB)).toEqual({ code: 0, signal: null });
    await cgroup.setLimits({ memoryBytes: 32 << 20, pids: 16 });
    expect(await python(TOUCH_64_MB)).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await cgroup.usage()).oomKilled).toBe(true);
    await cgroup.setLimits({ memoryBytes: 256 << 20, pids: 16 });
    expect(await python(TOUCH_64_MB)).toEqual({ code: 0, signal: null });
  });

  it('takes a higher limit on a cgroup left behind with a lower one', async () => {
    const detection = await detectCgroups();
    if (!detection.ok) throw new Error(detection.problem);
    const name = `s0-${process.pid}-left`;
    const left = await detection.manager.create(name, { memoryBytes: 32 << 20, pids: 16 });
    try {
      // Made again under the same name (a worker that died left it): its limits are not the defaults.
      const again = await detection.manager.create(name);
      await again.setLimits({ memoryBytes: 512 << 20, pids: 16 });
      await again.setLimits({ memoryBytes: 64 << 20, pids: 16 });
    } finally {
      await left.remove();
    }
  });

  it('starts counting afresh on resetUsage', async () => {
    expect(await python(SPIN)).toEqual({ code: 0, signal: null });
    const before = await cgroup.usage();
    expect(before.cpuNs).toBeGreaterThan(200e6);
    expect(before.memoryPeakBytes).toBeGreaterThan(64 << 20);
    await cgroup.resetUsage();
    const after = await cgroup.usage();
    expect(after.cpuNs).toBeLessThan(before.cpuNs - 200e6);
    expect(after.memoryPeakBytes).toBeLessThan(before.memoryPeakBytes);
  });
});
