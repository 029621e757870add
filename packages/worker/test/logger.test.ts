/** A job's log lines carry the job's fields; below the logger's level nothing is written. */
import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { createLogger, JobLogger } from '../src/logger.js';

function capture(level: string): { lines: Record<string, unknown>[]; log: JobLogger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = new JobLogger(createLogger(level, sink), { submissionId: 'job-1', attempt: 2, streamSeq: 7 });
  return { lines, log };
}

describe('a job logger', () => {
  it("writes the job's fields with each line's own, and errors serialized", async () => {
    const { lines, log } = capture('info');
    log.info({ verdict: 'success', durationMs: 3 }, 'judged');
    log.warn('standing down');
    log.error({ err: new Error('disk full') }, 'giving up');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      level: 30,
      submissionId: 'job-1',
      attempt: 2,
      streamSeq: 7,
      verdict: 'success',
      durationMs: 3,
      msg: 'judged',
      service: 'coderunner-worker',
    });
    expect(lines[1]).toMatchObject({ level: 40, submissionId: 'job-1', msg: 'standing down' });
    expect(lines[2]).toMatchObject({ level: 50, submissionId: 'job-1', err: { message: 'disk full' } });
    expect((lines[2]?.err as { stack?: string }).stack).toContain('disk full');
  });

  it('writes nothing below its level', async () => {
    const { lines, log } = capture('warn');
    log.info({ verdict: 'success' }, 'judged');
    log.warn({ retryInMs: 300 }, 'handing back');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => line.msg)).toEqual(['handing back']);
  });
});
