import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SandboxError } from '../../src/errors.js';
import { expandTemplate, loadRegistry, registryFromObject, type Registry } from '../../src/registry.js';

/** The error `fn` throws, for a closer look than `toThrow` gives. */
function thrown(fn: () => unknown): SandboxError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SandboxError) return error;
    throw error;
  }
  throw new Error('expected a SandboxError, but nothing was thrown');
}

const minimal = { name: 'Lang', sourceFile: 'main.x', run: ['./main'], version: ['x', '--version'] };

/** A registry of one language `x` built from `entry`. */
const withEntry = (entry: Record<string, unknown>): Registry =>
  registryFromObject({ languages: { x: entry } }, 'test.yaml');

describe('loadRegistry (the shipped languages.yaml)', () => {
  const registry = loadRegistry();

  it('offers C, C++, Go, Python, Java and JavaScript', () => {
    expect([...registry.languages.keys()].sort()).toEqual(
      expect.arrayContaining(['c', 'cpp', 'go', 'java', 'javascript', 'python']),
    );
  });

  it('runs Python as /usr/bin/python3 in every step', () => {
    const python = registry.languages.get('python');
    expect(python?.sourceFile).toBe('main.py');
    expect(python?.run[0]).toBe('/usr/bin/python3');
    expect(python?.compile?.[0]).toBe('/usr/bin/python3');
    expect(python?.version[0]).toBe('/usr/bin/python3');
  });

  it('resolves aliases to their language ids', () => {
    expect(registry.resolve('c++')).toBe('cpp');
    expect(registry.resolve('g++')).toBe('cpp');
    expect(registry.resolve('python3')).toBe('python');
    expect(registry.resolve('py')).toBe('python');
    expect(registry.resolve('js')).toBe('javascript');
    expect(registry.resolve('golang')).toBe('go');
    expect(registry.resolve('gcc')).toBe('c');
  });

  it('resolves every id to itself', () => {
    for (const id of registry.languages.keys()) expect(registry.resolve(id)).toBe(id);
  });

  it('resolves nothing for an unknown language', () => {
    expect(registry.resolve('cobol')).toBeUndefined();
    expect(registry.resolve('')).toBeUndefined();
  });

  it('fills in the defaults an entry leaves out', () => {
    const java = registry.languages.get('java');
    expect(java?.aliases).toEqual([]);
    expect(java?.env).toEqual({});
    expect(java?.limits).toEqual({
      memoryOverheadMb: 96,
      pids: 128,
      compileMemoryMb: 1536,
      compilePids: 256,
    });
    const c = registry.languages.get('c');
    expect(c?.limits).toEqual({ memoryOverheadMb: 0, pids: 64, compileMemoryMb: 1024, compilePids: 128 });
    expect(c?.keep).toEqual(['main']);
  });

  it('puts a {memoryMb} placeholder in the run commands of the managed runtimes', () => {
    expect(registry.languages.get('java')?.run).toContain('-Xmx{memoryMb}m');
    expect(registry.languages.get('go')?.runEnv).toEqual({ GOMEMLIMIT: '{memoryMb}MiB' });
  });
});

