/**
 * `coderunner dev`, the embedded default: a local nats-server with JetStream (unless
 * RUNNER_NATS_URL names a server), a worker in this process, one sample submission per
 * installed language with its verdict, then serving until SIGINT or SIGTERM, when the worker
 * stops gracefully and the server after it. Nothing is left running.
 */
import { join, relative } from 'node:path';
import { CliError, EXIT, usageError } from './exit-codes.js';
import { DevSession, type DevSettings } from './dev-session.js';
import { colorsFor } from './format.js';
import { note, printLines } from './output.js';
import { cliMain, repoRoot, samplesDir } from './paths.js';
import { runSamples, samplesTable } from './samples.js';
import { DEFAULT_SERVER } from './connection.js';

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw usageError(`${name} must be a port number (1 to 65535), got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** The settings, from the environment. */
export function devSettings(server?: string): DevSettings {
  const c = colorsFor(process.stderr);
  return {
    externalUrl: server ?? (process.env.RUNNER_NATS_URL || undefined),
    port: portFromEnv('CODERUNNER_DEV_PORT', 4222),
    monitorPort: 8222,
    httpPort: 9090,
    dataDir: process.env.CODERUNNER_DEV_DATA || join(repoRoot(), '.data'),
    say: (line) => note(line.startsWith('WARNING') ? c.bold(c.red(line)) : `${c.bold('==>')} ${line}`),
  };
}

/** How to submit from another terminal. */
function instructions(session: DevSession): string[] {
  const rel = relative(process.cwd(), cliMain());
  const main = rel.startsWith('..') ? cliMain() : rel;
  const sameAsDefault = session.url === 'nats://127.0.0.1:4222' || session.url === DEFAULT_SERVER;
  const port = session.worker?.httpPort;
  return [
    '',
    `Coderunner is serving on ${session.url}${port ? ` (worker health and metrics on http://127.0.0.1:${port})` : ''}.`,
    'Submit from another terminal:',
    `  node ${main} submit FILE --wait${sameAsDefault ? '' : ` --server ${session.url}`}`,
    `  node ${main} --help`,
    'Ctrl-C stops the worker and the server.',
  ];
}

/** `server`: a NATS server given with --server, used instead of an embedded one. */
export async function devCommand(server?: string): Promise<number> {
  const settings = devSettings(server);
  const session = new DevSession(settings);
  const c = colorsFor();
  let signals = 0;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        settings.say(`${signal} again: exiting now`);
        session.kill();
        resolve(EXIT.failed);
        return;
      }
      settings.say(`${signal}: stopping (the worker first, then the server)`);
      session.stop().then(
        () => resolve(EXIT.ok),
        () => resolve(EXIT.failed),
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.once('exit', () => session.kill());
  try {
    await session.start();
  } catch (error) {
    if (session.stopRequested) return stopped;
    await session.stop();
    throw error;
  }
  if (session.stopRequested || !session.client) return stopped;
  const languages = session.languages();
  if (languages.length === 0) {
    await session.stop();
    throw new CliError(
      'the worker offers no language: install a toolchain (see coderunner doctor)',
      EXIT.failed,
    );
  }
  settings.say(`running a sample in each language: ${languages.join(', ')}`);
  const rows = await runSamples(session.client, languages, samplesDir());
  if (session.stopRequested) return stopped;
  printLines(['', ...samplesTable(rows, c)]);
  const failed = rows.filter((row) => row.status !== 'success');
  if (failed.length > 0) {
    settings.say(
      `WARNING: ${failed.length} of ${rows.length} samples did not succeed (${failed.map((r) => r.language).join(', ')}): see above`,
    );
  }
  printLines(instructions(session));
  return stopped;
}
