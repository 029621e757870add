/**
 * Starts a real JetStream cluster for a test: several nats-server processes on free loopback
 * ports (client, cluster route and monitoring port each), every one with its own `server_name`,
 * generated config file and store dir, routed to each other. Resolves once the servers agree on
 * a JetStream meta leader. A server can be stopped, killed outright and started again on the same
 * ports and store; `cleanup()` stops them all and removes their files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsClusterOptions {
  /** Number of servers (default 3). */
  size?: number;
  /** The cluster's name (default `coderunner-test`). */
  name?: string;
  /** Extra configuration text for every server (accounts, authorization, limits). */
  config?: string;
  /** Extra environment of the server processes (variables the config refers to). */
  env?: Readonly<Record<string, string>>;
  /** How long to wait for the servers and a meta leader (default 30 s). */
  startTimeoutMs?: number;
}

export interface ClusterServer {
  /** Its `server_name`, as JetStream reports leaders and peers. */
  readonly name: string;
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly monitorPort: number;
  readonly storeDir: string;
  /** Whether the process runs now. */
  running(): boolean;
  /** Everything the server logged so far (across restarts). */
  log(): string;
  /** SIGTERM, then wait for the process to end; files stay. */
  stop(): Promise<void>;
  /** SIGKILL, then wait for the process to end; files stay. */
  kill(): Promise<void>;
  /** Start again (after stop or kill) on the same ports and store dir. */
  restart(): Promise<void>;
}

export interface NatsCluster {
  readonly servers: readonly ClusterServer[];
  /** The client URL of every server. */
  readonly urls: readonly string[];
  /** Every client URL, comma-separated (as `RUNNER_NATS_URL` takes them). */
  readonly url: string;
  /** The server with this `server_name`; throws for an unknown name. */
  server(name: string): ClusterServer;
  /** The meta leader the running servers agree on, or undefined while there is none. */
  metaLeader(): Promise<string | undefined>;
  /** Waits until the running servers agree on a meta leader; resolves with its name. */
  waitForMetaLeader(timeoutMs?: number): Promise<string>;
  /** Stops every server and removes every file. */
  cleanup(): Promise<void>;
}

const READY = /Server is ready/;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Distinct free loopback ports. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class ClusterNode implements ClusterServer {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    readonly name: string,
    readonly port: number,
    readonly clusterPort: number,
    readonly monitorPort: number,
    readonly storeDir: string,
    private readonly configFile: string,
    private readonly env: Readonly<Record<string, string>>,
    private readonly startTimeoutMs: number,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  log(): string {
    return this.output;
  }

  async start(): Promise<void> {
    const child = spawn('nats-server', ['-c', this.configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    const from = this.output.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server ${this.name} did not start:\n${this.output.slice(from)}`)),
        this.startTimeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString();
        if (READY.test(this.output.slice(from))) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`nats-server ${this.name} exited with ${code ?? signal}:\n${this.output.slice(from)}`),
        );
      });
    });
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The meta leader this server sees (from its monitoring endpoint), if any. */
  async metaLeader(): Promise<string | undefined> {
    if (!this.running()) return undefined;
    try {
      const response = await fetch(`http://127.0.0.1:${this.monitorPort}/jsz`, {
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) return undefined;
      const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
      return jsz.meta_cluster?.leader || undefined;
    } catch {
      return undefined;
    }
  }
}

function serverConfig(
  node: { name: string; port: number; clusterPort: number; monitorPort: number; storeDir: string },
  clusterName: string,
  routes: readonly number[],
  extra: string,
): string {
  return [
    `server_name: ${JSON.stringify(node.name)}`,
    `listen: "127.0.0.1:${node.port}"`,
    `http: "127.0.0.1:${node.monitorPort}"`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(node.storeDir)}`,
    `}`,
    `cluster {`,
    `  name: ${JSON.stringify(clusterName)}`,
    `  listen: "127.0.0.1:${node.clusterPort}"`,
    `  routes: [`,
    ...routes.map((port) => `    "nats-route://127.0.0.1:${port}"`),
    `  ]`,
    `}`,
    extra,
    '',
  ].join('\n');
}

/** Starts a JetStream cluster on free loopback ports and waits for a meta leader. */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const clusterName = options.name ?? 'coderunner-test';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const root = await mkdtemp(join(tmpdir(), 'coderunner-nats-cluster-'));
  const nodes: ClusterNode[] = [];
  try {
    const ports = await freePorts(size * 3);
    const layout = Array.from({ length: size }, (_, i) => ({
      name: `n${i + 1}`,
      port: ports[i * 3] as number,
      clusterPort: ports[i * 3 + 1] as number,
      monitorPort: ports[i * 3 + 2] as number,
      storeDir: join(root, `n${i + 1}`, 'js'),
    }));
    const routes = layout.map((node) => node.clusterPort);
    for (const node of layout) {
      const dir = join(root, node.name);
      await mkdir(dir, { recursive: true });
      const configFile = join(dir, 'server.conf');
      await writeFile(configFile, serverConfig(node, clusterName, routes, options.config ?? ''));
      nodes.push(
        new ClusterNode(
          node.name,
          node.port,
          node.clusterPort,
          node.monitorPort,
          node.storeDir,
          configFile,
          options.env ?? {},
          startTimeoutMs,
        ),
      );
    }
    // Together: each server waits for its routes before JetStream can elect a meta leader.
    await Promise.all(nodes.map((node) => node.start()));
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  const metaLeader = async (): Promise<string | undefined> => {
    const seen = await Promise.all(nodes.filter((n) => n.running()).map((n) => n.metaLeader()));
    const first = seen[0];
    return first !== undefined && seen.every((leader) => leader === first) ? first : undefined;
  };

  const cluster: NatsCluster = {
    servers: nodes,
    urls: nodes.map((node) => node.url),
    url: nodes.map((node) => node.url).join(','),
    server(name: string): ClusterServer {
      const found = nodes.find((node) => node.name === name);
      if (!found) throw new Error(`no server named ${name} in this cluster`);
      return found;
    },
    metaLeader,
    async waitForMetaLeader(timeoutMs = startTimeoutMs): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const leader = await metaLeader();
        if (leader !== undefined && nodes.some((n) => n.name === leader && n.running())) return leader;
        if (Date.now() > deadline) {
          throw new Error(
            `no JetStream meta leader after ${timeoutMs} ms:\n${nodes.map((n) => `--- ${n.name}\n${n.log()}`).join('\n')}`,
          );
        }
        await sleep(100);
      }
    },
    async cleanup(): Promise<void> {
      await Promise.all(nodes.map((node) => node.stop()));
      await rm(root, { recursive: true, force: true });
    },
  };

  try {
    await cluster.waitForMetaLeader();
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
  return cluster;
}
