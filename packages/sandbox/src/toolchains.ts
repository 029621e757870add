/**
 * Which toolchains are installed: each language's version command is run once on the host, with
 * the sandbox's PATH, so that a missing toolchain is reported rather than offered.
 */
import { execFile } from 'node:child_process';
import { SANDBOX_PATH } from './isolation.js';
import type { Language, Registry } from './registry.js';

/** A language as this host offers it. */
export interface LanguageInfo {
  id: string;
  name: string;
  aliases: readonly string[];
  /** The toolchain's version line, when installed. */
  version: string | undefined;
  available: boolean;
  /** Why it is not available. */
  reason?: string;
}

function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((line) => line.trim())
      .find((line) => line !== '') ?? ''
  );
}

function probe(language: Language): Promise<LanguageInfo> {
  const [file, ...args] = language.version;
  const base = { id: language.id, name: language.name, aliases: language.aliases };
  return new Promise((resolve) => {
    execFile(
      file as string,
      args,
      { env: { PATH: SANDBOX_PATH, LANG: 'C.UTF-8' }, timeout: 20_000, cwd: '/' },
      (error, stdout, stderr) => {
        const line = firstLine(`${stdout}\n${stderr}`);
        if (error) {
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          resolve({
            ...base,
            version: undefined,
            available: false,
            reason: missing
              ? `${file} is not installed`
              : `${language.version.join(' ')} failed: ${line || error.message}`,
          });
        } else resolve({ ...base, version: line, available: true });
      },
    );
  });
}

/** Probes every language of the registry, in parallel. */
export async function probeToolchains(registry: Registry): Promise<Map<string, LanguageInfo>> {
  const infos = await Promise.all([...registry.languages.values()].map(probe));
  return new Map(infos.map((info) => [info.id, info]));
}
