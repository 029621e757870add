/**
 * A local, content-addressed store of compile results. The key covers the language, the
 * toolchain version, the compile command and every source file, so a resubmission of the same
 * program skips compilation. Entries are written by the host from a compile's tar stream and are
 * only ever bound read-only into sandboxes, so one submission cannot alter what another runs.
 * Entries in use are pinned; the least recently used others are evicted past `maxBytes`.
 */
import { hash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeArtifacts, type ArtifactFile } from './artifacts.js';

/** A compile's result as stored. */
export interface StoredCompile {
  status: 'success' | 'compile_error';
  /** Compiler output, bounded. */
  output: string;
  truncated: boolean;
  timeInMs: number;
  /** Names of the stored files, relative to `dir`. */
  files: string[];
}

export interface CacheEntry extends StoredCompile {
  key: string;
  dir: string;
}

interface Slot {
  entry: CacheEntry;
  bytes: number;
  lastUsed: number;
  pins: number;
}

const META = '.compile.json';

/** A key's field: `<byte length>:<bytes>`. */
function field(value: string): string {
  return `${Buffer.byteLength(value)}:${value}`;
}

/**
 * The first part of a compile's key: language, toolchain and command, which a language's
 * submissions without files or commands of their own share (it can be made once for them).
 */
export function compileKeyHead(parts: { language: string; toolchain: string; command: unknown }): string {
  return field(parts.language) + field(parts.toolchain) + field(JSON.stringify(parts.command));
}

/**
 * The cache key of a compile: its head (`compileKeyHead`) and every source file, whatever their
 * order.
 */
export function compileKeyOf(
  head: string,
  files: readonly { name: string; content: string | Buffer }[],
): string {
  const sorted = files.length > 1 ? [...files].sort((a, b) => (a.name < b.name ? -1 : 1)) : files;
  // Text while every content is text, bytes from the first that is not: the same bytes either way.
  let text = head;
  let bytes: Buffer[] | undefined;
  for (const { name, content } of sorted) {
    if (bytes === undefined && typeof content === 'string') {
      text += field(name) + field(content);
      continue;
    }
    bytes ??= [Buffer.from(text)];
    bytes.push(Buffer.from(field(name)));
    if (typeof content === 'string') bytes.push(Buffer.from(field(content)));
    else bytes.push(Buffer.from(`${content.length}:`), content);
  }
  // Hashed in one call (each call crosses into C++); the one-shot `hash` costs a third of
  // `createHash` for a program's size (a cache lookup a job).
  return hash('sha256', bytes ? Buffer.concat(bytes) : text, 'hex');
}

export class CompileCache {
  private readonly entries = new Map<string, Slot>();
  private readonly storing = new Map<string, Promise<CacheEntry>>();
  private totalBytes = 0;
  private clock = 0;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  /** Loads the entries a previous process left (their order of use is not known: all equal). */
  async load(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const key of names) {
      const dir = join(this.dir, key);
      try {
        const stored = JSON.parse(await readFile(join(dir, META), 'utf8')) as StoredCompile & {
          bytes: number;
        };
        this.entries.set(key, { entry: { ...stored, key, dir }, bytes: stored.bytes, lastUsed: 0, pins: 0 });
        this.totalBytes += stored.bytes;
      } catch {
        await rm(dir, { recursive: true, force: true });
      }
    }
    await this.evict();
  }

  /** A stored compile, pinned until `release(key)`; undefined when there is none. */
  acquire(key: string): CacheEntry | undefined {
    const slot = this.entries.get(key);
    if (!slot) return undefined;
    slot.pins++;
    slot.lastUsed = ++this.clock;
    return slot.entry;
  }

  /** Stores a compile result, pinned until `release(key)`. */
  async store(
    key: string,
    result: Omit<StoredCompile, 'files'>,
    files: readonly ArtifactFile[],
  ): Promise<CacheEntry> {
    const existing = this.acquire(key);
    if (existing) return existing;
    // Two jobs that compiled the same program at once share the first one's write.
    let pending = this.storing.get(key);
    if (!pending) {
      pending = this.write(key, result, files).finally(() => this.storing.delete(key));
      this.storing.set(key, pending);
      return pending;
    }
    await pending;
    return this.acquire(key) ?? this.store(key, result, files);
  }

  private async write(
    key: string,
    result: Omit<StoredCompile, 'files'>,
    files: readonly ArtifactFile[],
  ): Promise<CacheEntry> {
    const dir = join(this.dir, key);
    await rm(dir, { recursive: true, force: true });
    await writeArtifacts(dir, files);
    const bytes = files.reduce((sum, f) => sum + f.data.length, 0) + Buffer.byteLength(result.output);
    const stored: StoredCompile = { ...result, files: files.map((f) => f.name) };
    await writeFile(join(dir, META), JSON.stringify({ ...stored, bytes }));
    const entry: CacheEntry = { ...stored, key, dir };
    this.entries.set(key, { entry, bytes, lastUsed: ++this.clock, pins: 1 });
    this.totalBytes += bytes;
    return entry;
  }

  async release(key: string): Promise<void> {
    const slot = this.entries.get(key);
    if (slot) slot.pins = Math.max(0, slot.pins - 1);
    await this.evict();
  }

  /** Bytes held now. */
  get size(): number {
    return this.totalBytes;
  }

  private async evict(): Promise<void> {
    if (this.totalBytes <= this.maxBytes) return;
    const candidates = [...this.entries.values()]
      .filter((s) => s.pins === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const slot of candidates) {
      if (this.totalBytes <= this.maxBytes) break;
      this.entries.delete(slot.entry.key);
      this.totalBytes -= slot.bytes;
      await rm(slot.entry.dir, { recursive: true, force: true });
    }
  }
}
