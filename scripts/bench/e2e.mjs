#!/usr/bin/env node
// End-to-end benchmark: a local nats-server and worker processes, driven through the client.
// Measures the latency from publish to `final` at low load, throughput at saturation with one and
// two workers, how cost grows with the number of tests, compile-cache hits against misses, and
// the worker's own CPU time per job (everything that is not the sandboxed program) — with
// sandboxes made ahead (the default) and, in the full run, again with every sandbox set up per
// run, for a before/after from one run. CPU per job at saturation is counted for the worker
// process itself, its spawn helper, and the whole machine (every process, the server's and this
// one's included), over two rounds: a worker just started (its JIT still compiling) and the same
// worker in service (after 3,000 more jobs). Prints a table and writes `.bench/e2e.json`. Needs root
// (the bwrap sandbox).
//
//   node scripts/bench/e2e.mjs            # the full run (several minutes)
//   node scripts/bench/e2e.mjs --short    # a smoke run of the default mode, for CI (not judged on speed)
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connect as natsConnect } from '@nats-io/transport-node';
import { connect } from '../../packages/client/dist/index.js';
import { startNatsServer } from '../../packages/test-helpers/dist/index.js';
import { childrenNamed, processCpuMs, spawnWorker, waitReady } from './lib.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const { values: args } = parseArgs({ options: { short: { type: 'boolean', default: false } } });
const scale = args.short ? 0.1 : 1;
const n = (count) => Math.max(3, Math.round(count * scale));

const C_HELLO = '#include <stdio.h>\nint main(void){puts("hello");return 0;}';
const PY_HELLO = 'print("hello")';
const hello = (language, code, tests = 1, extra = {}) => ({
  language,
  code,
  testCases: Array.from({ length: tests }, () => ({ input: '', expectOutput: 'hello' })),
  ...extra,
});

const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const sandboxRoot = mkdtempSync(join(os.tmpdir(), 'coderunner-bench-'));
// The slots' uids must be able to reach the sandbox files below it.
chmodSync(sandboxRoot, 0o755);
const server = await startNatsServer();
const client = await connect({ servers: server.url });
const watcher = await natsConnect({ servers: server.url });
let serial = 0;
let workerSerial = 0;
/** Every worker not yet exited, killed if the run fails midway. */
const liveWorkers = new Set();

function startWorker(warm = true) {
  const k = workerSerial++;
  const dir = join(sandboxRoot, `w${k}`);
  mkdirSync(dir, { recursive: true });
  const child = spawnWorker({ checkout: root, natsUrl: server.url, dir, uidBase: 65500 + k * 8, warm });
  const worker = { child, exited: new Promise((resolve) => child.once('exit', resolve)) };
  liveWorkers.add(worker);
  void worker.exited.then(() => liveWorkers.delete(worker));
  return worker;
}

async function stopWorkers(workers) {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

/** CPU time (ms) the whole machine spent busy so far (every core, idle and iowait excluded). */
function machineBusyMs() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100;
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
const summary = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    runs: sorted.length,
  };
};

/** Sequential submissions: publish → final latency. */
async function latency(body, runs) {
  const values = [];
  for (let i = 0; i < runs + 2; i++) {
    const started = performance.now();
    const final = await client.submitAndWait({ id: `bench-${serial++}`, ...body });
    if (final.status !== 'success') throw new Error(`unexpected verdict ${final.status}`);
    if (i >= 2) values.push(performance.now() - started);
  }
  return summary(values);
}

/**
 * Everything at once: submissions per second until every final is in. The finals are counted
 * from one subscription to the result subjects, as a busy client would, rather than with a
 * replay per submission (which would load the server and this process more than the workers).
 */
async function throughput(body, count) {
  await client.submitAndWait({ id: `bench-${serial++}`, ...body }); // compile once, cached after
  const ids = new Set(Array.from({ length: count }, () => `bench-${serial++}`));
  let failed = 0;
  let done;
  const allIn = new Promise((resolve) => (done = resolve));
  const sub = watcher.subscribe('submission.result.*', {
    callback: (_error, msg) => {
      const event = JSON.parse(new TextDecoder().decode(msg.data));
      if (event.type !== 'final' || !ids.delete(event.submissionId)) return;
      if (event.status !== 'success') failed++;
      if (ids.size === 0) done();
    },
  });
  await watcher.flush();
  const started = performance.now();
  await Promise.all([...ids].map((id) => client.submit({ id, ...body })));
  await allIn;
  const seconds = (performance.now() - started) / 1000;
  sub.unsubscribe();
  if (failed > 0) throw new Error(`${failed} submissions did not succeed`);
  return {
    perSecond: Math.round((count / seconds) * 10) / 10,
    count,
    seconds: Math.round(seconds * 100) / 100,
  };
}

