/**
 * Turns ajv's errors into problems a person can act on: each names the exact field
 * (`testCases[3].input`), what was expected and what was found.
 */
import type { ErrorObject } from 'ajv';

/** One thing wrong with a message. */
export interface Problem {
  /** The field, as `testCases[3].input`; empty for the message as a whole. */
  path: string;
  /** A complete sentence naming the field: `testCases[3].input must be a string, got number`. */
  message: string;
}

/** Longest value shown back inside a message. */
const PREVIEW_CHARS = 40;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Builds `a.b[3].c` from path segments; odd keys are quoted: `files["a b"]`. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Joins a path and a child key the same way `formatPath` would. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((seg) => (/^(0|[1-9][0-9]*)$/.test(seg) ? Number(seg) : seg));
}

function valueAt(root: unknown, segments: readonly (string | number)[]): unknown {
  let current = root;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** The JSON type of a value, as a user would name it. */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

/** A short, safe rendering of a value: strings quoted and cut, containers by type only. */
export function preview(value: unknown): string {
  if (typeof value === 'string') {
    if (value.length <= PREVIEW_CHARS) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, PREVIEW_CHARS))}… (${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  return jsonTypeOf(value) === 'array' ? 'an array' : `an ${jsonTypeOf(value)}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeTypes(types: string | readonly string[]): string {
  const list = (Array.isArray(types) ? types : [types]) as readonly string[];
  const words = list.map((t) => (t === 'null' ? 'null' : article(t)));
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

/** What a JSON value was found to be, for "…, got X". */
function found(value: unknown, expected: string | readonly string[]): string {
  const expectsInteger = expected === 'integer' || (Array.isArray(expected) && expected.includes('integer'));
  if (typeof value === 'number' && expectsInteger && !Number.isInteger(value)) return String(value);
  const type = jsonTypeOf(value);
  return type === 'integer' ? 'number' : type;
}

/** Messages for patterns, keyed by the pattern, so that users are told the rule in words. */
const patternRules = new Map<string, string>();

/** Registers the words used to explain a pattern in messages. */
export function describePattern(pattern: string, rule: string): void {
  patternRules.set(pattern, rule);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function messageFor(error: ErrorObject, root: unknown): Problem {
  const segments = pointerSegments(error.instancePath);
  const value = valueAt(root, segments);
  const path = formatPath(segments);
  const subject = path === '' ? 'the message' : path;
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type': {
      const expected = p.type as string | string[];
      return {
        path,
        message: `${subject} must be ${describeTypes(expected)}, got ${found(value, expected)}`,
      };
    }
    case 'required': {
      const field = childPath(path, p.missingProperty as string);
      return { path: field, message: `${field} is required` };
    }
    case 'additionalProperties': {
      const field = childPath(path, p.additionalProperty as string);
      return { path: field, message: `${field} is not a known field` };
    }
    case 'pattern': {
      const rule = patternRules.get(p.pattern as string) ?? `match ${String(p.pattern)}`;
      return { path, message: `${subject} must be ${rule}, got ${preview(value)}` };
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ');
      return { path, message: `${subject} must be one of ${allowed}, got ${preview(value)}` };
    }
    case 'const':
      return { path, message: `${subject} must be ${JSON.stringify(p.allowedValue)}, got ${preview(value)}` };
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return {
        path,
        message: `${subject} must be ${String(p.comparison)} ${String(p.limit)}, got ${preview(value)}`,
      };
    case 'minItems':
      return {
        path,
        message: `${subject} must have at least ${plural(p.limit as number, 'item')}, got ${(value as unknown[]).length}`,
      };
    case 'maxItems':
      return {
        path,
        message: `${subject} must have at most ${plural(p.limit as number, 'item')}, got ${(value as unknown[]).length}`,
      };
    case 'minLength':
      return { path, message: `${subject} must be at least ${plural(p.limit as number, 'character')} long` };
    case 'maxLength':
      return {
        path,
        message: `${subject} must be at most ${plural(p.limit as number, 'character')} long, got ${(value as string).length}`,
      };
    case 'format':
      return { path, message: `${subject} must be a ${String(p.format)} string, got ${preview(value)}` };
    default:
      return { path, message: `${subject} ${error.message ?? 'is invalid'}` };
  }
}

/**
 * An `anyOf` whose value matched no branch's type gets one message listing the accepted types;
 * one whose value had the type of some branch gets that branch's own errors and no others.
 */
function resolveAnyOf(errors: readonly ErrorObject[], root: unknown): (ErrorObject | Problem)[] {
  const anyOfs = errors.filter((e) => e.keyword === 'anyOf');
  if (anyOfs.length === 0) return [...errors];
  const dropped = new Set<ErrorObject>();
  const replacements = new Map<ErrorObject, Problem>();
  for (const anyOf of anyOfs) {
    const prefix = `${anyOf.schemaPath}/`;
    const branches = new Map<number, ErrorObject[]>();
    for (const e of errors) {
      if (e === anyOf || !e.schemaPath.startsWith(prefix)) continue;
      const index = Number(e.schemaPath.slice(prefix.length).split('/')[0]);
      branches.set(index, [...(branches.get(index) ?? []), e]);
      dropped.add(e);
    }
    const typeOf = (branch: number): ErrorObject | undefined =>
      branches
        .get(branch)
        ?.find(
          (e) =>
            e.keyword === 'type' &&
            e.instancePath === anyOf.instancePath &&
            e.schemaPath === `${prefix}${branch}/type`,
        );
    const indices = [...branches.keys()].sort((a, b) => a - b);
    const typed = indices.find((i) => typeOf(i) === undefined);
    if (typed === undefined) {
      const segments = pointerSegments(anyOf.instancePath);
      const path = formatPath(segments);
      const types = indices.map((i) => (typeOf(i)?.params as { type: string }).type);
      replacements.set(anyOf, {
        path,
        message: `${path === '' ? 'the message' : path} must be ${describeTypes(types)}, got ${found(valueAt(root, segments), types)}`,
      });
    } else {
      for (const e of branches.get(typed) ?? []) dropped.delete(e);
      dropped.add(anyOf);
    }
  }
  return errors.filter((e) => !dropped.has(e)).map((e) => replacements.get(e) ?? e);
}

/** Every problem in ajv's errors, each once, in the order ajv found them. */
export function problemsFromAjv(errors: readonly ErrorObject[] | null | undefined, root: unknown): Problem[] {
  if (!errors) return [];
  const seen = new Set<string>();
  const problems: Problem[] = [];
  for (const item of resolveAnyOf(errors, root)) {
    const problem = 'keyword' in item ? messageFor(item, root) : item;
    if (seen.has(problem.message)) continue;
    seen.add(problem.message);
    problems.push(problem);
  }
  return problems;
}
