#!/usr/bin/env node
// The chaos suite: a local nats-server (file storage), several worker processes, and a load of
// submissions across languages with known verdicts, while faults are injected on a schedule:
// SIGKILL a worker (and start another), SIGTERM a worker, restart nats-server, SIGSTOP a worker for
// longer than ack_wait, and fill the sandbox disk for a while. At the end it checks, from the
// results stream alone, that every submission has exactly one final with the expected verdict, and
// that nothing is left in the work queue. Needs root (bwrap sandbox, a tmpfs for the disk fault).
//
//   node scripts/chaos.mjs --short          # about 3 minutes, as CI runs it
//   node scripts/chaos.mjs --minutes 20     # the long form
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { readResults, startNatsServer } from '../packages/test-helpers/dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    minutes: { type: 'string' },
    workers: { type: 'string', default: '3' },
    rate: { type: 'string' },
  },
});
const minutes = Number(args.minutes ?? (args.short ? 2 : 20));
const rate = Number(args.rate ?? 3); // submissions per second
const workerCount = Number(args.workers);
const ACK_WAIT_SEC = 3;

/** Submissions with the verdict each must get. */
const KINDS = [
  {
    name: 'c-correct',
    verdict: 'success',
    body: {
      language: 'c',
      code: '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}',
      testCases: [
        { input: '2 3', expectOutput: '5' },
        { input: '40 2', expectOutput: '42' },
      ],
    },
  },
  {
    name: 'python-wrong',
    verdict: 'wrong_answer',
    body: {
      language: 'python',
      code: 'print(int(input()) * 2)',
      testCases: [{ input: '3', expectOutput: '7' }],
    },
  },
  {
    name: 'python-slow',
    verdict: 'time_limit_exceeded',
    body: {
      language: 'python',
      code: 'while True:\n    pass',
      timeLimitInMs: 300,
      testCases: [{ input: '' }],
    },
  },
  {
    name: 'c-crash',
    verdict: 'runtime_error',
    body: { language: 'c', code: 'int main(void){volatile int *p=0;return *p;}', testCases: [{ input: '' }] },
  },
  {
    name: 'c-greedy',
    verdict: 'memory_limit_exceeded',
    body: {
      language: 'c',
      code: '#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char*p=malloc(8<<20);if(p)memset(p,1,8<<20);}}',
      memoryLimitInKb: 65536,
      testCases: [{ input: '' }],
    },
  },
  {
    name: 'js-correct',
    verdict: 'success',
    body: {
      language: 'javascript',
      code: "console.log(require('fs').readFileSync(0,'utf8').trim().split(' ').map(Number).reduce((a,b)=>a+b))",
      testCases: [{ input: '2 3', expectOutput: '5' }],
    },
  },
  {
    name: 'cpp-correct',
    verdict: 'success',
    body: {
      language: 'cpp',
      code: '#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a*b<<"\\n";}',
      testCases: [{ input: '6 7', expectOutput: '42' }],
    },
  },
  {
    name: 'go-correct',
    verdict: 'success',
    body: {
      language: 'go',
      code: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tvar a, b int\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a - b)\n}\n',
      testCases: [{ input: '50 8', expectOutput: '42' }],
    },
  },
  {
    name: 'java-wrong',
    verdict: 'wrong_answer',
    body: {
      language: 'java',
      code: 'public class Main { public static void main(String[] a) { System.out.println("41"); } }',
      testCases: [{ input: '', expectOutput: '42' }],
    },
  },
  {
    name: 'invalid',
    verdict: 'invalid_submission',
    body: { language: 'c', code: '', timeLimitInMs: 999999999, testCases: [{ input: '' }] },
  },
];

const log = (message) =>
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

// The sandbox base dir on a small tmpfs, so that the disk can be filled without harming the host.
const sandboxRoot = mkdtempSync(join(tmpdir(), 'coderunner-chaos-'));
await run('mount', ['-t', 'tmpfs', '-o', 'size=1g,mode=0755', 'tmpfs', sandboxRoot]);

