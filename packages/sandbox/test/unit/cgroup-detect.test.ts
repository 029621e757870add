import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { detectCgroups, parseMountinfo } from '../../src/cgroup/detect.js';

/** A host in hybrid mode (systemd's default before v2): v1 controllers, an empty v2 at unified/. */
const HYBRID = `22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 27 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,xattr,name=systemd
34 31 0:31 / /sys/fs/cgroup/cpu rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuacct
36 31 0:33 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
38 31 0:35 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,net_cls,net_prio
`;

/** A host with only the unified hierarchy, as in a current distribution. */
const PURE_V2 = `24 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro
25 24 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 25 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw
27 25 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
28 24 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8118432k,nr_inodes=2029608,mode=755
`;

describe('parseMountinfo', () => {
  it('finds every v1 hierarchy and the unified one on a hybrid host, with their controllers', () => {
    expect(parseMountinfo(HYBRID)).toEqual([
      { type: 'cgroup2', mountPoint: '/sys/fs/cgroup/unified', options: ['rw', 'nsdelegate'] },
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/systemd', options: ['rw', 'xattr', 'name=systemd'] },
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/cpu', options: ['rw', 'cpu'] },
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/cpuacct', options: ['rw', 'cpuacct'] },
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/memory', options: ['rw', 'memory'] },
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/pids', options: ['rw', 'pids'] },
      {
        type: 'cgroup',
        mountPoint: '/sys/fs/cgroup/net_cls,net_prio',
        options: ['rw', 'net_cls', 'net_prio'],
      },
    ]);
  });

  it('finds the single unified hierarchy of a pure v2 host', () => {
    expect(parseMountinfo(PURE_V2)).toEqual([
      {
        type: 'cgroup2',
        mountPoint: '/sys/fs/cgroup',
        options: ['rw', 'nsdelegate', 'memory_recursiveprot'],
      },
    ]);
  });

  it('reads the controllers of a combined cpu,cpuacct hierarchy', () => {
    const text =
      '30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct\n';
    expect(parseMountinfo(text)).toEqual([
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/cpu,cpuacct', options: ['rw', 'cpu', 'cpuacct'] },
    ]);
  });

  it('reads lines without optional fields', () => {
    const text = '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
    expect(parseMountinfo(text)).toEqual([
      { type: 'cgroup2', mountPoint: '/sys/fs/cgroup/unified', options: ['rw'] },
    ]);
  });

  it('reads lines with several optional fields', () => {
    const text =
      '50 31 0:40 / /sys/fs/cgroup/memory rw,relatime shared:5 master:3 - cgroup cgroup rw,memory\n';
    expect(parseMountinfo(text)[0]?.mountPoint).toBe('/sys/fs/cgroup/memory');
  });

  it('unescapes spaces (\\040) in mount points', () => {
    const text =
      String.raw`60 24 0:41 / /mnt/my\040cgroups\040v2 rw,relatime shared:20 - cgroup2 cgroup2 rw` + '\n';
    expect(parseMountinfo(text)).toEqual([
      { type: 'cgroup2', mountPoint: '/mnt/my cgroups v2', options: ['rw'] },
    ]);
  });

  it('takes the mount point, not the root of the mount, from a bind-mounted cgroup', () => {
    const text = '70 24 0:29 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n';
    expect(parseMountinfo(text)[0]?.mountPoint).toBe('/sys/fs/cgroup');
  });

  it('ignores other file systems, including a tmpfs at /sys/fs/cgroup and a source named cgroup', () => {
    const text = [
      '31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
      '80 24 0:50 / /mnt/x rw - tmpfs cgroup rw',
      '81 24 0:51 / /mnt/cgroup rw - ext4 /dev/cgroup rw',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([]);
  });

  it('skips empty and malformed lines', () => {
    expect(parseMountinfo('')).toEqual([]);
    expect(parseMountinfo('\n\n')).toEqual([]);
    expect(parseMountinfo('not a mountinfo line\n' + HYBRID.split('\n')[7])).toEqual([
      { type: 'cgroup', mountPoint: '/sys/fs/cgroup/cpuacct', options: ['rw', 'cpuacct'] },
    ]);
  });
});

describe('detectCgroups', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'cgroup-detect-test-'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  /** Writes a mountinfo that mounts each hierarchy at a directory under `root`. */
  function mountinfo(mounts: { type: 'cgroup' | 'cgroup2'; dir: string; options: string }[]): string {
    const path = join(root, 'mountinfo');
    const lines = mounts.map(
      (m, i) =>
        `${100 + i} 1 0:${60 + i} / ${m.dir.replace(/ /g, '\\040')} rw,relatime shared:${i} - ${m.type} ${m.type} ${m.options}`,
    );
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  }

  /** A directory standing in for a cgroup v2 hierarchy (cgroupfs files must already exist). */
  function fakeV2(dir: string, controllers: string): void {
    mkdirSync(join(dir, 'coderunner'), { recursive: true });
    writeFileSync(join(dir, 'cgroup.controllers'), `${controllers}\n`);
    writeFileSync(join(dir, 'cgroup.subtree_control'), '');
    writeFileSync(join(dir, 'coderunner', 'cgroup.subtree_control'), '');
  }

  it('reports a mountinfo it cannot read', async () => {
    const path = join(root, 'missing');
    const result = await detectCgroups('coderunner', path);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(new RegExp(`^cannot read ${path}: `));
  });

  it('reports a host with no cgroup hierarchy', async () => {
    const path = join(root, 'mountinfo');
    writeFileSync(path, '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n');
    expect(await detectCgroups('coderunner', path)).toEqual({
      ok: false,
      problem: 'no cgroup hierarchy with the memory and pids controllers is mounted (neither v2 nor v1)',
    });
  });

  it('uses cgroup v2 when it has the memory and pids controllers', async () => {
    const v2 = join(root, 'cgroup v2');
    fakeV2(v2, 'cpuset cpu io memory hugetlb pids rdma misc');
    const result = await detectCgroups(
      'coderunner',
      mountinfo([{ type: 'cgroup2', dir: v2, options: 'rw' }]),
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.manager.version).toBe(2);
    expect(result.manager.location).toBe(join(v2, 'coderunner'));
  });

  it('falls back to the v1 hierarchies on a hybrid host whose unified hierarchy has no controllers', async () => {
    const unified = join(root, 'unified');
    fakeV2(unified, '');
    const dirs = {
      memory: join(root, 'memory'),
      pids: join(root, 'pids'),
      cpuacct: join(root, 'cpu,cpuacct'),
    };
    for (const dir of Object.values(dirs)) mkdirSync(dir);
    const path = mountinfo([
      { type: 'cgroup2', dir: unified, options: 'rw,nsdelegate' },
      { type: 'cgroup', dir: dirs.memory, options: 'rw,memory' },
      { type: 'cgroup', dir: dirs.pids, options: 'rw,pids' },
      { type: 'cgroup', dir: dirs.cpuacct, options: 'rw,cpu,cpuacct' },
    ]);
    const result = await detectCgroups('engine', path);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.manager.version).toBe(1);
    expect(result.manager.location).toBe(
      [join(dirs.memory, 'engine'), join(dirs.pids, 'engine'), join(dirs.cpuacct, 'engine')].join(', '),
    );
    for (const dir of Object.values(dirs)) expect(existsSync(join(dir, 'engine'))).toBe(true);
  });

  it('does not settle for v1 without the pids controller', async () => {
    const dirs = [join(root, 'memory'), join(root, 'cpuacct')];
    for (const dir of dirs) mkdirSync(dir);
    const path = mountinfo([
      { type: 'cgroup', dir: join(root, 'memory'), options: 'rw,memory' },
      { type: 'cgroup', dir: join(root, 'cpuacct'), options: 'rw,cpuacct' },
    ]);
    const result = await detectCgroups('coderunner', path);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/^no cgroup hierarchy with the memory and pids controllers/);
  });

  it('does not take a v2 hierarchy without the pids controller', async () => {
    const v2 = join(root, 'v2');
    fakeV2(v2, 'cpu memory');
    const result = await detectCgroups(
      'coderunner',
      mountinfo([{ type: 'cgroup2', dir: v2, options: 'rw' }]),
    );
    expect(result.ok).toBe(false);
  });

  it('explains a parent cgroup that cannot be prepared', async () => {
    const v2 = join(root, 'v2');
    mkdirSync(v2);
    // Controllers offered, but no cgroup.subtree_control to enable them with.
    writeFileSync(join(v2, 'cgroup.controllers'), 'memory pids\n');
    const result = await detectCgroups(
      'coderunner',
      mountinfo([{ type: 'cgroup2', dir: v2, options: 'rw' }]),
    );
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problem).toMatch(/^the engine's cgroup could not be prepared: .*ENOENT/);
  });
});
