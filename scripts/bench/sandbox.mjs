#!/usr/bin/env node
/**
 * Sandbox overhead benchmark: what one test run costs inside the engine compared with running the
 * same compiled program directly.
 *
 * For each language (c, cpp, go, python, java, javascript) and each program (a hello world, then
 * a CPU-bound loop of ~0.2–0.5 s) it measures, after warm-up runs:
 *   - bare: the program compiled once into a temp dir with the registry's own compile command,
 *     then started with child_process.spawn (no sandbox, no cgroup), stdin piped, output read;
 *     the wall time from spawn to the close of its outputs;
 *   - sandboxed, twice: `engine.judge()` of a one-test submission (same code, so the compile
 *     comes from the compile cache; every measured run checks `compile.cached === true`) by an
 *     engine that makes each slot's next sandbox ahead of time (warm; the engine is left idle
 *     30 ms first, as at low load) and by one that sets every sandbox up on the run's critical
 *     path (cold), recording the test's `wallTimeInMs`, `timeUsedInMs` (CPU, from the cgroup)
 *     and `memoryUsedInKb`, and the end-to-end time of the judge() call.
 * Bare and sandboxed runs alternate (which goes first alternates too), so that a drift of the
 * machine affects both alike. The CPU loop shows whether the overhead is a constant (start-up of
 * the sandbox) or grows with run time.
 *
 * It prints a table and writes the figures as JSON to .bench/sandbox.json. It exits non-zero if a
 * sandboxed run does not get verdict `success` (or a bare run prints the wrong output).
 *
 * Run (from the repository root, after `pnpm build`; the bwrap sandbox needs root):
 *   node scripts/bench/sandbox.mjs [--runs N] [--langs c,python] [--short] [--base DIR] [--type bwrap|direct]
 *     --runs N     measured runs of the hello world per language (default 100, after 3 warm-ups)
 *     --langs L    comma-separated language ids (default: all six)
 *     --short      5 runs (2 of the CPU loop): a smoke test for CI
 *     --base DIR   the engine's base dir (default: a fresh temp dir, removed at the end)
 *     --type T     sandbox type, bwrap (default) or direct
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createEngine } from '../../packages/sandbox/dist/index.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const JSON_PATH = join(ROOT, '.bench', 'sandbox.json');
const ALL_LANGUAGES = ['c', 'cpp', 'go', 'python', 'java', 'javascript'];
const WARMUP_RUNS = 3;
/** Idle time before a warm run (ms), as between submissions at low load. */
const IDLE_MS = 30;
const CPU_WARMUP_RUNS = 1;
const MEMORY_MB = 256;
/** The environment of the sandbox's runs (isolation.ts), also given to the bare runs. */
const BASE_ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };

// ---------------------------------------------------------------------------------------------
// The programs

const HELLO = 'Hello, World!\n';

const HELLO_PROGRAMS = {
  c: '#include <stdio.h>\n\nint main(void) {\n  puts("Hello, World!");\n  return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n  std::cout << "Hello, World!\\n";\n  return 0;\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, World!")\n}\n',
  python: 'print("Hello, World!")\n',
  java: [
    'public class Main {',
    '  public static void main(String[] args) {',
    '    System.out.println("Hello, World!");',
    '  }',
    '}',
    '',
  ].join('\n'),
  javascript: "console.log('Hello, World!');\n",
};

/**
 * The CPU-bound loop: a 32-bit linear congruential recurrence x = x * 1664525 + i over i < n,
 * with n read from stdin (so no compiler can fold it away), printing x as an unsigned number.
 */
