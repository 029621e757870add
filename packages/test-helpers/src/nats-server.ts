/**
 * Starts a real nats-server for a test: loopback only, a free port, JetStream with its own store
 * dir, removed afterwards. The server can be stopped and started again on the same port and
 * store (to test restarts), or killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerOptions {
  /** Extra configuration file text (accounts, authorization, limits). */
  config?: string;
  /** Extra command-line arguments. */
  args?: readonly string[];
  /** Enable JetStream (default true). */
  jetstream?: boolean;
  /** Extra environment of the server process (variables the config refers to). */
  env?: Readonly<Record<string, string>>;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The server process's pid while it runs (to stop it with SIGSTOP, say). */
  readonly pid: number | undefined;
  /** Everything the server logged so far. */
  log(): string;
  /** SIGTERM, then wait for the process to end; files stay. */
  stop(): Promise<void>;
  /** Start again on the same port and store dir. */
  restart(): Promise<void>;
  /** Stop and remove the store dir. */
  cleanup(): Promise<void>;
}

const READY = /Server is ready/;
const LISTENING = /Listening for client connections on [^\s]+:(\d+)/;

class NatsServerProcess implements NatsServer {
  private child: ChildProcess | undefined;
  private output = '';
  port = 0;

  constructor(
    readonly storeDir: string,
    private readonly configFile: string | undefined,
    private readonly options: NatsServerOptions,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const args = ['-a', '127.0.0.1', '-p', this.port === 0 ? '-1' : String(this.port)];
    if (this.options.jetstream !== false) args.push('-js', '-sd', this.storeDir);
    if (this.configFile) args.push('-c', this.configFile);
    args.push(...(this.options.args ?? []));
    const child = spawn('nats-server', args, {
      env: { ...process.env, ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${this.output}`)), 15_000);
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString();
        const port = LISTENING.exec(this.output);
        if (port) this.port = Number(port[1]);
        if (READY.test(this.output) && this.port !== 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${this.output}`));
      });
    });
    this.output = this.output.replace(READY, 'Server was ready');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async cleanup(): Promise<void> {
    await this.stop();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

/** Starts a nats-server with JetStream on a free loopback port. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const storeDir = await mkdtemp(join(tmpdir(), 'coderunner-nats-'));
  let configFile: string | undefined;
  if (options.config) {
    configFile = join(storeDir, 'server.conf');
    await writeFile(configFile, options.config);
  }
  const server = new NatsServerProcess(join(storeDir, 'js'), configFile, options);
  try {
    await server.start();
  } catch (error) {
    await rm(storeDir, { recursive: true, force: true });
    throw error;
  }
  const cleanup = server.cleanup.bind(server);
  server.cleanup = async () => {
    await cleanup();
    await rm(storeDir, { recursive: true, force: true });
  };
  return server;
}
