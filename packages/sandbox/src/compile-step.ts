/**
 * The compile step: once per submission, inside the sandbox, or not at all when the compile
 * cache already holds the result. What the compiler leaves in the work dir leaves the sandbox as
 * a tar stream on standard output (compiler messages go to standard error).
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CompileResult, NormalizedSubmission } from '@coderunner/protocol';
import {
  ArtifactError,
  formatBytes,
  globMatcher,
  readArtifacts,
  topLevelEntries,
  type ArtifactFile,
} from './artifacts.js';
import { compileKeyHead, compileKeyOf, type CacheEntry, type CompileCache } from './compile-cache.js';
import type { Executor } from './executor.js';
import { SANDBOX_PATH, type WorkFile } from './isolation.js';
import type { ResolvedEngineOptions } from './options.js';
import type { Command, Language } from './registry.js';
import { programStatus } from './verdict.js';

/** Runs the compile command with its output on stderr, then archives the work dir to stdout. */
const COMPILE_SCRIPT = '"$@" >&2 || exit $?\nexec tar --exclude=./.tmp -cf - .';

/** A source file's name and contents: text, or bytes decoded from base64. */
type SourceContent = { name: string; content: string | Buffer };

/**
 * The source files of a submission with their contents as given: text stays a string (what the
 * compile key hashes as it is, with no copy), base64 is decoded.
 */
function sourceContents(submission: NormalizedSubmission, language: Language): SourceContent[] {
  const main = submission.customCommands?.sourceFile ?? language.sourceFile;
  return [
    { name: main, content: submission.code },
    ...submission.files.map((f) => ({
      name: f.name,
      content: f.encoding === 'base64' ? Buffer.from(f.content, 'base64') : f.content,
    })),
  ];
}

/** Source contents as the files written into the work dir. */
function sourceFiles(contents: readonly SourceContent[]): ArtifactFile[] {
  return contents.map(({ name, content }) => ({
    name,
    data: typeof content === 'string' ? Buffer.from(content, 'utf8') : content,
    executable: false,
  }));
}

export interface CompileContext {
  options: ResolvedEngineOptions;
  executor: Executor;
  cache: CompileCache;
  language: Language;
  toolchain: string;
  slot: number;
  jobDir: string;
  signal?: AbortSignal;
}

export interface CompileOutcome {
  result: CompileResult;
  /** The stored files the runs use (pinned in the cache until released). */
  entry: CacheEntry;
}

function compileCommandOf(submission: NormalizedSubmission, language: Language): Command | undefined {
  const custom = submission.customCommands;
  if (custom) return custom.compileCommand?.trim() ? custom.compileCommand : undefined;
  return language.compile;
}

async function writeSources(dir: string, files: readonly ArtifactFile[]): Promise<WorkFile[]> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  for (const file of files) {
    const path = join(dir, file.name);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, file.data, { mode: 0o644 });
    await chmod(path, 0o644);
  }
  return topLevelEntries(files.map((f) => f.name)).map((name) => ({ host: join(dir, name), name }));
}

function text(buffer: Buffer): string {
  return buffer.toString('utf8');
}

/** What a compile keeps of its work dir: the language's outputs and the submission's files. */
function keepPatternsOf(submission: NormalizedSubmission, language: Language): string[] {
  return submission.customCommands ? [] : [...language.keep, ...submission.files.map((f) => f.name)];
}

/** The key head of each language's submissions without files or commands of their own. */
const plainKeyHeads = new WeakMap<Language, { toolchain: string; head: string }>();

/** The head of a compile's key (`compileKeyHead`): made once per language for most submissions. */
function keyHeadOf(
  submission: NormalizedSubmission,
  language: Language,
  command: Command | undefined,
  toolchain: string,
): string {
  const plain = !submission.customCommands && submission.files.length === 0;
  const made = plain ? plainKeyHeads.get(language) : undefined;
  if (made?.toolchain === toolchain) return made.head;
  const keepPatterns = keepPatternsOf(submission, language);
  const head = compileKeyHead({ language: language.id, toolchain, command: { command, keepPatterns } });
  if (plain) plainKeyHeads.set(language, { toolchain, head });
  return head;
}

