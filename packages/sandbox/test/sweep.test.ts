/**
 * A worker killed outright cannot clean up its runs: the next engine to start on the host kills
 * what is left in their cgroups and removes them.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { processesOfUids } from './helpers.js';
import { createEngine } from '../src/index.js';

const UID = 62100;
const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));

function runCgroupsOf(pid: number): string[] {
  const parent = '/sys/fs/cgroup/memory/coderunner';
  const v2 = '/sys/fs/cgroup/coderunner';
  const dir = existsSync(parent) ? parent : v2;
  return readdirSync(dir).filter((name) => name.includes(`-${pid}-`));
}

describe('stale runs', () => {
  it('are killed and removed by the next engine after their worker was SIGKILLed', async () => {
    const baseDir = await mkdtemp(join(tmpdir(), 'coderunner-sweep-'));
    const script = [
      "import { createEngine } from './dist/index.js';",
      `const engine = await createEngine({ baseDir: ${JSON.stringify(baseDir)}, uidBase: ${UID}, slots: 1 });`,
      'const limits = { timeInMs: 60000, wallTimeInMs: 60000, memoryInKb: 65536, outputInKb: 64 };',
      "void engine.judge({ id: 'stale', language: 'python', code: 'import time\\nprint(1, flush=True)\\ntime.sleep(60)', files: [],",
      "  testCases: [{ id: 't', input: '' }], limits, checker: { type: 'exact' }, stopOnFirstFailure: false });",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: packageDir,
      stdio: 'ignore',
    });
    try {
      const deadline = Date.now() + 20_000;
      // Wait until the program runs: a process of the slot's uid that is not a zombie.
      while (processesOfUids(UID, UID + 1).length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(runCgroupsOf(child.pid as number).length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
      const engine = await createEngine({ baseDir, uidBase: UID + 10, slots: 1 });
      await engine.close();
      expect(runCgroupsOf(child.pid as number)).toEqual([]);
      // The slot's two uids: the run's, and its next sandbox's.
      expect(processesOfUids(UID, UID + 2, { waiting: true })).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      await rm(baseDir, { recursive: true, force: true });
    }
  });
});