function run(file, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { stdio: 'inherit' });
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} ${argv.join(' ')} exited ${code}`)),
    );
  });
}

const server = await startNatsServer();
const workers = new Set();
let nc;

/** The run itself; resolves with whether it failed (a loss, a duplicate, a wrong verdict). */
async function chaos() {
  let workerSerial = 0;

  function startWorker() {
    const n = workerSerial++;
    const dir = join(sandboxRoot, `w${n}`);
    mkdirSync(dir, { recursive: true });
    const env = {
      ...process.env,
      RUNNER_NATS_URL: server.url,
      RUNNER_RUNNER_SANDBOXBASEDIR: dir,
      RUNNER_RUNNER_UIDBASE: String(65000 + n * 8),
      RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
      RUNNER_RUNNER_RETRYBACKOFFMS: '500,1000,2000',
      RUNNER_RUNNER_SHUTDOWNGRACESEC: '5',
      RUNNER_NATS_ACKWAITSEC: String(ACK_WAIT_SEC),
      RUNNER_NATS_MAXDELIVER: '20',
      RUNNER_NATS_PULLEXPIRESMS: '2000',
      RUNNER_HTTP_PORT: '0',
      RUNNER_LOG_LEVEL: 'error',
    };
    const child = spawn(process.execPath, [join(root, 'packages/worker/dist/bin.js')], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const worker = { n, child, exited: new Promise((resolve) => child.once('exit', resolve)) };
    workers.add(worker);
    void worker.exited.then(() => workers.delete(worker));
    return worker;
  }

  for (let i = 0; i < workerCount; i++) startWorker();
  await sleep(3000);

  nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const js = jetstream(nc);

  /** Publishes with the id as message id, retrying through restarts: the same id is stored once. */
  async function publish(id, body) {
    for (let attempt = 0; ; attempt++) {
      try {
        await js.publish('submission.created', JSON.stringify({ id, ...body }), { msgID: id, timeout: 2000 });
        return;
      } catch (error) {
        if (attempt > 120) throw error;
        await sleep(250);
      }
    }
  }

  // Faults, in rotation.
  const pick = () => [...workers][Math.floor(Math.random() * workers.size)];
  /** Stops a random worker with `signal` and starts another in its place. */
  const replaceWorker = (signal) => async () => {
    pick()?.child.kill(signal);
    startWorker();
  };
  const FAULTS = {
    sigkill: replaceWorker('SIGKILL'),
    sigterm: replaceWorker('SIGTERM'),
    async 'nats-restart'() {
      await server.restart();
    },
    async sigstop() {
      const w = pick();
      if (!w) return;
      w.child.kill('SIGSTOP');
      await sleep((ACK_WAIT_SEC + 3) * 1000);
      w.child.kill('SIGCONT');
    },
    async 'disk-full'() {
      const filler = join(sandboxRoot, 'filler');
      try {
        writeFileSync(filler, Buffer.alloc(1024 * 1024 * 1024));
      } catch {
        // The tmpfs is full now: that is the fault.
      }
      await sleep(5000);
      rmSync(filler, { force: true });
    },
  };

  const faults = Object.fromEntries(Object.keys(FAULTS).map((name) => [name, 0]));
  const expected = new Map();
  const published = new Map();
  const deadline = Date.now() + minutes * 60_000;
  let serial = 0;
  const load = (async () => {
    while (Date.now() < deadline) {
      const kind = KINDS[serial % KINDS.length];
      const id = `chaos-${serial++}-${kind.name}`;
      expected.set(id, kind.verdict);
      published.set(id, Date.now());
      void publish(id, kind.body).catch((error) => log(`cannot publish ${id}: ${error.message}`));
      await sleep(1000 / rate);
    }
  })();
  const schedule = (async () => {
    const names = Object.keys(FAULTS);
    let i = 0;
    await sleep(8000);
    while (Date.now() < deadline - 10_000) {
      const name = names[i++ % names.length];
      log(`fault: ${name}`);
      faults[name]++;
      await FAULTS[name]().catch((error) => log(`fault ${name} failed: ${error.message}`));
      await sleep(args.short ? 6000 : 20_000);
    }
  })();
  await Promise.all([load, schedule]);
  log(`load done: ${expected.size} submitted; waiting for finals`);

  let events = new Map();
  const settleBy = Date.now() + 180_000;
  for (;;) {
    events = await readResults(nc).catch(() => events);
    const missing = [...expected.keys()].filter(
      (id) => !(events.get(id) ?? []).some((e) => e.type === 'final'),
    );
    if (missing.length === 0 || Date.now() > settleBy) break;
    await sleep(2000);
  }
  await sleep(ACK_WAIT_SEC * 1000 + 2000); // let any late duplicate show itself
  events = await readResults(nc);

  const jsm = await jetstreamManager(nc);
  const leftInQueue = (await jsm.streams.info('SUBMISSIONS')).state.messages;
  const deadLetters = (await jsm.streams.info('SUBMISSIONS_DLQ')).state.messages;
  let lost = 0;
  let duplicates = 0;
  const wrong = [];
  const latencies = [];
  for (const [id, verdict] of expected) {
    const finals = (events.get(id) ?? []).filter((e) => e.type === 'final');
    if (finals.length === 0) lost++;
    if (finals.length > 1) duplicates += finals.length - 1;
    const final = finals[0];
    if (final && final.status !== verdict)
      wrong.push(`${id}: ${final.status}${final.error ? ` (${final.error})` : ''}`);
    if (final) latencies.push(Date.parse(final.at) - published.get(id));
  }
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;

  const report = {
    minutes,
    workers: workerCount,
    submitted: expected.size,
    finals: expected.size - lost,
    duplicates,
    lost,
    wrongVerdicts: wrong.length,
    leftInQueue,
    deadLetters,
    faults,
    latencyMs: { p50: pct(50), p99: pct(99) },
  };
  console.log('\nchaos report');
  for (const [key, value] of Object.entries(report))
    console.log(`  ${key.padEnd(14)} ${typeof value === 'object' ? JSON.stringify(value) : value}`);
  for (const line of wrong.slice(0, 20)) console.log(`  wrong: ${line}`);
  mkdirSync(join(root, '.bench'), { recursive: true });
  writeFileSync(join(root, '.bench', 'chaos.json'), `${JSON.stringify({ ...report, wrong }, null, 2)}\n`);
  return lost > 0 || duplicates > 0 || wrong.length > 0 || leftInQueue > 0;
}

let failed = true;
try {
  failed = await chaos();
} catch (error) {
  log(`failed: ${error.stack ?? error}`);
} finally {
  // Clean up, whatever happened: workers, server, tmpfs.
  await nc?.close();
  for (const w of workers) w.child.kill('SIGCONT');
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.race([Promise.all([...workers].map((w) => w.exited)), sleep(15_000)]);
  for (const w of workers) w.child.kill('SIGKILL');
  await server.cleanup();
  await run('umount', [sandboxRoot]).catch(() => undefined);
  rmSync(sandboxRoot, { recursive: true, force: true });
}
console.log(failed ? 'chaos: FAILED' : 'chaos: 0 lost, 0 duplicates, 0 wrong verdicts');
process.exit(failed ? 1 : 0);
