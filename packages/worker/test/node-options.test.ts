/** The worker's node options: accepted by this node, and reported when a process lacks them. */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { missingNodeOptions, WORKER_NODE_OPTIONS } from '../src/node-options.js';

describe("the worker's node options", () => {
  it('are reported missing from a command line without them, and not from one with them', () => {
    expect(WORKER_NODE_OPTIONS).toContain('--single-threaded-gc');
    expect(missingNodeOptions(['--enable-source-maps'])).toEqual([...WORKER_NODE_OPTIONS]);
    expect(missingNodeOptions(['--enable-source-maps', ...WORKER_NODE_OPTIONS])).toEqual([]);
  });

  it('are accepted by this node (an option it did not know would stop the worker from starting)', () => {
    const argv = execFileSync(
      process.execPath,
      [...WORKER_NODE_OPTIONS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'],
      { encoding: 'utf8' },
    );
    expect(missingNodeOptions(JSON.parse(argv) as string[])).toEqual([]);
  });
});
