/** Runs the built `coderunner` CLI as a child process, as a user's shell would. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a child: no colours, and nothing of this shell's RUNNER_ settings. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const key of Object.keys(env)) if (key.startsWith('RUNNER_') && !(key in extra)) delete env[key];
  return env;
}

/** `coderunner <args>` in `cwd`; resolves with its exit code and outputs. */
export function runCli(
  cwd: string,
  args: readonly string[],
  extra: Record<string, string> = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [main, ...args],
      { cwd, env: childEnv(extra), timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
