/** `doctor` says which protections are in effect; the `direct` type works and says it is unsafe. */
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { doctor, type DoctorReport } from '../src/index.js';
import { TEST_UID_BASE, submission, testEngine } from './helpers.js';

const run = promisify(execFile);
const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));

async function withBaseDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'coderunner-doctor-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('doctor', () => {
  it('reports every protection of the bwrap type in effect on this host, and a sandboxed run', async () => {
    const report = await withBaseDir((baseDir) => doctor({ baseDir, uidBase: TEST_UID_BASE }));
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(report.ok).toBe(true);
    for (const name of [
      'sandbox type',
      'root',
      'bubblewrap',
      'spawn helper',
      'sandbox stub',
      'user namespaces',
      'cgroups',
      'sandboxed run',
      'sandboxes made ahead',
    ]) {
      expect(byName[name]).toMatchObject({ status: 'ok' });
    }
    expect(byName.cgroups?.detail).toMatch(/^v[12]: memory \(swap off\), pids, CPU accounting/);
    expect(byName['sandboxed run']?.detail).toBe('compiled and ran a c program');
    expect(byName['language c']).toMatchObject({ status: 'ok' });
    expect(byName.network?.detail).toMatch(/^none: each slot keeps one empty network namespace/);
  });

  it('says loudly that the direct type has no isolation', async () => {
    const report = await withBaseDir((baseDir) => doctor({ baseDir, sandboxType: 'direct' }));
    expect(report.checks[0]).toEqual({
      name: 'sandbox type',
      status: 'warn',
      detail: 'direct: NO ISOLATION — programs run as the worker, for development only',
    });
  });

  it('explains what is missing when the worker is not root', async () => {
    // doctor as an unprivileged user, in a child process: no per-slot uid, no cgroups.
    const script = [
      "import { doctor } from './dist/index.js';",
      'const report = await doctor({ baseDir: process.argv[1] });',
      'console.log(JSON.stringify(report));',
    ].join('\n');
    const report = await withBaseDir(async (baseDir) => {
      await chmod(baseDir, 0o777);
      const { stdout } = await run(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          '--input-type=module',
          '-e',
          script,
          join(baseDir, 'b'),
        ],
        { cwd: packageDir },
      );
      return JSON.parse(stdout) as DoctorReport;
    });
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(report.ok).toBe(false);
    expect(byName.root).toMatchObject({
      status: 'fail',
      detail: 'not root: no per-slot uid, no cgroup limits',
    });
    expect(byName.engine?.detail).toContain(
      'the bwrap sandbox needs root to give each slot its own uid and cgroup',
    );
  });

  it('falls back to a network namespace per run when root lacks CAP_SYS_ADMIN, as in a container', async () => {
    const script = [
      "import { doctor } from './dist/index.js';",
      `const report = await doctor({ baseDir: process.argv[1], uidBase: ${TEST_UID_BASE} });`,
      'console.log(JSON.stringify(report));',
    ].join('\n');
    const report = await withBaseDir(async (baseDir) => {
      const { stdout } = await run(
        'setpriv',
        [
          '--bounding-set=-sys_admin',
          '--inh-caps=-sys_admin',
          process.execPath,
          '--input-type=module',
          '-e',
          script,
          baseDir,
        ],
        { cwd: packageDir },
      );
      return JSON.parse(stdout) as DoctorReport;
    });
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    expect(byName.network?.detail).toMatch(/^none: a new network namespace per run/);
    expect(byName['sandboxed run']).toMatchObject({ status: 'ok' });
    // The spawn helper enters the base sandboxes as the slot's uid, which needs no capability.
    expect(byName['sandboxes made ahead']).toMatchObject({ status: 'ok' });
    expect(report.ok).toBe(true);
  });
});

describe('the direct sandbox type', () => {
  it('compiles and runs a program, measured by cgroups when it can', async () => {
    const { engine, dispose } = await testEngine({ sandboxType: 'direct' });
    try {
      const result = await engine.judge(
        submission(
          'c',
          '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a*b);}',
          [{ id: 't', input: '6 7', expectOutput: '42' }],
        ),
      );
      expect(result.status).toBe('success');
      expect(result.tests[0]?.memoryUsedInKb).toBeGreaterThan(0);
      expect(engine.environment.sandboxType).toBe('direct');
    } finally {
      await dispose();
    }
  });
});