/**
 * The CPU time (ms) of a fixed piece of work, the median of three: on a shared virtual machine the
 * same code can take much longer from one hour to the next, and the figures of two runs compare
 * only as these do.
 */
function calibrationMs() {
  const times = [];
  for (let round = 0; round < 3; round++) {
    const started = process.cpuUsage();
    const kept = [];
    for (let i = 0; i < 200_000; i++) {
      kept.push(JSON.stringify({ i, text: `item ${i}`, list: [i, i + 1] }));
      if (kept.length > 1000) kept.length = 0;
    }
    const used = process.cpuUsage(started);
    times.push((used.user + used.system) / 1000);
  }
  return Math.round(times.sort((a, b) => a - b)[1]);
}

const results = {
  machine: {
    cores: os.cpus().length,
    kernel: os.release(),
    node: process.version,
    calibrationMs: { start: calibrationMs(), end: 0 },
  },
  short: args.short,
};

/**
 * Latency, tests per submission, throughput and the worker's CPU per job, with sandboxes made
 * ahead (warm) or every sandbox set up on the critical path (cold).
 */
async function measureMode(warm) {
  const mode = warm ? 'warm' : 'cold';
  const out = {};
  let workers = [startWorker(warm)];
  await waitReady(client);
  log(`${mode}: latency at low load`);
  out.latencyCachedC = await latency(hello('c', C_HELLO), n(100));
  out.latencyCachedPython = await latency(hello('python', PY_HELLO), n(50));
  log(`${mode}: tests per submission`);
  out.testsPerSubmission = {};
  for (const tests of [1, 10, 100]) {
    out.testsPerSubmission[tests] = await latency(hello('c', C_HELLO, tests), n(tests === 100 ? 5 : 20));
  }
  if (warm) {
    log('compile cache');
    out.compileCache = {};
    for (const [language, code] of [
      ['cpp', '#include <iostream>\nint main(){std::cout<<"hello"<<std::endl;}'],
      ['java', 'public class Main{public static void main(String[] a){System.out.println("hello");}}'],
    ]) {
      const missCompile = [];
      const missTotal = [];
      for (let i = 0; i < n(5); i++) {
        const started = performance.now();
        const final = await client.submitAndWait({
          id: `bench-${serial++}`,
          ...hello(language, `${code}\n// ${serial}`),
        });
        missTotal.push(performance.now() - started);
        missCompile.push(final.compile?.timeInMs ?? 0);
      }
      const hit = await latency(hello(language, code), n(10));
      out.compileCache[language] = {
        compileMissMs: Math.round(summary(missCompile).p50),
        missSubmissionMs: Math.round(summary(missTotal).p50),
        hitSubmissionMs: Math.round(hit.p50),
      };
    }
  }
  log(`${mode}: throughput, one worker`);
  const pid = workers[0].child.pid;
  const helpers = childrenNamed(pid, 'coderunner-spawn');
  const helpersCpu = () => helpers.reduce((sum, helper) => sum + processCpuMs(helper), 0);
  // Two rounds: in the first the worker's JIT is still compiling (a worker just started); the
  // second is a worker in service, after 3,000 more jobs (not measured) have warmed it up.
  // Throughput and CPU per job are given for both.
  const round = async () => {
    const [cpuBefore, helperBefore, machineBefore] = [processCpuMs(pid), helpersCpu(), machineBusyMs()];
    const measured = await throughput(hello('c', C_HELLO), n(1500));
    const jobs = n(1500) + 1;
    const perJob = (ms) => Math.round((ms / jobs) * 100) / 100;
    return {
      throughput: measured,
      workerCpuPerJobMs: perJob(processCpuMs(pid) - cpuBefore),
      spawnHelperCpuPerJobMs: perJob(helpersCpu() - helperBefore),
      machineCpuPerJobMs: perJob(machineBusyMs() - machineBefore),
    };
  };
  const { throughput: cFirstRound, ...firstRound } = await round();
  await throughput(hello('c', C_HELLO), n(3000));
  const { throughput: c, ...inService } = await round();
  out.throughput1Worker = { c, cFirstRound };
  Object.assign(out, inService);
  out.firstRound = firstRound;
  out.throughput1Worker.python = await throughput(hello('python', PY_HELLO), n(600));
  await stopWorkers(workers);

  log(`${mode}: throughput, two workers`);
  workers = [startWorker(warm), startWorker(warm)];
  await waitReady(client);
  out.throughput2Workers = {
    c: await throughput(hello('c', C_HELLO), n(1500)),
    python: await throughput(hello('python', PY_HELLO), n(600)),
  };
  await stopWorkers(workers);
  return out;
}