const CPU_PROGRAMS = {
  c: [
    '#include <stdint.h>',
    '#include <stdio.h>',
    '',
    'int main(void) {',
    '  uint32_t n, x = 0;',
    '  if (scanf("%u", &n) != 1) return 1;',
    '  for (uint32_t i = 0; i < n; i++) x = x * 1664525u + i;',
    '  printf("%u\\n", x);',
    '  return 0;',
    '}',
    '',
  ].join('\n'),
  cpp: [
    '#include <cstdint>',
    '#include <iostream>',
    '',
    'int main() {',
    '  std::uint32_t n, x = 0;',
    '  if (!(std::cin >> n)) return 1;',
    '  for (std::uint32_t i = 0; i < n; i++) x = x * 1664525u + i;',
    "  std::cout << x << '\\n';",
    '  return 0;',
    '}',
    '',
  ].join('\n'),
  go: [
    'package main',
    '',
    'import "fmt"',
    '',
    'func main() {',
    '\tvar n, x uint32',
    '\tfmt.Scan(&n)',
    '\tfor i := uint32(0); i < n; i++ {',
    '\t\tx = x*1664525 + i',
    '\t}',
    '\tfmt.Println(x)',
    '}',
    '',
  ].join('\n'),
  python: [
    'import sys',
    '',
    '',
    'def main():',
    '    n = int(sys.stdin.readline())',
    '    x = 0',
    '    for i in range(n):',
    '        x = (x * 1664525 + i) & 0xFFFFFFFF',
    '    print(x)',
    '',
    '',
    'main()',
    '',
  ].join('\n'),
  java: [
    'import java.io.BufferedReader;',
    'import java.io.InputStreamReader;',
    '',
    'public class Main {',
    '  public static void main(String[] args) throws Exception {',
    '    int n = Integer.parseInt(new BufferedReader(new InputStreamReader(System.in)).readLine().trim());',
    '    int x = 0;',
    '    for (int i = 0; i < n; i++) x = x * 1664525 + i;',
    '    System.out.println(Integer.toUnsignedString(x));',
    '  }',
    '}',
    '',
  ].join('\n'),
  javascript: [
    "const n = Number(require('fs').readFileSync(0, 'utf8'));",
    'let x = 0;',
    'for (let i = 0; i < n; i++) x = (Math.imul(x, 1664525) + i) >>> 0;',
    'console.log(x);',
    '',
  ].join('\n'),
};

/** Iterations of the CPU loop: Python is ~50 times slower per iteration than the others. */
const CPU_ITERATIONS = { python: 4_000_000, default: 200_000_000 };

/** The expected output of the CPU loop, computed here. */
function cpuExpected(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1664525) + i) >>> 0;
  return `${x}\n`;
}

