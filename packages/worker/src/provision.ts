/**
 * Creates or updates the streams and durable consumers the service needs. Idempotent, and safe
 * when several workers start at once: whoever loses a creation race updates instead (servers
 * 2.10+ refuse `add` of an existing consumer with a different config; 2.9 silently updates).
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { nanos } from '@nats-io/transport-node';
import type { WorkerConfig } from './config.js';
import { WorkerError } from './errors.js';
import type { Names } from './names.js';

const NOT_FOUND = [10059, 10014];

function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && NOT_FOUND.includes(code);
}

/** The stream configurations, from the worker configuration. */
type NamedStreamConfig = Partial<StreamConfig> & { name: string };

export function streamConfigs(config: WorkerConfig, names: Names): NamedStreamConfig[] {
  const n = config.nats;
  const common = { storage: StorageType.File, num_replicas: n.replicas };
  return [
    {
      ...common,
      name: names.submissionsStream,
      subjects: [names.submissionSubject],
      retention: RetentionPolicy.Workqueue,
      duplicate_window: nanos(n.duplicateWindowSec * 1000),
      max_msgs: n.submissionsMaxMsgs,
      max_bytes: n.submissionsMaxBytes,
      // A full queue refuses new submissions (the publisher is told) rather than dropping old ones.
      discard: DiscardPolicy.New,
    },
    {
      ...common,
      name: names.resultsStream,
      subjects: [`${names.resultPrefix}.>`],
      retention: RetentionPolicy.Limits,
      max_age: nanos(n.resultsMaxAgeSec * 1000),
      duplicate_window: nanos(n.duplicateWindowSec * 1000),
      allow_direct: true,
    },
    {
      ...common,
      name: names.deadLetterStream,
      subjects: [`${names.deadLetterPrefix}.>`],
      retention: RetentionPolicy.Limits,
      duplicate_window: nanos(n.duplicateWindowSec * 1000),
    },
    {
      ...common,
      name: names.advisoryStream,
      subjects: [names.advisorySubject],
      retention: RetentionPolicy.Workqueue,
    },
  ];
}

/** The durable consumers, from the worker configuration. */
export function consumerConfigs(
  config: WorkerConfig,
  names: Names,
): { stream: string; config: Partial<ConsumerConfig> }[] {
  const n = config.nats;
  return [
    {
      stream: names.submissionsStream,
      config: {
        durable_name: names.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(n.ackWaitSec * 1000),
        max_deliver: n.maxDeliver,
        max_ack_pending: n.maxAckPending,
        ...(n.backoffSec.length > 0 ? { backoff: n.backoffSec.map((s) => nanos(s * 1000)) } : {}),
      },
    },
    {
      stream: names.advisoryStream,
      config: {
        durable_name: names.advisoryConsumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(30_000),
        max_ack_pending: 100,
      },
    },
  ];
}

async function ensureStream(jsm: JetStreamManager, config: NamedStreamConfig): Promise<void> {
  const name = config.name;
  try {
    await jsm.streams.info(name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      await jsm.streams.add(config);
      return;
    } catch {
      // Another worker created it first: fall through to update.
    }
  }
  await jsm.streams.update(name, config);
}

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  config: Partial<ConsumerConfig>,
): Promise<void> {
  const name = config.durable_name as string;
  try {
    await jsm.consumers.info(stream, name);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    try {
      await jsm.consumers.add(stream, config);
      return;
    } catch {
      // Another worker created it first: fall through to update.
    }
  }
  const { durable_name: _durable, ...update } = config;
  await jsm.consumers.update(stream, name, update);
}

/**
 * Runs an idempotent step again after a failure: in a cluster, two workers creating the same
 * replicated stream at once can leave both requests unanswered until the meta leader settles.
 */
async function withRetries<T>(step: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await sleep(500 * attempt);
    }
  }
}

/** Creates or updates every stream and consumer. */
export async function provision(jsm: JetStreamManager, config: WorkerConfig, names: Names): Promise<void> {
  for (const stream of streamConfigs(config, names)) {
    try {
      await withRetries(() => ensureStream(jsm, stream));
    } catch (error) {
      throw new WorkerError(
        'PROVISION_FAILED',
        `cannot create or update stream ${stream.name}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }
  for (const { stream, config: consumer } of consumerConfigs(config, names)) {
    try {
      await withRetries(() => ensureConsumer(jsm, stream, consumer));
    } catch (error) {
      throw new WorkerError(
        'PROVISION_FAILED',
        `cannot create or update consumer ${consumer.durable_name} on ${stream}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

/** Checks that what provisioning would create exists (when provisioning is off). */
export async function checkProvisioned(
  jsm: JetStreamManager,
  config: WorkerConfig,
  names: Names,
): Promise<void> {
  for (const stream of streamConfigs(config, names)) {
    await jsm.streams.info(stream.name).catch((error: unknown) => {
      throw new WorkerError(
        'PROVISION_FAILED',
        `stream ${stream.name} does not exist and provisioning is off`,
        { cause: error },
      );
    });
  }
  for (const { stream, config: consumer } of consumerConfigs(config, names)) {
    await jsm.consumers.info(stream, consumer.durable_name as string).catch((error: unknown) => {
      throw new WorkerError(
        'PROVISION_FAILED',
        `consumer ${consumer.durable_name} on ${stream} does not exist and provisioning is off`,
        { cause: error },
      );
    });
  }
}
