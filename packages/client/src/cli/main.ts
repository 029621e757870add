#!/usr/bin/env node
/**
 * The `coderunner` command line: submit, result, languages, worker, doctor, dev. Each command
 * is a module of its own; this file wires them to commander, reports any error in one line on
 * standard error (`coderunner: …`) and exits with the command's code (see exit-codes.ts).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_SERVER, type GlobalOptions } from './connection.js';
import { devCommand } from './dev.js';
import { doctorCommand, type DoctorOptions } from './doctor.js';
import { EXIT, exitCodeOf, oneLine } from './exit-codes.js';
import { languagesCommand, type LanguagesOptions } from './languages.js';
import { resultCommand, type ResultOptions } from './result.js';
import { submitCommand, type SubmitOptions } from './submit.js';
import { workerCommand } from './worker.js';

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('Give a whole number of at least 1.');
  return Number(value);
}

const EXIT_CODES_HELP = `
Exit codes:
  0  success (for submit --wait and result: the final verdict is success)
  1  another verdict, a failed check, or the command failed
  2  usage error or invalid input (nothing was sent)
  3  the server cannot be reached, a stream is missing, no worker answered, or a timeout
  4  result: no results for this id
  5  result: events are stored but no final yet`;

let exitCode: number = EXIT.ok;

/** The global options, and which of them were given on the command line (not defaults). */
function globals(command: Command): { options: GlobalOptions; given: Partial<GlobalOptions> } {
  const options = command.optsWithGlobals<GlobalOptions>();
  const root = command.parent ?? command;
  const given: Partial<GlobalOptions> = {};
  for (const key of ['server', 'user', 'password', 'creds'] as const) {
    if (root.getOptionValueSource(key) === 'cli' && options[key] !== undefined) given[key] = options[key];
  }
  return { options, given };
}

function buildProgram(): Command {
  const program = new Command('coderunner')
    .description('Submit code to Coderunner, follow its results, and run a worker or a development server.')
    .exitOverride()
    .configureOutput({
      outputError: (text, write) =>
        write(
          `coderunner: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')}\n`,
        ),
    })
    .addOption(
      new Option('--server <url>', 'NATS server URL(s), comma-separated')
        .env('RUNNER_NATS_URL')
        .default(DEFAULT_SERVER),
    )
    .option('--user <name>', 'NATS user (with --password)')
    .option('--password <password>', 'NATS password')
    .option('--creds <file>', 'NATS credentials file (.creds)')
    .addHelpText('after', EXIT_CODES_HELP);

  program
    .command('submit')
    .description('submit a source file; with --wait, follow it and print the verdict of every test')
    .argument('<file>', 'the source file (its extension gives the language)')
    .option(
      '--lang <id>',
      'language id (c, cpp, go, python, java, javascript, …); default: from the extension',
    )
    .addOption(
      new Option('--tests <file>', 'test cases: a YAML file (see README)').conflicts(['stdin', 'expect']),
    )
    .option('--stdin <file>', 'one test: its input')
    .option('--expect <file>', 'one test: its expected output')
    .option('--time-limit <ms>', 'CPU time limit per test, in ms', positiveInteger)
    .option('--memory-limit <mb>', 'memory limit per test, in MB', positiveInteger)
    .option('--id <id>', 'submission id (default: a fresh unique id)')
    .option('--wait', 'wait for the final verdict, showing each test as it finishes')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 3)', positiveInteger)
    .option('--json', 'print JSON: {"id"} or, with --wait, the final event')
    .addHelpText(
      'after',
      '\nWithout --tests, --stdin or --expect: one test with empty input, run and reported, not judged.',
    )
    .action(async (file: string, _options: unknown, command: Command) => {
      exitCode = await submitCommand(file, command.optsWithGlobals<SubmitOptions>());
    });

  program
    .command('result')
    .description("print a submission's stored events; with --follow, wait for its final")
    .argument('<id>', 'the submission id')
    .option('--follow', 'wait for the final event')
    .option('--timeout <seconds>', 'with --follow: give up after this long (exit 3)', positiveInteger)
    .option('--json', 'print one JSON event per line')
    .action(async (id: string, _options: unknown, command: Command) => {
      exitCode = await resultCommand(id, command.optsWithGlobals<ResultOptions>());
    });

  program
    .command('languages')
    .description('list the languages a worker offers, with their versions')
    .option('--json', 'print JSON')
    .action(async (_options: unknown, command: Command) => {
      exitCode = await languagesCommand(command.optsWithGlobals<LanguagesOptions>());
    });

  program
    .command('worker')
    .description('run a worker until SIGTERM or SIGINT (--server etc. override the configuration)')
    .option(
      '--config <file>',
      'worker configuration (YAML); default: RUNNER_CONFIG, then defaults and RUNNER_* variables',
    )
    .action(async (options: { config?: string }, command: Command) => {
      exitCode = await workerCommand(options, globals(command).given);
    });

  program
    .command('doctor')
    .description('check the sandbox on this host and the NATS server, streams and workers')
    .option('--config <file>', 'worker configuration (YAML); default: defaults and RUNNER_* variables')
    .option('--json', 'print JSON: {"ok", "checks"}')
    .action(async (_options: unknown, command: Command) => {
      const { given } = globals(command);
      exitCode = await doctorCommand(command.optsWithGlobals<DoctorOptions>(), given);
    });

  program
    .command('dev')
    .description(
      'run a development server: nats-server, a worker, a sample in every language; Ctrl-C stops it',
    )
    .addHelpText(
      'after',
      `
Environment:
  RUNNER_NATS_URL      use this NATS server instead of starting one (as --server does)
  CODERUNNER_DEV_PORT  port of the embedded nats-server (default 4222)
  CODERUNNER_DEV_DATA  its store, log and the sandbox dir (default <repo>/.data)
  RUNNER_*             the worker's configuration, as for coderunner worker`,
    )
    .action(async (_options: unknown, command: Command) => {
      exitCode = await devCommand(globals(command).given.server);
    });

  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
        ? EXIT.ok
        : EXIT.usage;
    }
    process.stderr.write(`coderunner: ${oneLine(error)}\n`);
    if (process.env.CODERUNNER_DEBUG) process.stderr.write(`${(error as Error).stack ?? ''}\n`);
    return exitCodeOf(error);
  }
}

// Every command has finished its work here: exit even if a library left a handle open.
process.exit(await main(process.argv));
