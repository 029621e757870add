/** The language of a source file, from its extension (`--lang` overrides it). */
import { extname } from 'node:path';
import { usageError } from './exit-codes.js';

const BY_EXTENSION: Readonly<Record<string, string>> = {
  '.c': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.go': 'go',
  '.py': 'python',
  '.java': 'java',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
};

/** The language id for a file name, or undefined when its extension is not known. */
export function languageOfFile(file: string): string | undefined {
  return BY_EXTENSION[extname(file).toLowerCase()];
}

/** The language to submit: `--lang` when given, else the extension's; a usage error otherwise. */
export function resolveLanguage(file: string, lang: string | undefined): string {
  if (lang !== undefined) return lang;
  const language = languageOfFile(file);
  if (language) return language;
  const ext = extname(file);
  const known = [...new Set(Object.values(BY_EXTENSION))].join(', ');
  throw usageError(
    `cannot tell the language of ${file} from its extension${ext ? ` (${ext})` : ''}: give --lang ID (${known}, or any id the server offers)`,
  );
}
