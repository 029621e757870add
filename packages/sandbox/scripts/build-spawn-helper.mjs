#!/usr/bin/env node
// Compiles the spawn helper (native/coderunner-spawn.c) into dist/, next to the modules that
// start it. Runs after `tsc` in `pnpm build`; skipped when the binary is newer than its source.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('../native/coderunner-spawn.c', import.meta.url));
const target = fileURLToPath(new URL('../dist/coderunner-spawn', import.meta.url));
const mtime = (path) => {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
};
if (mtime(target) < mtime(source)) {
  mkdirSync(fileURLToPath(new URL('../dist', import.meta.url)), { recursive: true });
  const cc = process.env.CC || 'cc';
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', target, source], { stdio: 'inherit' });
  } catch (error) {
    process.stderr.write(`cannot compile the spawn helper with ${cc}: ${error.message}\n`);
    process.exit(1);
  }
}