try {
  results.warm = await measureMode(true);
  if (!args.short) results.cold = await measureMode(false);
  results.machine.calibrationMs.end = calibrationMs();
} finally {
  for (const w of liveWorkers) w.child.kill('SIGKILL');
  await client.close();
  await watcher.close();
  await server.cleanup();
  rmSync(sandboxRoot, { recursive: true, force: true });
}

const fmt = (s) =>
  `p50 ${s.p50.toFixed(1)}  p95 ${s.p95.toFixed(1)}  p99 ${s.p99.toFixed(1)} ms (${s.runs} runs)`;
console.log(
  `machine: ${results.machine.cores} cores, kernel ${results.machine.kernel}, node ${results.machine.node}; ` +
    `a fixed piece of work took ${results.machine.calibrationMs.start} ms of CPU before, ${results.machine.calibrationMs.end} ms after (compare runs by it)`,
);
for (const [mode, r] of Object.entries(results).filter(([key]) => key === 'warm' || key === 'cold')) {
  console.log(
    `\n${mode === 'warm' ? 'sandboxes made ahead (the default)' : 'every sandbox set up per run (cold)'}`,
  );
  console.log(`latency, cached C, 1 test:       ${fmt(r.latencyCachedC)}`);
  console.log(`latency, cached Python, 1 test:  ${fmt(r.latencyCachedPython)}`);
  for (const [tests, s] of Object.entries(r.testsPerSubmission)) {
    console.log(`C with ${String(tests).padStart(3)} tests:               ${fmt(s)}`);
  }
  for (const [language, c] of Object.entries(r.compileCache ?? {})) {
    console.log(
      `${language.padEnd(4)} compile miss ${c.compileMissMs} ms; submission hit ${c.hitSubmissionMs.toFixed(1)} ms vs miss ${c.missSubmissionMs.toFixed(1)} ms`,
    );
  }
  console.log(
    `throughput, 1 worker × 2 slots:  C ${r.throughput1Worker.c.perSecond}/s (first round ${r.throughput1Worker.cFirstRound.perSecond}/s), Python ${r.throughput1Worker.python.perSecond}/s`,
  );
  console.log(
    `throughput, 2 workers × 2 slots: C ${r.throughput2Workers.c.perSecond}/s, Python ${r.throughput2Workers.python.perSecond}/s`,
  );
  console.log(
    `CPU per C job at saturation, 1 worker: the worker ${r.workerCpuPerJobMs} ms, its spawn helper ${r.spawnHelperCpuPerJobMs ?? '-'} ms${together(r)}, the whole machine ${r.machineCpuPerJobMs} ms`,
  );
  console.log(
    `  (first round, JIT still compiling: the worker ${r.firstRound.workerCpuPerJobMs} ms, its spawn helper ${r.firstRound.spawnHelperCpuPerJobMs} ms, the machine ${r.firstRound.machineCpuPerJobMs} ms)`,
  );
}
mkdirSync(join(root, '.bench'), { recursive: true });
writeFileSync(join(root, '.bench', 'e2e.json'), `${JSON.stringify(results, null, 2)}\n`);

/** The worker's own CPU per job, everything but the sandbox: the worker process and its spawn helper. */
function together(r) {
  if (r.spawnHelperCpuPerJobMs == null) return '';
  return ` (together ${(r.workerCpuPerJobMs + r.spawnHelperCpuPerJobMs).toFixed(2)} ms)`;
}
