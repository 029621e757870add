/**
 * The language registry: a YAML file, validated at load, with one entry per language. Adding a
 * language is an entry, not code.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import type { FromSchema } from 'json-schema-to-ts';
import { parse as parseYaml } from 'yaml';
import { SandboxError } from './errors.js';

const command = {
  anyOf: [
    { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
    { type: 'string', minLength: 1 },
  ],
} as const;

const env = { type: 'object', additionalProperties: { type: 'string' } } as const;

const languageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'sourceFile', 'run', 'version'],
  properties: {
    name: { type: 'string' },
    aliases: { type: 'array', items: { type: 'string' } },
    sourceFile: { type: 'string', pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]*$' },
    compile: command,
    run: command,
    version: { type: 'array', minItems: 1, items: { type: 'string' } },
    keep: { type: 'array', items: { type: 'string' } },
    env,
    runEnv: env,
    memoryErrors: { type: 'array', items: { type: 'string', minLength: 1 } },
    roBinds: { type: 'array', items: { type: 'string', pattern: '^/' } },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        memoryOverheadMb: { type: 'integer', minimum: 0 },
        pids: { type: 'integer', minimum: 1 },
        compileMemoryMb: { type: 'integer', minimum: 16 },
        compilePids: { type: 'integer', minimum: 1 },
      },
    },
  },
} as const;

const registrySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['languages'],
  properties: {
    languages: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9_+.#-]{0,63}$' },
      additionalProperties: languageSchema,
    },
  },
} as const;

type LanguageEntry = FromSchema<typeof languageSchema>;
type RegistryFile = { languages: Record<string, LanguageEntry> };

/** A command: an argv array, or a string run by `/bin/sh -c`. */
export type Command = readonly string[] | string;

/** One language, with every default filled in. */
export interface Language {
  id: string;
  name: string;
  aliases: readonly string[];
  sourceFile: string;
  compile?: Command;
  run: Command;
  version: readonly string[];
  /** Glob patterns of the files the runs need; empty keeps every file. */
  keep: readonly string[];
  env: Readonly<Record<string, string>>;
  runEnv: Readonly<Record<string, string>>;
  memoryErrors: readonly string[];
  roBinds: readonly string[];
  limits: {
    /** Added to the cgroup memory limit for the runtime's own overhead (MiB, default 0). */
    memoryOverheadMb: number;
    /** Processes and threads of a run (default 64). */
    pids: number;
    /** Memory of the compile step (MiB, default 1024). */
    compileMemoryMb: number;
    /** Processes and threads of the compile step (default 128). */
    compilePids: number;
  };
}

/** The languages the engine knows, by id and alias. */
export interface Registry {
  readonly languages: ReadonlyMap<string, Language>;
  /** The registry id for an id or alias, or undefined. */
  resolve(id: string): string | undefined;
}

/** The registry that ships with the package. */
export const DEFAULT_REGISTRY_PATH = fileURLToPath(new URL('../languages.yaml', import.meta.url));

const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile<RegistryFile>(
  registrySchema,
);

function withDefaults(id: string, entry: LanguageEntry): Language {
  return {
    id,
    name: entry.name,
    aliases: entry.aliases ?? [],
    sourceFile: entry.sourceFile,
    ...(entry.compile !== undefined ? { compile: entry.compile } : {}),
    run: entry.run,
    version: entry.version,
    keep: entry.keep ?? [],
    env: entry.env ?? {},
    runEnv: entry.runEnv ?? {},
    memoryErrors: entry.memoryErrors ?? [],
    roBinds: entry.roBinds ?? [],
    limits: {
      memoryOverheadMb: entry.limits?.memoryOverheadMb ?? 0,
      pids: entry.limits?.pids ?? 64,
      compileMemoryMb: entry.limits?.compileMemoryMb ?? 1024,
      compilePids: entry.limits?.compilePids ?? 128,
    },
  };
}

/** Builds a registry from parsed YAML; `source` names it in error messages. */
export function registryFromObject(value: unknown, source = 'registry'): Registry {
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map((e) => {
      // Name the offending key: an unknown field or a bad language id is otherwise hard to find.
      const key = (e.params as { additionalProperty?: string }).additionalProperty ?? e.propertyName;
      return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${key !== undefined ? `: ${JSON.stringify(key)}` : ''}`;
    });
    throw new SandboxError('REGISTRY_INVALID', `${source}: ${problems.join('; ')}`);
  }
  const languages = new Map<string, Language>();
  const names = new Map<string, string>();
  for (const [id, entry] of Object.entries(value.languages)) {
    const language = withDefaults(id, entry);
    languages.set(id, language);
    for (const name of [id, ...language.aliases]) {
      const taken = names.get(name);
      if (taken !== undefined && taken !== id) {
        throw new SandboxError('REGISTRY_INVALID', `${source}: "${name}" names both ${taken} and ${id}`);
      }
      names.set(name, id);
    }
  }
  return { languages, resolve: (id) => names.get(id) };
}

/** Loads and validates a registry file (YAML). */
export function loadRegistry(path: string = DEFAULT_REGISTRY_PATH): Registry {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SandboxError('REGISTRY_INVALID', `cannot read the language registry ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new SandboxError('REGISTRY_INVALID', `${path} is not valid YAML: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return registryFromObject(parsed, path);
}

/** Replaces `{memoryMb}`, `{memoryKb}` and `{memoryBytes}` in a template. */
export function expandTemplate(template: string, memoryKb: number): string {
  return template
    .replaceAll('{memoryMb}', String(Math.max(1, Math.floor(memoryKb / 1024))))
    .replaceAll('{memoryKb}', String(memoryKb))
    .replaceAll('{memoryBytes}', String(memoryKb * 1024));
}
