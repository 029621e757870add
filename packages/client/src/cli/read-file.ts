/** Reading the user's files, with a usage error that says which file and why. */
import { readFileSync } from 'node:fs';
import { usageError } from './exit-codes.js';

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

/** The text of a file (UTF-8); exit 2 with `cannot read FILE: no such file` when it fails. */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw usageError(`cannot read ${path}: ${REASONS[code] ?? (error as Error).message}`);
  }
}
