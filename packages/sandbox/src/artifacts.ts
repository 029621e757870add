/**
 * What a compile step leaves in its work dir travels out of the sandbox as a tar stream on the
 * program's standard output: the host never opens a path the program could have planted. Only
 * regular files are kept (symlinks, FIFOs, devices and hard links are dropped), names are
 * checked, and sizes are capped.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import tar from 'tar-stream';

export interface ArtifactLimits {
  /** Files kept at most. */
  maxFiles: number;
  /** Bytes of all kept files together. */
  maxBytes: number;
}

/** A file taken out of a compile's work dir. */
export interface ArtifactFile {
  /** Relative name, `/`-separated, never `..` nor absolute. */
  name: string;
  data: Buffer;
  executable: boolean;
}

export class ArtifactError extends Error {
  override name = 'ArtifactError';
}

/** Turns glob patterns (`*.class`, `main`) into one matcher; no patterns match everything. */
export function globMatcher(patterns: readonly string[]): (name: string) => boolean {
  if (patterns.length === 0) return () => true;
  const regexps = patterns.map((pattern) => {
    const source = pattern
      .split('')
      .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    return new RegExp(`^${source}$`);
  });
  return (name) => regexps.some((r) => r.test(name));
}

function safeName(raw: string): string | undefined {
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (raw.startsWith('/') || parts.length === 0 || parts.some((p) => p === '..')) return undefined;
  return parts.join('/');
}

/** Reads the regular files of a tar archive, keeping those `keep` accepts, within `limits`. */
export async function readArtifacts(
  archive: Buffer,
  keep: (name: string) => boolean,
  limits: ArtifactLimits,
): Promise<ArtifactFile[]> {
  const extract = tar.extract();
  extract.end(archive);
  const files: ArtifactFile[] = [];
  let bytes = 0;
  for await (const entry of extract) {
    const name = safeName(entry.header.name);
    if (entry.header.type !== 'file' || name === undefined || !keep(name)) {
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    bytes += data.length;
    if (files.length + 1 > limits.maxFiles) {
      throw new ArtifactError(`the compile step left more than ${limits.maxFiles} files`);
    }
    if (bytes > limits.maxBytes) {
      throw new ArtifactError(`the compile step left more than ${formatBytes(limits.maxBytes)} of files`);
    }
    files.push({ name, data, executable: ((entry.header.mode ?? 0) & 0o111) !== 0 });
  }
  return files;
}

/** Writes files under `dir`, readable (and, where marked, executable) by every sandbox uid. */
export async function writeArtifacts(dir: string, files: readonly ArtifactFile[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  for (const file of files) {
    const path = join(dir, file.name);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await writeFile(path, file.data, { mode: file.executable ? 0o755 : 0o644 });
    await chmod(path, file.executable ? 0o755 : 0o644);
  }
}

/** The top-level entries of a file list (what is bound into a run's work dir). */
export function topLevelEntries(names: readonly string[]): string[] {
  return [...new Set(names.map((name) => name.split('/')[0] as string))];
}

/** A byte count for messages: `128 MiB`, `512 KiB`, `100 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1048576 && bytes % 1048576 === 0) return `${bytes / 1048576} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}
