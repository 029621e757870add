import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';

/** The first executable named `name` on the sandbox PATH and the usual system dirs. */
export async function findExecutable(name: string): Promise<string | undefined> {
  for (const dir of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    const path = join(dir, name);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Not here.
    }
  }
  return undefined;
}
