/**
 * The embedded nats-server of `coderunner dev`: a child process with JetStream on a loopback
 * port, its store and log under the data dir. It runs in its own process group, so that a
 * terminal's Ctrl-C reaches only `coderunner dev`, which stops the worker first and then the
 * server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT } from './exit-codes.js';
import { waitForPort } from './ports.js';

export interface NatsChildOptions {
  port: number;
  /** Monitoring port; undefined: no monitoring. */
  monitorPort: number | undefined;
  /** Holds `nats/` (the JetStream store) and `nats-server.log`. */
  dataDir: string;
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.at(-1)?.trim() ?? '';
  } catch {
    return '';
  }
}

export class NatsChild {
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly logFile: string,
  ) {
    this.exit = new Promise((resolve) => {
      child.once('exit', () => {
        this.exited = true;
        resolve();
      });
    });
  }

  /** Starts the server and resolves when it accepts connections. */
  static async start(options: NatsChildOptions): Promise<NatsChild> {
    const logFile = join(options.dataDir, 'nats-server.log');
    const args = ['-a', '127.0.0.1', '-p', String(options.port)];
    if (options.monitorPort !== undefined) args.push('-m', String(options.monitorPort));
    args.push('-js', '-sd', join(options.dataDir, 'nats'));
    const log = openSync(logFile, 'w');
    let child: ChildProcess;
    try {
      child = spawn('nats-server', args, { stdio: ['ignore', log, log], detached: true });
    } finally {
      closeSync(log);
    }
    const server = new NatsChild(child, `nats://127.0.0.1:${options.port}`, logFile);
    let failure: NodeJS.ErrnoException | undefined;
    child.once('error', (error: NodeJS.ErrnoException) => (failure = error));
    const up = await waitForPort(options.port, 15_000, () => server.exited || failure !== undefined);
    if (up) return server;
    await server.stop();
    if (failure?.code === 'ENOENT') {
      throw new CliError('nats-server is not installed (apt-get install nats-server)', EXIT.failed);
    }
    const why = lastLine(logFile);
    throw new CliError(`nats-server did not start${why ? `: ${why}` : ''} (see ${logFile})`, EXIT.failed);
  }

  get running(): boolean {
    return !this.exited && this.child.pid !== undefined;
  }

  /** SIGTERM, then wait for it to end (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(timer);
  }

  /** At once, for a process that is exiting: SIGKILL. */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}
