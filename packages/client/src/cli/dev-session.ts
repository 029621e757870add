/**
 * What `coderunner dev` runs: an embedded nats-server (unless RUNNER_NATS_URL names one), a
 * worker in this process, and a client for the samples. States: starting → running → stopped;
 * `stop()` stops the worker gracefully, closes the client, then stops the server.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createLogger, loadConfig, Worker } from '@coderunner/worker';
import { connect, type CoderunnerClient } from '../client.js';
import { CliError, EXIT, oneLine } from './exit-codes.js';
import { NatsChild } from './nats-child.js';
import { portFree } from './ports.js';
import { usableSandboxDir } from './sandbox-dir.js';

export interface DevSettings {
  /** A server to use instead of an embedded one (--server or RUNNER_NATS_URL). */
  externalUrl: string | undefined;
  /** Port of the embedded server (CODERUNNER_DEV_PORT, default 4222). */
  port: number;
  /** Monitoring port of the embedded server, when free (8222). */
  monitorPort: number;
  /** The worker's health and metrics port, when free (9090). */
  httpPort: number;
  /** The NATS store, its log and the sandbox dir (CODERUNNER_DEV_DATA, default `<repo>/.data`). */
  dataDir: string;
  /** Where notes go. */
  say: (line: string) => void;
}

/** The worker's environment: every RUNNER_ variable already set wins over these defaults. */
export function workerEnv(url: string, httpPort: number, sandboxDir: string): NodeJS.ProcessEnv {
  const root = process.getuid?.() === 0;
  const defaults: Record<string, string> = {
    RUNNER_RUNNER_SANDBOXBASEDIR: sandboxDir,
    RUNNER_RUNNER_MAXCONCURRENTJOBS: String(availableParallelism()),
    RUNNER_RUNNER_SANDBOXTYPE: root ? 'bwrap' : 'direct',
    RUNNER_HTTP_PORT: String(httpPort),
    RUNNER_LOG_LEVEL: 'warn',
  };
  const env: NodeJS.ProcessEnv = { ...process.env, RUNNER_NATS_URL: url };
  for (const [key, value] of Object.entries(defaults)) env[key] ??= value;
  return env;
}

export class DevSession {
  nats: NatsChild | undefined;
  worker: Worker | undefined;
  client: CoderunnerClient | undefined;
  url = '';
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly settings: DevSettings) {}

  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  start(): Promise<void> {
    this.starting ??= this.startAll();
    return this.starting;
  }

  private async startAll(): Promise<void> {
    const { settings } = this;
    const { say } = settings;
    mkdirSync(settings.dataDir, { recursive: true, mode: 0o755 });
    if (settings.externalUrl) {
      this.url = settings.externalUrl;
      say(`using the NATS server at ${this.url}`);
    } else {
      if (!(await portFree(settings.port, '127.0.0.1'))) {
        throw new CliError(
          `another coderunner dev or nats-server is already running on port ${settings.port}; submit to it with: coderunner submit FILE --wait${
            settings.port === 4222 ? '' : ` --server nats://127.0.0.1:${settings.port}`
          }`,
          EXIT.failed,
        );
      }
      const monitor = (await portFree(settings.monitorPort)) ? settings.monitorPort : undefined;
      say(
        `starting nats-server with JetStream on 127.0.0.1:${settings.port} (data in ${join(settings.dataDir, 'nats')}, ${
          monitor
            ? `monitoring on http://127.0.0.1:${monitor}`
            : `port ${settings.monitorPort} is taken: no monitoring`
        })`,
      );
      this.nats = await NatsChild.start({
        port: settings.port,
        monitorPort: monitor,
        dataDir: settings.dataDir,
      });
      this.url = this.nats.url;
    }
    if (this.stopRequested) return;
    await this.startWorker();
    if (this.stopRequested) return;
    this.client = await connect({ servers: this.url });
  }

  private async startWorker(): Promise<void> {
    const { settings } = this;
    const httpPort = (await portFree(settings.httpPort)) ? settings.httpPort : 0;
    if (httpPort === 0 && process.env.RUNNER_HTTP_PORT === undefined) {
      settings.say(`port ${settings.httpPort} is taken: the worker serves no health and metrics`);
    }
    const sandbox = usableSandboxDir(join(settings.dataDir, 'sandbox'));
    if (sandbox.blockedBy && process.env.RUNNER_RUNNER_SANDBOXBASEDIR === undefined) {
      settings.say(
        `${sandbox.blockedBy} is not searchable by other users (mode o+x), as the sandbox's uids need: the sandbox dir is ${sandbox.dir} instead`,
      );
    }
    let config;
    try {
      config = loadConfig({ env: workerEnv(this.url, httpPort, sandbox.dir) });
    } catch (error) {
      throw new CliError(oneLine(error), EXIT.usage);
    }
    if (config.runner.sandboxType === 'direct') {
      settings.say(
        'WARNING: the worker runs programs WITHOUT ISOLATION (sandbox type direct), as this user: for development only. Run as root for the bwrap sandbox.',
      );
    }
    settings.say(
      `starting a worker (sandbox ${config.runner.sandboxType}, ${config.runner.maxConcurrentJobs} slots, files in ${config.runner.sandboxBaseDir})`,
    );
    try {
      this.worker = await Worker.start(config, { logger: createLogger(config.log.level, process.stderr) });
    } catch (error) {
      throw new CliError(`the worker cannot start: ${oneLine(error)}`, EXIT.failed, { cause: error });
    }
  }

  /** The languages the worker offers. */
  languages(): string[] {
    return (this.worker?.ctx.engine.languages() ?? []).filter((l) => l.available).map((l) => l.id);
  }

  /** Stops everything, in order; safe to call more than once and during start. */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  private async stopAll(): Promise<void> {
    await this.starting?.catch(() => undefined);
    await this.client?.close().catch(() => undefined);
    await this.worker?.stop().catch(() => undefined);
    await this.nats?.stop();
  }

  /** For a process that is exiting now: kill the server outright. */
  kill(): void {
    this.nats?.kill();
  }
}
