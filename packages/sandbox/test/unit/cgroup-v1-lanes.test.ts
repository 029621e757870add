/**
 * Which cgroup v1 directories a lane's run makes and joins: only its memory cgroup is its own
 * when pids and cpuacct have hierarchies of their own; a controller mounted with memory goes
 * with the run's memory cgroup instead of the lane's.
 */
import { describe, expect, it } from '@jest/globals';
import { CgroupV1Manager } from '../../src/cgroup/v1.js';

const LIMITS = { memoryBytes: 64 << 20, pids: 16 };

describe('a cgroup v1 run in a lane', () => {
  it('makes only its memory cgroup, joins the lane’s pids and cpuacct ones, and lets the lane’s pids limit go after', () => {
    const manager = new CgroupV1Manager(
      { memory: '/cg/memory', pids: '/cg/pids', cpuacct: '/cg/cpu,cpuacct' },
      'coderunner',
    );
    for (const run of ['w0-1-2', 'w0-1-3']) {
      const cgroup = manager.openInLane(run, 'l0-1-1');
      expect(cgroup.dirs).toEqual([`/cg/memory/coderunner/${run}`]);
      expect(cgroup.procsFiles).toEqual([
        `/cg/memory/coderunner/${run}/cgroup.procs`,
        '/cg/pids/coderunner/l0-1-1/cgroup.procs',
        '/cg/cpu,cpuacct/coderunner/l0-1-1/cgroup.procs',
      ]);
      const script = cgroup.script(LIMITS);
      expect(script.writes).toContainEqual(['/cg/pids/coderunner/l0-1-1/pids.max', '16']);
      expect(script.writes).toContainEqual([
        `/cg/memory/coderunner/${run}/memory.limit_in_bytes`,
        String(64 << 20),
      ]);
      expect(script.cpuFile).toBe('/cg/cpu,cpuacct/coderunner/l0-1-1/cpuacct.usage');
      expect(script.after).toEqual([['/cg/pids/coderunner/l0-1-1/pids.max', 'max']]);
    }
    // Another lane has its own.
    expect(manager.openInLane('w1-1-4', 'l1-1-2').procsFiles).toContain(
      '/cg/pids/coderunner/l1-1-2/cgroup.procs',
    );
  });

  it('with pids mounted with memory, makes its own pids cgroup there and shares only cpuacct', () => {
    const manager = new CgroupV1Manager(
      { memory: '/cg/memory,pids', pids: '/cg/memory,pids', cpuacct: '/cg/cpuacct' },
      'coderunner',
    );
    const cgroup = manager.openInLane('w0-1-2', 'l0-1-1');
    expect(cgroup.dirs).toEqual(['/cg/memory,pids/coderunner/w0-1-2']);
    expect(cgroup.procsFiles).toEqual([
      '/cg/memory,pids/coderunner/w0-1-2/cgroup.procs',
      '/cg/cpuacct/coderunner/l0-1-1/cgroup.procs',
    ]);
    const script = cgroup.script(LIMITS);
    expect(script.writes).toContainEqual(['/cg/memory,pids/coderunner/w0-1-2/pids.max', '16']);
    // Its pids cgroup goes with it: no limit to let go.
    expect(script.after).toEqual([]);
  });
});
