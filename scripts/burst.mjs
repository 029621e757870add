#!/usr/bin/env node
// A burst: N submissions published as fast as the bus takes them, against two workers, with the
// SUBMISSIONS stream limited so that it fills. A refused publish (QUEUE_FULL, the stream's
// `discard: new` limit) is counted and retried with the same id after a pause: that is the
// back-pressure a publisher sees. Samples each worker's RSS while it drains; at the end checks
// from the results stream that every id has exactly one final, a success. Prints a report and
// writes `.bench/burst.json`; exits non-zero on any loss or duplicate. Needs root (bwrap sandbox).
//
//   node scripts/burst.mjs              # 10,000 submissions, queue limit 2,000
//   node scripts/burst.mjs --short      # 1,000 submissions, queue limit 200 (CI)
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect, ClientError } from '../packages/client/dist/index.js';
import { decodeEvent } from '../packages/protocol/dist/index.js';
import { readResults, startNatsServer } from '../packages/test-helpers/dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    count: { type: 'string' },
    'queue-limit': { type: 'string' },
  },
});
const count = Number(args.count ?? (args.short ? 1000 : 10_000));
const queueLimit = Number(args['queue-limit'] ?? (args.short ? 200 : 2000));
const IN_FLIGHT = 200; // publishes awaiting their acknowledgement at once

const log = (message) =>
  process.stderr.write(`[burst ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const body = {
  language: 'c',
  code: '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);return 0;}',
  testCases: [{ input: '20 22', expectOutput: '42' }],
};

const sandboxRoot = mkdtempSync(join(tmpdir(), 'coderunner-burst-'));
chmodSync(sandboxRoot, 0o755); // the slots' uids must reach the sandbox files below it
const server = await startNatsServer();
const workers = [];
let client;

function startWorker(k) {
  const dir = join(sandboxRoot, `w${k}`);
  mkdirSync(dir, { recursive: true });
  const child = spawn(process.execPath, [join(root, 'packages/worker/dist/bin.js')], {
    env: {
      ...process.env,
      RUNNER_NATS_URL: server.url,
      RUNNER_NATS_SUBMISSIONSMAXMSGS: String(queueLimit),
      RUNNER_RUNNER_SANDBOXBASEDIR: dir,
      RUNNER_RUNNER_UIDBASE: String(65300 + k * 8),
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 2, 2],
  });
  return {
    child,
    peakRssMb: 0,
    startRssMb: 0,
    exited: new Promise((resolve) => child.once('exit', resolve)),
  };
}

function rssMb(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

let failed = false;
try {
  workers.push(startWorker(0), startWorker(1));
  client = await connect({ servers: server.url });
  for (let i = 0; ; i++) {
    try {
      await client.languages(1000);
      break;
    } catch (error) {
      if (i > 100) throw error;
      await sleep(200);
    }
  }
  // Compile once: every submission after this one is a cache hit.
  await client.submitAndWait({ id: 'burst-warm-up', ...body }, { timeoutMs: 60_000 });
  for (const w of workers) w.startRssMb = rssMb(w.child.pid);

  // Count finals as they arrive (a plain subscription sees the results the workers store).
  const nc = await natsConnect({ servers: server.url });
  let finals = 0;
  nc.subscribe('submission.result.*', {
    callback: (_error, msg) => {
      if (msg.subject.startsWith('submission.result.burst-') && decodeEvent(msg.data).type === 'final')
        finals++;
    },
  });
  const sampler = setInterval(() => {
    for (const w of workers) w.peakRssMb = Math.max(w.peakRssMb, rssMb(w.child.pid));
  }, 250);

  const started = performance.now();
  let refused = 0;
  let next = 0;
  let publishedAt = 0;
  const publisher = async () => {
    while (next < count) {
      const id = `burst-${next++}`;
      for (;;) {
        try {
          await client.submit({ id, ...body });
          break;
        } catch (error) {
          if (!(error instanceof ClientError) || error.code !== 'QUEUE_FULL') throw error;
          refused++;
          await sleep(100);
        }
      }
    }
    publishedAt = performance.now();
  };
  const progress = setInterval(() => log(`published ${next}, finals ${finals}, refused ${refused}`), 5000);
  await Promise.all(Array.from({ length: IN_FLIGHT }, publisher));
  log(`all ${count} published in ${((publishedAt - started) / 1000).toFixed(1)} s; waiting for finals`);
  const settleBy = Date.now() + 600_000;
  while (finals < count && Date.now() < settleBy) await sleep(200);
  const drainedS = (performance.now() - started) / 1000;
  clearInterval(progress);
  clearInterval(sampler);
  await sleep(1000); // a late duplicate would show itself

  const events = await readResults(nc);
  let lost = 0;
  let duplicates = 0;
  let notSuccess = 0;
  for (let i = 0; i < count; i++) {
    const list = (events.get(`burst-${i}`) ?? []).filter((e) => e.type === 'final');
    if (list.length === 0) lost++;
    duplicates += Math.max(0, list.length - 1);
    if (list[0] && list[0].status !== 'success') notSuccess++;
  }
  await nc.close();
  const report = {
    submissions: count,
    queueLimit,
    refusedQueueFull: refused,
    drainedInS: Math.round(drainedS * 10) / 10,
    perSecond: Math.round((count / drainedS) * 10) / 10,
    lost,
    duplicates,
    notSuccess,
    workerRssMb: workers.map((w) => ({ start: w.startRssMb, peak: w.peakRssMb })),
  };
  console.log('\nburst report');
  for (const [key, value] of Object.entries(report))
    console.log(`  ${key.padEnd(17)} ${typeof value === 'object' ? JSON.stringify(value) : value}`);
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(join(root, '.bench', 'burst.json'), `${JSON.stringify(report, null, 2)}\n`);
  failed = lost > 0 || duplicates > 0 || notSuccess > 0;
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
  failed = true;
} finally {
  await client?.close().catch(() => undefined);
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.race([Promise.all(workers.map((w) => w.exited)), sleep(15_000)]);
  for (const w of workers) w.child.kill('SIGKILL');
  await server.cleanup();
  rmSync(sandboxRoot, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