/** Compiles a submission, or takes its compile from the cache. */
export async function compile(
  submission: NormalizedSubmission,
  ctx: CompileContext,
): Promise<CompileOutcome> {
  const { language, options } = ctx;
  const command = compileCommandOf(submission, language);
  const contents = sourceContents(submission, language);
  const key = compileKeyOf(keyHeadOf(submission, language, command, ctx.toolchain), contents);
  const cached = ctx.cache.acquire(key);
  if (cached) return { result: resultOf(cached, true), entry: cached };
  const sources = sourceFiles(contents);

  if (command === undefined) {
    const entry = await ctx.cache.store(
      key,
      { status: 'success', output: '', truncated: false, timeInMs: 0 },
      sources,
    );
    return { result: resultOf(entry, false), entry };
  }

  const srcDir = join(ctx.jobDir, 'src');
  try {
    const files = await writeSources(srcDir, sources);
    const limitMb = language.limits.compileMemoryMb;
    const outcome = await ctx.executor.execute({
      slot: ctx.slot,
      command: [
        '/bin/sh',
        '-c',
        COMPILE_SCRIPT,
        'sh',
        ...(typeof command === 'string' ? ['/bin/sh', '-c', command] : command),
      ],
      env: { PATH: SANDBOX_PATH, LANG: 'C.UTF-8', HOME: '/tmp', TMPDIR: '/tmp', ...language.env },
      files,
      roBinds: language.roBinds,
      workDirBytes: options.compileTmpBytes,
      tmpBytes: options.compileTmpBytes,
      stdin: '',
      memoryBytes: limitMb * 1024 * 1024,
      pids: language.limits.compilePids,
      cpuLimitMs: options.compileTimeoutMs,
      wallLimitMs: options.compileTimeoutMs,
      stdoutLimit: options.artifactMaxBytes + 1024 * 1024,
      stderrLimit: options.compileOutputLimitBytes,
      stderrOverflow: 'keep',
      stackKb: 65536,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const timeInMs = outcome.wallMs;
    const truncated = outcome.stderrBytes > outcome.stderr.length;
    const failure = (output: string, cache = true): Promise<CacheEntry> => {
      const result = { status: 'compile_error' as const, output, truncated, timeInMs };
      // A timeout may come from load rather than from the program: do not remember it.
      return cache
        ? ctx.cache.store(key, result, [])
        : Promise.resolve({ ...result, files: [], key, dir: '' });
    };
    let entry: CacheEntry;
    if (outcome.killedFor === 'wall' || outcome.killedFor === 'cpu') {
      entry = await failure(
        `${text(outcome.stderr)}\ncompilation timed out after ${options.compileTimeoutMs} ms`.trim(),
        false,
      );
    } else if (outcome.oomKilled) {
      entry = await failure(
        `${text(outcome.stderr)}\nthe compiler ran out of memory (${limitMb} MiB)`.trim(),
      );
    } else if (outcome.killedFor === 'output') {
      entry = await failure(
        `the compile step left more than ${formatBytes(options.artifactMaxBytes)} of files`,
      );
    } else if (outcome.exitCode !== 0 || outcome.signal !== null) {
      const { exitCode, signal } = programStatus(outcome, ctx.executor.isolation.type === 'bwrap');
      const status =
        signal !== null
          ? `the compiler was killed by ${signal}`
          : `the compiler exited with status ${exitCode}`;
      // A compiler killed by a signal nobody here sent is not the program's doing: do not remember it.
      entry = await failure(`${text(outcome.stderr)}\n${status}`.trim(), signal === null);
    } else {
      try {
        const artifacts = await readArtifacts(
          outcome.stdout,
          globMatcher(keepPatternsOf(submission, language)),
          {
            maxBytes: options.artifactMaxBytes,
            maxFiles: options.artifactMaxFiles,
          },
        );
        entry = await ctx.cache.store(
          key,
          { status: 'success', output: text(outcome.stderr), truncated, timeInMs },
          artifacts,
        );
      } catch (error) {
        if (!(error instanceof ArtifactError)) throw error;
        entry = await failure(error.message);
      }
    }
    return { result: resultOf(entry, false), entry };
  } finally {
    await rm(srcDir, { recursive: true, force: true });
  }
}

function resultOf(entry: CacheEntry, cached: boolean): CompileResult {
  return {
    status: entry.status,
    output: entry.output,
    ...(entry.truncated ? { truncated: true } : {}),
    timeInMs: cached ? 0 : entry.timeInMs,
    cached,
  };
}
