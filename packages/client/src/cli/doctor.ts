/**
 * `coderunner doctor [--config FILE]`: what protects and measures runs on this host (the
 * sandbox's own checks, with the worker configuration's sandbox options), and whether NATS is
 * usable: the server answers, the streams exist, a worker answers `coderunner.languages`.
 */
import { doctor, type DoctorCheck } from '@coderunner/sandbox';
import { loadConfig, type WorkerConfig } from '@coderunner/worker';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type ClientOptions, type CoderunnerClient } from '../client.js';
import { ClientError } from '../errors.js';
import { clientOptions, type GlobalOptions } from './connection.js';
import { EXIT, oneLine, usageError, type ExitCode } from './exit-codes.js';
import { colorsFor, verdict, visibleWidth } from './format.js';
import { printJson, printLines } from './output.js';

export interface DoctorOptions extends GlobalOptions {
  config?: string;
  json?: boolean;
}

/** The connection options: the command line's where given, else the worker configuration's. */
function natsOptions(
  config: WorkerConfig,
  options: DoctorOptions,
  given: Partial<GlobalOptions>,
): ClientOptions {
  if (given.server !== undefined || given.user !== undefined || given.creds !== undefined) {
    return clientOptions({ ...options, server: given.server ?? config.nats.url });
  }
  const n = config.nats;
  return {
    servers: n.url,
    ...(n.user !== undefined ? { user: n.user, pass: n.password ?? '' } : {}),
    ...(n.token !== undefined ? { token: n.token } : {}),
    ...(n.credsFile !== undefined ? { credsFile: n.credsFile } : {}),
  };
}

async function streamCheck(
  manager: Promise<JetStreamManager>,
  name: string,
  provision: boolean,
): Promise<DoctorCheck> {
  try {
    const info = await (await manager).streams.info(name);
    return { name: `stream ${name}`, status: 'ok', detail: `${info.state.messages} messages` };
  } catch (error) {
    const e = error as { code?: unknown; message?: string };
    const missing = e.code === 10059 || /not found/i.test(e.message ?? '');
    if (!missing) return { name: `stream ${name}`, status: 'fail', detail: oneLine(error) };
    return provision
      ? { name: `stream ${name}`, status: 'warn', detail: 'missing: a worker creates it when it starts' }
      : {
          name: `stream ${name}`,
          status: 'fail',
          detail: 'missing, and nats.provision is false: create it (or let a worker provision it)',
        };
  }
}

async function workersCheck(client: CoderunnerClient): Promise<DoctorCheck> {
  try {
    const languages = await client.languages(3000);
    const available = languages.filter((l) => l.available).length;
    return {
      name: 'workers',
      status: 'ok',
      detail: `a worker answered coderunner.languages: ${available} of ${languages.length} languages available`,
    };
  } catch (error) {
    const none = error instanceof ClientError && error.code === 'NO_WORKERS';
    return {
      name: 'workers',
      status: 'warn',
      detail: none ? 'no worker answered coderunner.languages: none is running' : oneLine(error),
    };
  }
}

/** The NATS checks: connection, both streams, a worker. */
async function natsChecks(config: WorkerConfig, options: ClientOptions): Promise<DoctorCheck[]> {
  let client: CoderunnerClient;
  try {
    client = await connect(options);
  } catch (error) {
    return [{ name: 'nats', status: 'fail', detail: oneLine(error) }];
  }
  try {
    const server = client.nc.info;
    const checks: DoctorCheck[] = [
      {
        name: 'nats',
        status: server?.jetstream === false ? 'fail' : 'ok',
        detail: `${String(options.servers)} (nats-server ${server?.version ?? 'unknown'}${server?.jetstream === false ? ', JetStream is NOT enabled' : ', JetStream'})`,
      },
    ];
    // One manager for both checks (making one asks the server for the account's info).
    const manager = jetstreamManager(client.nc);
    for (const stream of [config.nats.submissionsStream, config.nats.resultsStream]) {
      checks.push(await streamCheck(manager, stream, config.nats.provision));
    }
    checks.push(await workersCheck(client));
    return checks;
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function doctorCommand(
  options: DoctorOptions,
  given: Partial<GlobalOptions>,
): Promise<ExitCode> {
  let config: WorkerConfig;
  try {
    config = loadConfig(options.config ? { file: options.config } : {});
  } catch (error) {
    throw usageError(oneLine(error));
  }
  const sandbox = await doctor({
    sandboxType: config.runner.sandboxType,
    baseDir: config.runner.sandboxBaseDir,
    uidBase: config.runner.uidBase,
    slots: config.runner.maxConcurrentJobs,
  });
  const checks = [...sandbox.checks, ...(await natsChecks(config, natsOptions(config, options, given)))];
  const ok = checks.every((check) => check.status !== 'fail');
  if (options.json) printJson({ ok, checks });
  else {
    const c = colorsFor();
    const width = Math.max(...checks.map((check) => visibleWidth(check.name)));
    printLines(
      checks.map(
        (check) =>
          `${verdict(check.status, c)}${' '.repeat(5 - check.status.length)}${check.name.padEnd(width)}  ${check.detail}`,
      ),
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}
