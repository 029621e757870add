/**
 * A worker: connects to NATS, makes sure the streams and the durable consumer exist, and judges
 * submissions with at most `maxConcurrentJobs` in progress. It pulls only for free slots (a pull
 * of exactly the free count, see `PullSource`), so every message it takes starts at once. A slot
 * is free again as soon as its judging is over: the next message runs while the last one's final
 * is still being stored, so a worker holds at most twice its slots, half of them only waiting for
 * their storing.
 *
 * States: starting → running → draining → stopped. `stop()` stops pulling, lets running jobs
 * finish within the grace period, hands back (nak) what cannot finish, and drains the connection.
 */
import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { createEngine, loadRegistry, type Engine } from '@coderunner/sandbox';
import { jetstream, jetstreamManager, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { Svcm, type Service } from '@nats-io/services';
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import PQueue from 'p-queue';
import type { WorkerConfig } from './config.js';
import type { WorkerContext } from './context.js';
import { runAdvisoryLoop } from './dead-letters.js';
import { startHttpServer } from './http-server.js';
import { handleMessage, type JobOutcome } from './job.js';
import { createLogger, type Logger } from './logger.js';
import { WorkerMetrics } from './metrics.js';
import { namesOf } from './names.js';
import { policyOf } from './policy.js';
import { PullSource } from './pull.js';
import { StreamPublisher } from './stream-publisher.js';
import { checkProvisioned, provision } from './provision.js';
import { missingNodeOptions } from './node-options.js';

/** A delay that does not keep the process alive (for bounding waits during shutdown). */
const unrefSleep = (ms: number): Promise<void> => sleep(ms, undefined, { ref: false });

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped';

export interface WorkerOptions {
  /** A logger to use instead of one on standard output. */
  logger?: Logger;
  /** An engine to use instead of one built from the configuration (tests inject faults with it). */
  engine?: Engine;
  /** Called after each message is handled. */
  onJob?: (outcome: JobOutcome, message: JsMsg) => void;
}

function connectionOptions(config: WorkerConfig, name: string): NodeConnectionOptions {
  const n = config.nats;
  return {
    servers: n.url.split(',').map((s) => s.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // No stack captured for every request in case it times out: a few % of the worker's CPU.
    noAsyncTraces: true,
    ...(n.user !== undefined ? { user: n.user, pass: n.password ?? '' } : {}),
    ...(n.token !== undefined ? { token: n.token } : {}),
    ...(n.credsFile !== undefined ? { authenticator: credsAuthenticator(readFileSync(n.credsFile)) } : {}),
  };
}

export class Worker {
  state: WorkerState = 'starting';
  private connected = true;
  private readonly queue: PQueue;
  /** Messages held now. */
  private readonly held = new Set<JsMsg>();
  /**
   * Cancels every job held when the grace period of a stop is over: one controller for them all
   * (making one costs about 3 µs, and the jobs are only ever cancelled together); each run
   * listens to it while it lasts.
   */
  private readonly cancel = new AbortController();
  /** Held messages whose judging is not over (see `freeSlots`). */
  private readonly beingJudged = new Set<JsMsg>();
  private source: PullSource | undefined;
  private slotFreed: (() => void) | undefined;
  private loops: Promise<void>[] = [];
  private http: Server | undefined;
  private service: Service | undefined;
  private stopping: Promise<void> | undefined;
  /** Tells the server every held message is still being worked on (see `constructor`). */
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    readonly ctx: WorkerContext,
    readonly nc: NatsConnection,
    private readonly advisoryConsumer: Consumer,
    private readonly options: WorkerOptions,
  ) {
    // Each slot's job may still be storing its final while the slot's next one is judged.
    this.queue = new PQueue({ concurrency: 2 * ctx.config.runner.maxConcurrentJobs });
    setMaxListeners(0, this.cancel.signal);
    ctx.metrics.countInFlight = () => this.held.size;
    // ack_wait must never expire under a live worker: every held message gets a progress
    // heartbeat three times per ack_wait. One timer for them all (one per job cost a timer set
    // and cleared each time); a message acknowledged meanwhile ignores it.
    this.heartbeat = setInterval(
      () => {
        for (const m of this.held) m.working();
      },
      Math.max(250, (ctx.config.nats.ackWaitSec * 1000) / 3),
    );
    this.heartbeat.unref();
  }

  /** Starts a worker; throws when the sandbox, NATS or the streams are not usable. */
  static async start(config: WorkerConfig, options: WorkerOptions = {}): Promise<Worker> {
    const log = options.logger ?? createLogger(config.log.level);
    const workerId = `${hostname()}-${process.pid}`;
    const engine =
      options.engine ??
      (await createEngine({
        sandboxType: config.runner.sandboxType,
        baseDir: config.runner.sandboxBaseDir,
        slots: config.runner.maxConcurrentJobs,
        uidBase: config.runner.uidBase,
        compileTimeoutMs: config.runner.compilationTimeoutSec * 1000,
        cacheMaxBytes: config.runner.compileCacheMb * 1024 * 1024,
        warmSandboxes: config.runner.warmSandboxes,
        ...(config.runner.languagesFile ? { registry: loadRegistry(config.runner.languagesFile) } : {}),
      }));
    // Fail at start, with the reason, rather than on every job; an engine made here is closed
    // (with the sandboxes it made ahead) when it cannot serve.
    await engine.selfTest().catch(async (error: unknown) => {
      if (!options.engine) await engine.close();
      throw error;
    });
    if (engine.environment.sandboxType === 'direct') {
      log.warn(
        'sandboxType is direct: submissions run WITHOUT ISOLATION, as this worker; use it for development only',
      );
    }
    const nc = await connect(connectionOptions(config, `coderunner-worker-${workerId}`));
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      const names = namesOf(config);
      if (config.nats.provision) await provision(jsm, config, names);
      else await checkProvisioned(jsm, config, names);
      // Fails now, with the reason, when the consumer is missing or not readable.
      await js.consumers.get(names.submissionsStream, names.consumer);
      const advisoryConsumer = await js.consumers.get(names.advisoryStream, names.advisoryConsumer);
      const results = {
        publisher: new StreamPublisher(nc),
        jsm,
        resultsStream: names.resultsStream,
        resultPrefix: names.resultPrefix,
        timeoutMs: config.nats.publishTimeoutMs,
        retries: config.nats.publishRetries,
      };
      const ctx: WorkerContext = {
        config,
        names,
        workerId,
        js,
        jsm,
        engine,
        policy: policyOf(config, engine),
        log,
        metrics: new WorkerMetrics(),
        maxPayload: nc.info?.max_payload ?? 1024 * 1024,
        results,
      };
      const worker = new Worker(ctx, nc, advisoryConsumer, options);
      await worker.run();
      return worker;
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  private async run(): Promise<void> {
    const { ctx } = this;
    const { config, log } = ctx;
    void this.watchConnection();
    if (config.http.port !== 0) {
      this.http = await startHttpServer(config.http.host, config.http.port, this, ctx.metrics);
    }
    this.service = await new Svcm(this.nc as never).add({
      name: 'coderunner',
      version: '0.1.0',
      description: 'Coderunner worker: judges submissions from JetStream',
      metadata: { workerId: ctx.workerId, sandboxType: ctx.engine.environment.sandboxType },
    });
    this.service.addEndpoint('languages', {
      subject: 'coderunner.languages',
      handler: (_error, msg) => {
        msg.respond(JSON.stringify(ctx.engine.languages()));
      },
    });
    this.state = 'running';
    this.loops = [
      this.pullLoop(),
      runAdvisoryLoop(ctx, this.advisoryConsumer, () => this.state === 'running'),
    ];
    log.info(
      {
        workerId: ctx.workerId,
        slots: config.runner.maxConcurrentJobs,
        sandboxType: ctx.engine.environment.sandboxType,
        languages: ctx.policy.languages,
        http: this.http ? this.httpPort : null,
      },
      'worker running',
    );
    const missing = missingNodeOptions();
    if (missing.length > 0)
      log.info({ missing }, "node was started without the worker's options: more CPU per job");
  }

  /** The port of the HTTP server, when it runs. */
  get httpPort(): number | undefined {
    const address = this.http?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  healthy(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  ready(): boolean {
    return this.state === 'running' && this.healthy();
  }

  /** Messages this worker holds unacknowledged now. */
  get holding(): number {
    return this.held.size;
  }

  /** Messages being judged now (at most one per slot). */
  get judging(): number {
    return this.beingJudged.size;
  }

  private async watchConnection(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.connected = false;
      if (status.type === 'reconnect') {
        this.connected = true;
        // The pull waiting on the server went with the old connection: ask again.
        this.source?.interrupt();
      }
      this.ctx.log.info({ status: status.type }, 'NATS connection');
    }
  }

  private freeSlots(): number {
    const slots = this.ctx.config.runner.maxConcurrentJobs;
    return Math.min(slots - this.beingJudged.size, 2 * slots - this.held.size);
  }

  private wakePullLoop(): void {
    const wake = this.slotFreed;
    this.slotFreed = undefined;
    wake?.();
  }

  private waitForSlot(): Promise<void> {
    return new Promise((resolve) => {
      this.slotFreed = resolve;
    });
  }

  private accept(m: JsMsg): void {
    this.held.add(m);
    this.beingJudged.add(m);
    const onJudged = (): void => {
      if (this.beingJudged.delete(m)) this.wakePullLoop();
    };
    void this.queue
      .add(() => handleMessage(this.ctx, m, this.cancel.signal, onJudged))
      .then((outcome) => this.options.onJob?.(outcome, m))
      .finally(() => {
        onJudged();
        this.held.delete(m);
        this.wakePullLoop();
      });
  }

  private async pullLoop(): Promise<void> {
    const { config, log, names } = this.ctx;
    const source = new PullSource(this.nc, names.submissionsStream, names.consumer, (m) => {
      // A message that arrives after stop() began, or beyond the free slots (a pull the server
      // still served after a reconnect), goes straight back, for another worker.
      if (this.state !== 'running' || this.freeSlots() <= 0) m.nak();
      else this.accept(m);
    });
    this.source = source;
    try {
      while (this.state === 'running') {
        const free = this.freeSlots();
        if (free <= 0) {
          await this.waitForSlot();
          continue;
        }
        const end = await source.pull(free, config.nats.pullExpiresMs);
        // 408: expired unfilled, ask again. Any other status (409: the consumer is gone or busy
        // with pulls; 503: JetStream not answering yet): wait a little before asking again.
        if (typeof end === 'number' && end !== 408 && this.state === 'running') {
          log.debug({ status: end }, 'pull refused; retrying');
          await sleep(500);
        }
      }
    } finally {
      this.source = undefined;
      source.close();
    }
  }

  /** Stops gracefully; resolves when the worker is stopped. Safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    const { config, log } = this.ctx;
    if (this.state === 'stopped') return;
    this.state = 'draining';
    log.info({ inFlight: this.held.size }, 'stopping: no more pulls, finishing running jobs');
    this.source?.interrupt();
    this.wakePullLoop();
    const graceMs = config.runner.shutdownGraceSec * 1000;
    const finished = await Promise.race([
      this.queue.onIdle().then(() => true),
      unrefSleep(graceMs).then(() => false),
    ]);
    if (!finished) {
      log.warn({ handedBack: this.held.size }, 'grace period over: handing back unfinished jobs');
      // Cancelling kills the running programs; each job then hands its message back (nak).
      this.cancel.abort();
      const idle = await Promise.race([
        this.queue.onIdle().then(() => true),
        unrefSleep(5000).then(() => false),
      ]);
      if (!idle) for (const m of this.held) m.nak();
    }
    clearInterval(this.heartbeat);
    await Promise.race([Promise.allSettled(this.loops), unrefSleep(3000)]);
    await this.service?.stop().catch(() => undefined);
    await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
    await this.nc.drain().catch(() => undefined);
    await Promise.race([this.ctx.engine.close(), unrefSleep(5000)]);
    this.state = 'stopped';
    log.info('stopped');
  }
}
