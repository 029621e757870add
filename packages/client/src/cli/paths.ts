/** Where things are, found from this file: built, it is `packages/client/dist/cli/`. */
import { fileURLToPath } from 'node:url';

/** The monorepo's root: four levels above `packages/client/dist/cli/`. */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../../../', import.meta.url));
}

/** The sample programs, one directory per language: `packages/client/samples/<id>/`. */
export function samplesDir(): string {
  return fileURLToPath(new URL('../../samples/', import.meta.url));
}

/** The built command line. */
export function cliMain(): string {
  return fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
}
