/** What every part of a running worker shares. */
import type { SubmissionPolicy } from '@coderunner/protocol';
import type { Engine } from '@coderunner/sandbox';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { WorkerConfig } from './config.js';
import type { Logger } from './logger.js';
import type { WorkerMetrics } from './metrics.js';
import type { Names } from './names.js';
import type { ResultOptions } from './results.js';

export interface WorkerContext {
  config: WorkerConfig;
  names: Names;
  workerId: string;
  js: JetStreamClient;
  jsm: JetStreamManager;
  engine: Engine;
  policy: SubmissionPolicy;
  log: Logger;
  metrics: WorkerMetrics;
  /** The server's max payload: no event may be larger. */
  maxPayload: number;
  results: ResultOptions;
}