/** The two programs measured for a language: what to run, its input and expected output. */
function programsOf(language) {
  const n = CPU_ITERATIONS[language] ?? CPU_ITERATIONS.default;
  return [
    { kind: 'hello', code: HELLO_PROGRAMS[language], input: '', expected: HELLO, timeInMs: 5_000 },
    {
      kind: 'cpu',
      code: CPU_PROGRAMS[language],
      input: `${n}\n`,
      expected: cpuExpected(n),
      timeInMs: 10_000,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Options and statistics

function parseOptions() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      langs: { type: 'string' },
      short: { type: 'boolean', default: false },
      base: { type: 'string' },
      type: { type: 'string', default: 'bwrap' },
    },
  });
  const runs = values.runs !== undefined ? Number(values.runs) : values.short ? 5 : 100;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer`);
  const languages = values.langs ? values.langs.split(',').map((l) => l.trim()) : ALL_LANGUAGES;
  const unknown = languages.filter((l) => !ALL_LANGUAGES.includes(l));
  if (unknown.length > 0) throw new Error(`unknown language(s): ${unknown.join(', ')}`);
  if (values.type !== 'bwrap' && values.type !== 'direct') throw new Error('--type is bwrap or direct');
  return {
    runs,
    cpuRuns: values.short ? 2 : Math.min(5, runs),
    languages,
    base: values.base,
    type: values.type,
  };
}

/** The value at quantile q (nearest rank) of sorted numbers. */
function quantile(sorted, q) {
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

function median(sorted) {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (x) => Math.round(x * 100) / 100;
  return {
    median: round(median(sorted)),
    p90: round(quantile(sorted, 0.9)),
    p99: round(quantile(sorted, 0.99)),
    min: round(sorted[0]),
    max: round(sorted[sorted.length - 1]),
    samples: samples.map(round),
  };
}

// ---------------------------------------------------------------------------------------------
// Bare runs

/** Replaces the registry's placeholders, as the engine does for a 256 MiB limit. */
function expand(template) {
  return template
    .replaceAll('{memoryMb}', String(MEMORY_MB))
    .replaceAll('{memoryKb}', String(MEMORY_MB * 1024))
    .replaceAll('{memoryBytes}', String(MEMORY_MB * 1024 * 1024));
}

function argvOf(command) {
  return typeof command === 'string' ? ['/bin/sh', '-c', expand(command)] : command.map(expand);
}

/**
 * The sandbox's environment for the host: HOME and TMPDIR, and any value under /tmp (Go's
 * GOCACHE, GOPATH), are moved into the program's own temp dir.
 */
function hostEnv(env, dir) {
  const moved = Object.entries(env).map(([name, value]) => [
    name,
    expand(value.startsWith('/tmp') ? join(dir, 'tmp', value.slice('/tmp'.length)) : value),
  ]);
  return { ...BASE_ENV, ...Object.fromEntries(moved), HOME: join(dir, 'tmp'), TMPDIR: join(dir, 'tmp') };
}

/** Runs argv in dir with input on stdin; resolves with its outputs, exit status and wall time. */
function spawnTimed(argv, { dir, env, input }) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0], argv.slice(1), { cwd: dir, env, stdio: 'pipe' });
    const stdout = [];
    const stderr = [];
    child.stdout.on('data', (chunk) => stdout.push(chunk));
    child.stderr.on('data', (chunk) => stderr.push(chunk));
    child.stdin.on('error', () => undefined); // EPIPE: the program did not read its input.
    child.stdin.end(input);
    child.once('error', reject);
    child.once('close', (code, signal) =>
      resolve({
        wallMs: performance.now() - started,
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      }),
    );
  });
}

/** Writes the source into a fresh temp dir and compiles it with the registry's command. */
async function compileBare(language, code) {
  const dir = await mkdtemp(join(os.tmpdir(), `bench-${language.id}-`));
  await mkdir(join(dir, 'tmp'));
  await writeFile(join(dir, language.sourceFile), code);
  const env = hostEnv(language.env, dir);
  if (language.compile !== undefined) {
    const result = await spawnTimed(argvOf(language.compile), { dir, env, input: '' });
    if (result.code !== 0) throw new Error(`bare compile failed (exit ${result.code}): ${result.stderr}`);
  }
  return {
    dir,
    argv: argvOf(language.run),
    env: hostEnv({ ...language.env, ...language.runEnv }, dir),
  };
}

async function runBare(bare, program) {
  const result = await spawnTimed(bare.argv, { dir: bare.dir, env: bare.env, input: program.input });
  if (result.code !== 0 || result.stdout !== program.expected) {
    throw new Error(
      `bare run: exit ${result.code ?? result.signal}, output ${JSON.stringify(result.stdout.slice(0, 200))}` +
        ` (expected ${JSON.stringify(program.expected)}), stderr ${JSON.stringify(result.stderr.slice(0, 500))}`,
    );
  }
  return result.wallMs;
}

// ---------------------------------------------------------------------------------------------
// Sandboxed runs

let submissionCount = 0;

/** A NormalizedSubmission (packages/protocol/src/normalize.ts) of one test. */
function submissionOf(language, program) {
  return {
    id: `bench-${process.pid}-${++submissionCount}`,
    language,
    code: program.code,
    files: [],
    testCases: [{ id: '1', input: program.input, expectOutput: program.expected }],
    limits: {
      timeInMs: program.timeInMs,
      wallTimeInMs: program.timeInMs * 2,
      memoryInKb: MEMORY_MB * 1024,
      outputInKb: 64,
    },
    checker: { type: 'lines', ignoreCase: false },
    stopOnFirstFailure: false,
  };
}

/** Why a judged run is not a clean, cached success; undefined when it is. */
function problemOf(result, expectCached) {
  const test = result.tests[0];
  if (result.compile.status !== 'success') {
    return `compile ${result.compile.status}: ${result.compile.output.trim().slice(0, 1000)}`;
  }
  if (expectCached && result.compile.cached !== true) return 'the compile was not taken from the cache';
  if (result.status !== 'success' || test?.status !== 'success') {
    const detail = [
      test?.message,
      `exit ${test?.exitCode ?? test?.signal}`,
      `output ${JSON.stringify(test?.output.slice(0, 200))}`,
      `stderr ${JSON.stringify(test?.error.slice(0, 500))}`,
    ];
    return `verdict ${result.status}: ${detail.filter(Boolean).join('; ')}`;
  }
  return undefined;
}

async function runSandboxed(engine, language, program, expectCached) {
  const started = performance.now();
  const result = await engine.judge(submissionOf(language, program));
  const judgeMs = performance.now() - started;
  const problem = problemOf(result, expectCached);
  if (problem !== undefined) throw new Error(`sandboxed run: ${problem}`);
  const test = result.tests[0];
  return { judgeMs, wallMs: test.wallTimeInMs, cpuMs: test.timeUsedInMs, memoryKb: test.memoryUsedInKb };
}

// ---------------------------------------------------------------------------------------------
// One language, one program

/**
 * Warm-up runs, then measured runs alternating bare, sandboxed with sandboxes made ahead (warm)
 * and sandboxed without (cold). Before each warm run the engine is left idle for a moment, as at
 * low load, so that the slot's next sandbox is ready: that set-up is what "made ahead" moves off
 * the critical path (judge() shows any wait for it).
 */
async function measure(engines, language, program, { warmups, runs }) {
  const bare = await compileBare(engines.warm.registry.languages.get(language), program.code);
  try {
    for (let i = 0; i < warmups; i++) {
      await runBare(bare, program);
      await runSandboxed(engines.warm, language, program, i > 0);
      await runSandboxed(engines.cold, language, program, i > 0);
    }
    const samples = {
      bareMs: [],
      testWallMs: [],
      judgeMs: [],
      cpuMs: [],
      memoryKb: [],
      coldWallMs: [],
      coldJudgeMs: [],
      coldCpuMs: [],
    };
    for (let i = 0; i < runs; i++) {
      // Alternate which goes first, so that neither always follows the other's clean-up.
      if (i % 2 === 0) samples.bareMs.push(await runBare(bare, program));
      const cold = await runSandboxed(engines.cold, language, program, true);
      await sleep(IDLE_MS);
      const run = await runSandboxed(engines.warm, language, program, true);
      if (i % 2 === 1) samples.bareMs.push(await runBare(bare, program));
      samples.testWallMs.push(run.wallMs);
      samples.judgeMs.push(run.judgeMs);
      samples.cpuMs.push(run.cpuMs);
      samples.memoryKb.push(run.memoryKb);
      samples.coldWallMs.push(cold.wallMs);
      samples.coldJudgeMs.push(cold.judgeMs);
      samples.coldCpuMs.push(cold.cpuMs);
    }
    return Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarize(values)]));
  } finally {
    await rm(bare.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Output

function machineFacts(engine) {
  return {
    cores: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    sandboxType: engine.environment.sandboxType,
    cgroups:
      'version' in engine.environment.cgroups
        ? `v${engine.environment.cgroups.version}`
        : `none (${engine.environment.cgroups.problem})`,
    toolchains: Object.fromEntries(engine.languages().map((l) => [l.id, l.version ?? l.reason ?? '?'])),
  };
}

function printMachine(facts) {
  console.log(`cores: ${facts.cores} (${facts.cpuModel})   kernel: ${facts.kernel}   node: ${facts.node}`);
  console.log(`load average at start (1, 5, 15 min): ${facts.loadAverage.join(', ')}`);
  console.log(`sandbox: ${facts.sandboxType}, cgroups ${facts.cgroups}`);
  const versions = Object.entries(facts.toolchains).map(([id, version]) => `${id} ${version}`);
  console.log(`toolchains: ${versions.join(', ')}`);
}

function printTable(headers, rows) {
  const cells = [headers, ...rows].map((row) => row.map(String));
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  const line = (row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])));
  console.log(line(cells[0]).join(' | '));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of cells.slice(1)) console.log(line(row).join(' | '));
}

const fixed = (x, digits = 1) => x.toFixed(digits);

function printResults(title, results) {
  console.log(`\n${title}`);
  const entries = Object.entries(results);
  printTable(
    [
      'language',
      'bare ms',
      'cold test ms',
      'cold overhead',
      'warm test ms',
      'warm overhead',
      'warm ratio',
      'judge() cold / warm',
      'cpu ms cold / warm',
      'memory KB',
    ],
    entries.map(([language, r]) => [
      language,
      fixed(r.bareMs.median),
      fixed(r.coldWallMs.median),
      fixed(r.coldWallMs.median - r.bareMs.median),
      fixed(r.testWallMs.median),
      fixed(r.testWallMs.median - r.bareMs.median),
      `${fixed(r.testWallMs.median / r.bareMs.median, 2)}x`,
      `${fixed(r.coldJudgeMs.median)} / ${fixed(r.judgeMs.median)}`,
      `${fixed(r.coldCpuMs.median)} / ${fixed(r.cpuMs.median)}`,
      Math.round(r.memoryKb.median),
    ]),
  );
  console.log('p90 / p99 ms:');
  const tail = (s) => `${fixed(s.p90)} / ${fixed(s.p99)}`;
  printTable(
    ['language', 'bare', 'cold test', 'warm test', 'judge() warm'],
    entries.map(([language, r]) => [
      language,
      tail(r.bareMs),
      tail(r.coldWallMs),
      tail(r.testWallMs),
      tail(r.judgeMs),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Main

/** A fresh base dir the slot uids can traverse (mkdtemp makes it 0700, which bwrap cannot bind from). */
async function freshBaseDir() {
  const dir = await mkdtemp(join(os.tmpdir(), 'bench-sandbox-'));
  await chmod(dir, 0o755);
  return dir;
}

async function main() {
  const options = parseOptions();
  const baseDir = options.base ?? (await freshBaseDir());
  const warm = await createEngine({ sandboxType: options.type, baseDir, slots: 1, uidBase: 61900 });
  // The same sandbox without sandboxes made ahead: every run sets its own up (its own base dir
  // and uid, so that the two never share a slot).
  const coldDir = await freshBaseDir();
  const cold = await createEngine({
    sandboxType: options.type,
    baseDir: coldDir,
    slots: 1,
    uidBase: 61910,
    warmSandboxes: false,
  });
  const engines = { warm, cold };
  const facts = machineFacts(warm);
  printMachine(facts);
  console.log(
    `runs: ${options.runs} hello world (after ${WARMUP_RUNS} warm-ups), ` +
      `${options.cpuRuns} CPU loop (after ${CPU_WARMUP_RUNS}); languages: ${options.languages.join(', ')}`,
  );

  const results = { hello: {}, cpu: {} };
  const failures = [];
  const started = performance.now();
  try {
    for (const language of options.languages) {
      for (const program of programsOf(language)) {
        const cpu = program.kind === 'cpu';
        process.stderr.write(`  ${language} ${program.kind}...\n`);
        try {
          results[program.kind][language] = await measure(engines, language, program, {
            warmups: cpu ? CPU_WARMUP_RUNS : WARMUP_RUNS,
            runs: cpu ? options.cpuRuns : options.runs,
          });
        } catch (error) {
          failures.push({ language, program: program.kind, error: error.message });
          process.stderr.write(`  ${language} ${program.kind} FAILED: ${error.message}\n`);
        }
      }
    }
  } finally {
    await warm.close();
    await cold.close();
    if (options.base === undefined) await rm(baseDir, { recursive: true, force: true });
    await rm(coldDir, { recursive: true, force: true });
  }

  printResults(`Hello world, one test run (${options.runs} runs)`, results.hello);
  printResults(`CPU-bound loop, one test run (${options.cpuRuns} runs)`, results.cpu);
  console.log(
    "\nbare: spawn to close of the outputs, no sandbox; test: the engine's wallTimeInMs (cold: from the " +
      'spawn of the sandbox; warm: from the start of the program in a sandbox made ahead) to exit; ' +
      "judge(): the whole call; cpu ms and memory KB: from the run's cgroup.",
  );
  console.log(`total ${fixed((performance.now() - started) / 1000)} s`);

  const report = { date: new Date().toISOString(), machine: facts, options, results, failures };
  await mkdir(dirname(JSON_PATH), { recursive: true });
  await writeFile(JSON_PATH, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${JSON_PATH}`);

  if (failures.length > 0) {
    console.error(`\n${failures.length} failure(s):`);
    for (const f of failures) console.error(`  ${f.language} ${f.program}: ${f.error}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(`the benchmark failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
