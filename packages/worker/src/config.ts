/**
 * Configuration: defaults, then the YAML file, then environment variables
 * (`RUNNER_<SECTION>_<KEY>`, as the seed service had them: `RUNNER_NATS_URL`,
 * `RUNNER_RUNNER_MAXCONCURRENTJOBS`, …), then validation. A bad value stops the worker at start
 * with a message naming the key, the value, where it came from and what is allowed.
 */
import { readFileSync } from 'node:fs';
import { problemsFromAjv } from '@coderunner/protocol';
import { Ajv } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import { parse as parseYaml } from 'yaml';
import { configSchema } from './config-schema.js';
import { WorkerError } from './errors.js';

export type WorkerConfig = FromSchema<typeof configSchema>;

type Leaf = {
  type?: string;
  items?: { type?: string };
  minimum?: number;
  maximum?: number;
  enum?: readonly string[];
};
type Section = { properties: Record<string, Leaf> };

const sections = configSchema.properties as unknown as Record<string, Section>;

/** The environment variable of a key: `RUNNER_` + section + `_` + key, upper case. */
export function envName(section: string, key: string): string {
  return `RUNNER_${section}_${key}`.toUpperCase();
}

function parseEnvValue(raw: string, leaf: Leaf): unknown {
  const scalar = (text: string, type: string | undefined): unknown => {
    const t = text.trim();
    if (type === 'integer' || type === 'number') return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
    if (type === 'boolean') {
      if (/^(true|1|yes|on)$/i.test(t)) return true;
      if (/^(false|0|no|off)$/i.test(t)) return false;
      return t;
    }
    return text;
  };
  if (leaf.type === 'array') {
    return raw.trim() === '' ? [] : raw.split(',').map((part) => scalar(part, leaf.items?.type));
  }
  return scalar(raw, leaf.type);
}

const validate = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true }).compile(
  configSchema,
);

/** The allowed range of a key, for messages: ` (allowed: 1 to 256)`. */
function allowed(path: string): string {
  const [section, key] = path.split('.');
  const leaf = section && key ? sections[section]?.properties[key] : undefined;
  if (leaf?.minimum !== undefined && leaf.maximum !== undefined)
    return ` (allowed: ${leaf.minimum} to ${leaf.maximum})`;
  return '';
}

export interface LoadConfigOptions {
  /** A YAML file; absent: defaults and environment only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** Loads, merges and validates the configuration; throws `WorkerError` CONFIG_INVALID. */
export function loadConfig(options: LoadConfigOptions = {}): WorkerConfig {
  const env = options.env ?? process.env;
  const sources = new Map<string, string>();
  let config: Record<string, Record<string, unknown>> = {};
  if (options.file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(options.file, 'utf8'));
    } catch (error) {
      throw new WorkerError(
        'CONFIG_INVALID',
        `cannot read the configuration ${options.file}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new WorkerError('CONFIG_INVALID', `${options.file} must be a YAML mapping of sections`);
      }
      config = parsed as typeof config;
    }
  }
  for (const [section, schema] of Object.entries(sections)) {
    for (const [key, leaf] of Object.entries(schema.properties)) {
      const variable = envName(section, key);
      const raw = env[variable];
      if (raw === undefined) continue;
      const target = (config[section] ??= {});
      if (typeof target !== 'object' || target === null) continue;
      target[key] = parseEnvValue(raw, leaf);
      sources.set(`${section}.${key}`, variable);
    }
  }
  if (!validate(config)) {
    const problems = problemsFromAjv(validate.errors, config).map((p) => {
      const source = sources.get(p.path) ?? options.file ?? 'defaults';
      return `${p.message}${allowed(p.path)} (from ${source})`;
    });
    throw new WorkerError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const result = config as unknown as WorkerConfig;
  // The server refuses a backoff list that is not shorter than max_deliver (error 10116).
  if (result.nats.backoffSec.length >= result.nats.maxDeliver) {
    throw new WorkerError(
      'CONFIG_INVALID',
      `invalid configuration:\n  nats.backoffSec has ${result.nats.backoffSec.length} delays; it must have fewer than nats.maxDeliver (${result.nats.maxDeliver})`,
    );
  }
  return result;
}

/** An example configuration file: every key with its default and meaning. */
export function exampleConfig(): string {
  const lines = [
    '# Coderunner worker configuration. Every key is optional; shown with its default.',
    '# Each key can also be set in the environment: RUNNER_<SECTION>_<KEY>, e.g. RUNNER_NATS_URL.',
  ];
  for (const [section, schema] of Object.entries(sections)) {
    lines.push('', `${section}:`);
    for (const [key, leaf] of Object.entries(schema.properties)) {
      const { description, default: value } = leaf as Leaf & { description?: string; default?: unknown };
      lines.push(`  # ${description ?? ''} (${envName(section, key)})`);
      lines.push(value === undefined ? `  # ${key}:` : `  ${key}: ${JSON.stringify(value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
