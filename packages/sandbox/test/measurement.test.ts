/** CPU time and peak memory come from the kernel and match what the program really used. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Engine } from '../src/index.js';
import { fixture, submission, testEngine } from './helpers.js';

let engine: Engine;
let dispose: () => Promise<void>;

beforeAll(async () => {
  ({ engine, dispose } = await testEngine());
});
afterAll(() => dispose());

describe('measurement', () => {
  it('reports the CPU time of a program that spins for 500 ms within 10%', async () => {
    const result = await engine.judge(submission('c', fixture('spin-500ms.c')));
    const test = result.tests[0];
    expect(test?.status).toBe('success');
    expect(test?.timeUsedInMs).toBeGreaterThanOrEqual(450);
    expect(test?.timeUsedInMs).toBeLessThanOrEqual(550);
  });

  it('reports the peak memory of a C program that touches 100 MB within 5%', async () => {
    const result = await engine.judge(
      submission('c', fixture('touch-100mb.c'), undefined, { limits: { memoryInKb: 512 * 1024 } }),
    );
    const test = result.tests[0];
    expect(test?.status).toBe('success');
    expect(test?.memoryUsedInKb).toBeGreaterThanOrEqual(0.95 * 102_400);
    expect(test?.memoryUsedInKb).toBeLessThanOrEqual(1.05 * 102_400);
  });

  it('counts the CPU time of every process of a run, not only the first', async () => {
    const code = [
      'import os, time',
      'def spin():',
      '    end = time.process_time() + 0.3',
      '    while time.process_time() < end: pass',
      'pid = os.fork()',
      'spin()',
      'if pid: os.waitpid(pid, 0)',
    ].join('\n');
    const result = await engine.judge(submission('python', code));
    expect(result.tests[0]?.status).toBe('success');
    expect(result.tests[0]?.timeUsedInMs).toBeGreaterThanOrEqual(600);
  });
});