describe('loadRegistry (other files)', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'registry-test-'));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads a valid file', () => {
    const path = join(dir, 'ok.yaml');
    writeFileSync(
      path,
      'languages:\n  sh:\n    name: Shell\n    sourceFile: main.sh\n    run: sh main.sh\n    version: [sh, -c, "echo 1"]\n',
    );
    const registry = loadRegistry(path);
    expect(registry.languages.get('sh')?.run).toBe('sh main.sh');
    expect(registry.languages.get('sh')?.compile).toBeUndefined();
  });

  it('rejects a missing file with REGISTRY_INVALID', () => {
    const path = join(dir, 'missing.yaml');
    const error = thrown(() => loadRegistry(path));
    expect(error.code).toBe('REGISTRY_INVALID');
    expect(error.message).toBe(`cannot read the language registry ${path}`);
    expect(error.retryable).toBe(false);
  });

  it('rejects a file that is not YAML with REGISTRY_INVALID', () => {
    const path = join(dir, 'bad.yaml');
    writeFileSync(path, 'languages: [unclosed\n');
    const error = thrown(() => loadRegistry(path));
    expect(error.code).toBe('REGISTRY_INVALID');
    expect(error.message).toMatch(
      new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid YAML: `),
    );
  });

  it('names the file in a schema error', () => {
    const path = join(dir, 'empty.yaml');
    writeFileSync(path, 'languages:\n  c: {}\n');
    expect(thrown(() => loadRegistry(path)).message).toContain(
      `${path}: /languages/c must have required property`,
    );
  });
});

describe('registryFromObject', () => {
  it('fills every default of a minimal entry', () => {
    const language = withEntry(minimal).languages.get('x');
    expect(language).toEqual({
      id: 'x',
      name: 'Lang',
      aliases: [],
      sourceFile: 'main.x',
      run: ['./main'],
      version: ['x', '--version'],
      keep: [],
      env: {},
      runEnv: {},
      memoryErrors: [],
      roBinds: [],
      limits: { memoryOverheadMb: 0, pids: 64, compileMemoryMb: 1024, compilePids: 128 },
    });
    expect(language && 'compile' in language).toBe(false);
  });

  it('keeps every field an entry gives', () => {
    const entry = {
      ...minimal,
      aliases: ['y'],
      compile: 'make',
      keep: ['*.o'],
      env: { A: '1' },
      runEnv: { B: '2' },
      memoryErrors: ['OOM'],
      roBinds: ['/opt/x'],
      limits: { memoryOverheadMb: 5, pids: 7, compileMemoryMb: 16, compilePids: 9 },
    };
    const registry = withEntry(entry);
    expect(registry.languages.get('x')).toEqual({ id: 'x', ...entry });
    expect(registry.resolve('y')).toBe('x');
  });

  it.each([
    [
      'a missing run',
      { name: 'L', sourceFile: 'a.x', version: ['v'] },
      "/languages/x must have required property 'run'",
    ],
    [
      'a missing version',
      { name: 'L', sourceFile: 'a.x', run: ['r'] },
      "/languages/x must have required property 'version'",
    ],
    ['an empty run argv', { ...minimal, run: [] }, '/languages/x/run must NOT have fewer than 1 items'],
    [
      'an empty run string',
      { ...minimal, run: '' },
      '/languages/x/run must NOT have fewer than 1 characters',
    ],
    [
      'an empty argument',
      { ...minimal, compile: ['gcc', ''] },
      '/languages/x/compile/1 must NOT have fewer than 1 characters',
    ],
    ['a run of the wrong type', { ...minimal, run: 5 }, '/languages/x/run must match a schema in anyOf'],
    [
      'a sourceFile in a directory',
      { ...minimal, sourceFile: 'src/main.c' },
      '/languages/x/sourceFile must match pattern',
    ],
    [
      'a sourceFile climbing out',
      { ...minimal, sourceFile: '../main.c' },
      '/languages/x/sourceFile must match pattern',
    ],
    [
      'a hidden sourceFile',
      { ...minimal, sourceFile: '.main' },
      '/languages/x/sourceFile must match pattern',
    ],
    [
      'an absolute sourceFile',
      { ...minimal, sourceFile: '/main.c' },
      '/languages/x/sourceFile must match pattern',
    ],
    ['an unknown field', { ...minimal, comple: ['gcc'] }, '/languages/x must NOT have additional properties'],
    [
      'an unknown limit',
      { ...minimal, limits: { memory: 1 } },
      '/languages/x/limits must NOT have additional properties',
    ],
    ['a relative roBind', { ...minimal, roBinds: ['etc/java'] }, '/languages/x/roBinds/0 must match pattern'],
    [
      'too little compile memory',
      { ...minimal, limits: { compileMemoryMb: 8 } },
      '/languages/x/limits/compileMemoryMb must be >= 16',
    ],
    ['no pids', { ...minimal, limits: { pids: 0 } }, '/languages/x/limits/pids must be >= 1'],
    ['a fractional limit', { ...minimal, limits: { pids: 1.5 } }, '/languages/x/limits/pids must be integer'],
    ['a non-string env value', { ...minimal, env: { A: 1 } }, '/languages/x/env/A must be string'],
    [
      'an empty memory error',
      { ...minimal, memoryErrors: [''] },
      '/languages/x/memoryErrors/0 must NOT have fewer than 1 characters',
    ],
  ])('rejects %s with REGISTRY_INVALID naming the problem', (_what, entry, problem) => {
    const error = thrown(() => withEntry(entry));
    expect(error).toBeInstanceOf(SandboxError);
    expect(error.code).toBe('REGISTRY_INVALID');
    expect(error.message).toMatch(/^test\.yaml: /);
    expect(error.message).toContain(problem);
  });

  it('names the unknown field, wherever it is', () => {
    expect(thrown(() => withEntry({ ...minimal, comple: ['gcc'] })).message).toBe(
      'test.yaml: /languages/x must NOT have additional properties: "comple"',
    );
    expect(thrown(() => withEntry({ ...minimal, limits: { memory: 1 } })).message).toBe(
      'test.yaml: /languages/x/limits must NOT have additional properties: "memory"',
    );
    expect(thrown(() => registryFromObject({ languages: {}, langs: {} })).message).toBe(
      'registry: / must NOT have additional properties: "langs"',
    );
  });

  it('names an invalid language id', () => {
    const message = thrown(() => registryFromObject({ languages: { C: minimal } })).message;
    expect(message).toContain('/languages must match pattern');
    expect(message).toContain('"C"');
  });

  it('reports every problem at once', () => {
    const message = thrown(() => withEntry({ name: 'L', sourceFile: '../x' })).message;
    expect(message).toContain("must have required property 'run'");
    expect(message).toContain("must have required property 'version'");
    expect(message).toContain('/languages/x/sourceFile must match pattern');
  });

  it.each([
    ['an upper-case id', 'C'],
    ['an id with a space', 'c sharp'],
    ['an id starting with a dash', '-c'],
    ['an empty id', ''],
  ])('rejects %s', (_what, id) => {
    const error = thrown(() => registryFromObject({ languages: { [id]: minimal } }));
    expect(error.code).toBe('REGISTRY_INVALID');
    expect(error.message).toMatch(/^registry: /);
  });

  it('accepts ids with the characters language names use', () => {
    const registry = registryFromObject({ languages: { 'c++': minimal, 'c#': minimal, 'f.net': minimal } });
    expect([...registry.languages.keys()]).toEqual(['c++', 'c#', 'f.net']);
  });

  it.each([
    ['null', null],
    ['a string', 'languages'],
    ['no languages', {}],
    ['an unknown top-level field', { languages: {}, extra: 1 }],
    ['languages as a list', { languages: [minimal] }],
  ])('rejects a registry that is %s', (_what, value) => {
    expect(thrown(() => registryFromObject(value)).code).toBe('REGISTRY_INVALID');
  });

  it('accepts an empty registry', () => {
    const registry = registryFromObject({ languages: {} });
    expect(registry.languages.size).toBe(0);
    expect(registry.resolve('c')).toBeUndefined();
  });

  it('rejects an alias two languages share, naming both', () => {
    const error = thrown(() =>
      registryFromObject(
        { languages: { c: { ...minimal, aliases: ['cc'] }, cpp: { ...minimal, aliases: ['cc'] } } },
        'r.yaml',
      ),
    );
    expect(error.code).toBe('REGISTRY_INVALID');
    expect(error.message).toBe('r.yaml: "cc" names both c and cpp');
  });

  it("rejects an alias that is another language's id", () => {
    const error = thrown(() =>
      registryFromObject({ languages: { c: { ...minimal, aliases: ['cpp'] }, cpp: minimal } }),
    );
    expect(error.message).toBe('registry: "cpp" names both c and cpp');
  });

  it('accepts an alias repeated within one language, or equal to its own id', () => {
    const registry = withEntry({ ...minimal, aliases: ['x', 'y', 'y'] });
    expect(registry.resolve('x')).toBe('x');
    expect(registry.resolve('y')).toBe('x');
  });
});

describe('expandTemplate', () => {
  it('replaces {memoryMb}, {memoryKb} and {memoryBytes}', () => {
    expect(expandTemplate('-Xmx{memoryMb}m', 262144)).toBe('-Xmx256m');
    expect(expandTemplate('{memoryKb}', 262144)).toBe('262144');
    expect(expandTemplate('{memoryBytes}', 262144)).toBe('268435456');
  });

  it('rounds {memoryMb} down, and never below 1', () => {
    expect(expandTemplate('{memoryMb}', 1536)).toBe('1');
    expect(expandTemplate('{memoryMb}', 2047)).toBe('1');
    expect(expandTemplate('{memoryMb}', 2048)).toBe('2');
    expect(expandTemplate('{memoryMb}', 512)).toBe('1');
  });

  it('replaces every occurrence', () => {
    expect(expandTemplate('{memoryMb}/{memoryMb}/{memoryKb}', 2048)).toBe('2/2/2048');
  });

  it('leaves other text and unknown placeholders alone', () => {
    expect(expandTemplate('--max-old-space-size=256 {memory} {MEMORYMB}', 1024)).toBe(
      '--max-old-space-size=256 {memory} {MEMORYMB}',
    );
  });
});
