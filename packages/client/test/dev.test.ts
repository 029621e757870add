/**
 * `coderunner dev`, run as a child process: it runs a sample in every installed language and
 * shows their verdicts, serves submissions, stops on SIGINT or SIGTERM with exit 0 leaving no
 * process behind, and refuses to start when its port is taken.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startNatsServer, type NatsServer } from '@coderunner/test-helpers';
import { unsearchableParent, usableSandboxDir } from '../src/cli/sandbox-dir.js';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

let server: NatsServer;
const tempDirs: string[] = [];
const children: ChildProcess[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await server?.cleanup();
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The environment of `coderunner dev` for a test: its own data dir, uid range and no fixed ports. */
async function devEnv(uidBase: number, extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of Object.keys(env))
    if (key.startsWith('RUNNER_') || key.startsWith('CODERUNNER_')) delete env[key];
  const data = await tempDir('coderunner-dev-test-');
  // The sandbox dir goes inside: every directory above it must be searchable by the slot uids.
  await chmod(data, 0o755);
  return {
    ...env,
    CODERUNNER_DEV_DATA: data,
    RUNNER_RUNNER_UIDBASE: String(uidBase),
    RUNNER_RUNNER_MAXCONCURRENTJOBS: '2',
    RUNNER_HTTP_PORT: '0',
    ...extra,
  };
}

interface Dev {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDev(env: NodeJS.ProcessEnv): Dev {
  const child = spawn(process.execPath, [main, 'dev'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function waitFor(check: () => boolean, timeoutMs: number, detail: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting:\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until dev has shown its sample table and its instructions (or has exited). */
async function serving(dev: Dev): Promise<void> {
  await waitFor(
    () => dev.stdout().includes('Ctrl-C stops') || dev.child.exitCode !== null,
    180_000,
    () => `${dev.stdout()}\n${dev.stderr()}`,
  );
  if (dev.child.exitCode !== null) throw new Error(`dev exited early:\n${dev.stdout()}\n${dev.stderr()}`);
}

/** Every process below `pid`, with its command line. */
async function descendants(pid: number): Promise<{ pid: number; args: string }[]> {
  const { stdout } = await run('ps', ['-eo', 'pid=,ppid=,args=']);
  const rows = stdout
    .trim()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3] ?? '' }));
  const found: { pid: number; args: string }[] = [];
  const parents = [pid];
  while (parents.length > 0) {
    const parent = parents.pop();
    for (const row of rows.filter((r) => r.ppid === parent)) {
      found.push({ pid: row.pid, args: row.args });
      parents.push(row.pid);
    }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Processes whose command line mentions `text` (a test's own temp dir). */
async function processesMentioning(text: string): Promise<string[]> {
  const { stdout } = await run('ps', ['-eo', 'args=']);
  return stdout.split('\n').filter((line) => line.includes(text) && !line.startsWith('ps '));
}

/** The rows of the sample table: language → verdict. */
function sampleVerdicts(stdout: string): Map<string, string> {
  const lines = stdout.split('\n');
  const start = lines.findIndex((line) => /^LANGUAGE\s+VERDICT\s+COMPILE MS/.test(line));
  const rows = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    const m = /^(\S+)\s+(\S+)\s+/.exec(line);
    if (!m || line.trim() === '') break;
    rows.set(m[1] ?? '', m[2] ?? '');
  }
  return rows;
}

async function availableLanguages(url: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, [main, '--server', url, 'languages', '--json']);
  return (JSON.parse(stdout) as { id: string; available: boolean }[])
    .filter((l) => l.available)
    .map((l) => l.id);
}

describe('coderunner dev', () => {
  it('with RUNNER_NATS_URL: every installed language sample succeeds; SIGINT exits 0, nothing left', async () => {
    const env = await devEnv(64100, { RUNNER_NATS_URL: server.url });
    const dev = startDev(env);
    await serving(dev);
    const languages = await availableLanguages(server.url);
    expect(languages.length).toBeGreaterThan(0);
    const verdicts = sampleVerdicts(dev.stdout());
    expect(Object.fromEntries(verdicts)).toEqual(Object.fromEntries(languages.map((id) => [id, 'success'])));
    expect(dev.stdout()).toContain(`submit FILE --wait --server ${server.url}`);
    expect(dev.stderr()).not.toContain('starting nats-server');
    const below = await descendants(dev.child.pid as number);
    dev.child.kill('SIGINT');
    expect(await dev.exited).toEqual({ code: 0, signal: null });
    expect(below.filter((p) => alive(p.pid))).toEqual([]);
    expect(await processesMentioning(env.CODERUNNER_DEV_DATA as string)).toEqual([]);
  }, 240_000);

  it('embedded: starts its own nats-server, serves submissions, and SIGTERM stops both', async () => {
    const port = await freePort();
    const env = await devEnv(64120, { CODERUNNER_DEV_PORT: String(port) });
    const dev = startDev(env);
    await serving(dev);
    const url = `nats://127.0.0.1:${port}`;
    expect(dev.stderr()).toContain(`starting nats-server with JetStream on 127.0.0.1:${port}`);
    expect([...sampleVerdicts(dev.stdout()).values()].every((v) => v === 'success')).toBe(true);
    const below = await descendants(dev.child.pid as number);
    const nats = below.filter((p) => p.args.startsWith('nats-server'));
    expect(nats).toHaveLength(1);
    const source = join(env.CODERUNNER_DEV_DATA as string, 'hello.py');
    await writeFile(source, 'print("served")\n');
    const submitted = await run(process.execPath, [
      main,
      '--server',
      url,
      'submit',
      source,
      '--wait',
      '--json',
    ]);
    expect(JSON.parse(submitted.stdout)).toMatchObject({ type: 'final', status: 'success' });
    dev.child.kill('SIGTERM');
    expect(await dev.exited).toEqual({ code: 0, signal: null });
    expect(below.filter((p) => alive(p.pid))).toEqual([]);
    expect(await processesMentioning(env.CODERUNNER_DEV_DATA as string)).toEqual([]);
  }, 240_000);

  it('refuses to start, in one clear line, when its port is taken', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dev = startDev(await devEnv(64140, { CODERUNNER_DEV_PORT: String(port) }));
      expect(await dev.exited).toEqual({ code: 1, signal: null });
      expect(dev.stderr()).toBe(
        `coderunner: another coderunner dev or nats-server is already running on port ${port}; submit to it with: coderunner submit FILE --wait --server nats://127.0.0.1:${port}\n`,
      );
      expect(dev.stdout()).toBe('');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 30_000);
});

describe('the sandbox dir of coderunner dev', () => {
  it('moves under the temp dir when a directory above it is not searchable by other users', async () => {
    const home = await tempDir('coderunner-dev-home-');
    await chmod(home, 0o700);
    const wanted = join(home, 'repo', '.data', 'sandbox');
    expect(unsearchableParent(wanted)).toBe(home);
    expect(usableSandboxDir(wanted)).toEqual({
      dir: join(tmpdir(), 'coderunner-dev-sandbox'),
      blockedBy: home,
    });
    await chmod(home, 0o755);
    expect(usableSandboxDir(wanted)).toEqual({ dir: wanted });
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
