/**
 * The messages of the stub inside a sandbox (native/coderunner-stub.c), shared by the sandboxes
 * made ahead (warm.ts) and the base sandboxes they are made from (base-sandbox.ts).
 */

/** The warm path cannot serve this run (the sandbox died or refused): run it cold instead. */
export class WarmUnavailable extends Error {
  override name = 'WarmUnavailable';
}

/** A message to the stub: NUL-terminated fields, each a letter and its text, then an empty one. */
export function stubMessage(fields: readonly string[]): Buffer {
  return Buffer.from(`${fields.map((field) => `${field}\0`).join('')}\0`);
}

/** The directories and files a run's inputs make in the sandbox's work dir, parents first. */
export interface Placement {
  dirs: string[];
  files: { host: string; name: string; size: number; mode: number }[];
}

/** The stub's first message: the dirs and (empty, sandbox-owned) files to make, parents first. */
export function createMessage(placement: Placement): Buffer {
  return stubMessage([
    ...placement.dirs.map((dir) => `d${dir}`),
    ...placement.files.map((f) => `f${f.name}`),
  ]);
}
