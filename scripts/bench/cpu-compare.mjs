#!/usr/bin/env node
// Compares the CPU per job of two builds of the worker, run side by side. On a shared virtual
// machine the same code can take 20–60% more CPU from one hour to the next, so figures measured
// one after the other compare badly; two workers measured at the same time go through the same
// slow and fast phases, and the ratio of their figures holds. Each side gets its own nats-server
// and one worker (2 slots) from its checkout, is warmed up at saturation (V8 compiles its hot
// code), then judges cached C hello worlds at a fixed rate; the CPU time of each worker process
// and of its spawn helper is divided by the jobs. Needs root and two built
// checkouts (`pnpm build` in each).
//
//   node scripts/bench/cpu-compare.mjs --a ../before --b . [--rounds 3] [--rate 120] [--jobs 3000]
//     [--a-node="<node options>"] [--b-node="<node options>"]
// (node options for one side, instead of the ones a worker is started with: the same checkout with
// a V8 flag on one side measures the flag)
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect } from '../../packages/client/dist/index.js';
import { startNatsServer } from '../../packages/test-helpers/dist/index.js';
import { WORKER_NODE_OPTIONS } from '../../packages/worker/dist/index.js';
import { childrenNamed, processCpuMs, spawnWorker, waitReady } from './lib.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '3' },
    rate: { type: 'string', default: '120' },
    jobs: { type: 'string', default: '3000' },
    warmup: { type: 'string', default: '3000' },
    'a-node': { type: 'string', default: WORKER_NODE_OPTIONS.join(' ') },
    'b-node': { type: 'string', default: WORKER_NODE_OPTIONS.join(' ') },
  },
});
if (!args.a) {
  console.error(
    'usage: cpu-compare.mjs --a <checkout> [--b <checkout>] [--rounds N] [--rate per second] [--jobs N] [--a-node="<node options>"] [--b-node="…"]',
  );
  process.exit(2);
}
const sides = { a: resolve(args.a), b: resolve(args.b) };
const [rounds, rate, jobs, warmup] = [args.rounds, args.rate, args.jobs, args.warmup].map(Number);
const body = {
  language: 'c',
  code: '#include <stdio.h>\nint main(void){puts("hello");return 0;}',
  testCases: [{ input: '', expectOutput: 'hello' }],
};
const nodeArgsOf = (text) => text.split(' ').filter(Boolean);
const log = (message) => process.stderr.write(`[compare] ${message}\n`);

/** One side: its server and worker, warmed up; `measure` judges `jobs` at `rate` and returns CPU per job. */
async function startSide(name, checkout, nodeArgs, uidBase, sandboxRoot) {
  const server = await startNatsServer();
  const client = await connect({ servers: server.url });
  const watcher = await natsConnect({ servers: server.url });
  const dir = mkdtempSync(join(sandboxRoot, `${name}-`));
  chmodSync(dir, 0o755);
  const worker = spawnWorker({ checkout, natsUrl: server.url, dir, uidBase, nodeArgs });
  await waitReady(client);
  let serial = 0;
  const next = () => `${name}-${serial++}`;
  for (let done = 0; done < warmup; done += 50)
    await Promise.all(Array.from({ length: 50 }, () => client.submitAndWait({ id: next(), ...body })));
  return {
    async measure() {
      const ids = Array.from({ length: jobs }, next);
      const waiting = new Set(ids);
      let finished;
      const allIn = new Promise((resolve) => (finished = resolve));
      const sub = watcher.subscribe('submission.result.*', {
        callback: (_error, msg) => {
          const event = msg.json();
          if (event.type === 'final' && waiting.delete(event.submissionId) && waiting.size === 0) finished();
        },
      });
      await watcher.flush();
      const [helper] = childrenNamed(worker.pid, 'coderunner-spawn');
      const [w0, h0] = [processCpuMs(worker.pid), helper ? processCpuMs(helper) : 0];
      const s0 = helper ? processCpuMs(helper, { reaped: true }) : 0;
      const started = performance.now();
      const sent = [];
      for (let i = 0; i < ids.length; i += 5) {
        const wait = started + (i * 1000) / rate - performance.now();
        if (wait > 1) await sleep(wait);
        for (const id of ids.slice(i, i + 5)) sent.push(client.submit({ id, ...body }));
      }
      await Promise.all(sent);
      await allIn;
      sub.unsubscribe();
      return {
        workerMs: (processCpuMs(worker.pid) - w0) / jobs,
        helperMs: helper ? (processCpuMs(helper) - h0) / jobs : NaN,
        // The helper with the sandboxes it started, the programs in them included.
        sandboxesMs: helper ? (processCpuMs(helper, { reaped: true }) - s0) / jobs : NaN,
      };
    },
    async stop() {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker.once('exit', resolve));
      await client.close();
      await watcher.close();
      await server.cleanup();
    },
  };
}

const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
const sandboxRoot = mkdtempSync(join(os.tmpdir(), 'coderunner-compare-'));
chmodSync(sandboxRoot, 0o755);
const results = [];
try {
  for (let round = 1; round <= rounds; round++) {
    log(`round ${round}: warming both workers up (${warmup} jobs each)`);
    const started = await Promise.allSettled([
      startSide('a', sides.a, nodeArgsOf(args['a-node']), 61700, sandboxRoot),
      startSide('b', sides.b, nodeArgsOf(args['b-node']), 61740, sandboxRoot),
    ]);
    const failed = started.find((side) => side.status === 'rejected');
    if (failed) {
      for (const side of started) if (side.status === 'fulfilled') await side.value.stop();
      throw failed.reason;
    }
    const [a, b] = started.map((side) => side.value);
    try {
      log(`round ${round}: ${jobs} jobs each at ${rate}/s, side by side`);
      const [ra, rb] = await Promise.all([a.measure(), b.measure()]);
      const r = {
        a: ra,
        b: rb,
        workerRatio: rb.workerMs / ra.workerMs,
        helperRatio: rb.helperMs / ra.helperMs,
        sandboxesRatio: rb.sandboxesMs / ra.sandboxesMs,
      };
      results.push(r);
      console.log(
        `round ${round}: worker ${ra.workerMs.toFixed(2)} → ${rb.workerMs.toFixed(2)} ms (×${r.workerRatio.toFixed(3)}), ` +
          `helper ${ra.helperMs.toFixed(2)} → ${rb.helperMs.toFixed(2)} ms (×${r.helperRatio.toFixed(3)}), ` +
          `helper and sandboxes ${ra.sandboxesMs.toFixed(2)} → ${rb.sandboxesMs.toFixed(2)} ms (×${r.sandboxesRatio.toFixed(3)})`,
      );
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }
} finally {
  rmSync(sandboxRoot, { recursive: true, force: true });
}
const summary = {
  a: sides.a,
  b: sides.b,
  rate,
  jobs,
  rounds: results,
  medianWorkerRatio: median(results.map((r) => r.workerRatio)),
  medianHelperRatio: median(results.map((r) => r.helperRatio)),
  medianSandboxesRatio: median(results.map((r) => r.sandboxesRatio)),
};
console.log(
  `median ratio b/a: worker ×${summary.medianWorkerRatio.toFixed(3)}, spawn helper ×${summary.medianHelperRatio.toFixed(3)}, ` +
    `helper and sandboxes ×${summary.medianSandboxesRatio.toFixed(3)}`,
);
mkdirSync(join(root, '.bench'), { recursive: true });
writeFileSync(join(root, '.bench', 'cpu-compare.json'), `${JSON.stringify(summary, null, 2)}\n`);
