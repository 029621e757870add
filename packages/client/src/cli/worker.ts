/**
 * `coderunner worker [--config FILE]`: runs a worker in this process until SIGTERM or SIGINT.
 * --server, --user, --password and --creds, when given, override the configuration's NATS keys.
 */
import { runWorkerMain } from '@coderunner/worker';
import type { GlobalOptions } from './connection.js';

export interface WorkerCommandOptions {
  config?: string;
}

/** Global options given on the command line (not defaults), as the worker's environment variables. */
export function natsEnvOverrides(given: Partial<GlobalOptions>): Record<string, string> {
  const env: Record<string, string> = {};
  if (given.server !== undefined) env.RUNNER_NATS_URL = given.server;
  if (given.user !== undefined) env.RUNNER_NATS_USER = given.user;
  if (given.password !== undefined) env.RUNNER_NATS_PASSWORD = given.password;
  if (given.creds !== undefined) env.RUNNER_NATS_CREDSFILE = given.creds;
  return env;
}

export async function workerCommand(
  options: WorkerCommandOptions,
  given: Partial<GlobalOptions>,
): Promise<number> {
  Object.assign(process.env, natsEnvOverrides(given));
  return runWorkerMain(options.config ?? process.env.RUNNER_CONFIG);
}
