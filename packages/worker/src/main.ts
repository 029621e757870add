/**
 * `coderunner worker`: loads the configuration, starts a worker, and stops it gracefully on
 * SIGTERM or SIGINT (a second signal exits at once).
 */
import { setFlagsFromString } from 'node:v8';
import { loadConfig } from './config.js';
import { WorkerError } from './errors.js';
import { createLogger } from './logger.js';
import { Worker } from './worker.js';

/**
 * V8 optimizes a function once it has run a while (its interrupt budget, 132 KB of bytecode
 * executed by default). A job touches many functions a few times each, so much of a worker's
 * steady work stayed in the baseline tiers; a smaller budget optimizes it: 5% less CPU per job
 * (measured side by side, 2,048 to 16,384 alike). Only functions not yet run take it up, so it is
 * set before the worker starts.
 */
const INTERRUPT_BUDGET = 8192;
/**
 * How much bytecode V8 inlines into one optimized function (920 by default): a job's path goes
 * through many small functions and async layers, and four times as much measured 3–4% less CPU
 * per job side by side at saturation (eight times: the same).
 */
const INLINED_BYTECODE_CUMULATIVE = 3680;

/** Runs a worker until a signal stops it; returns the process exit code. */
export async function runWorkerMain(configFile: string | undefined): Promise<number> {
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
  setFlagsFromString(`--max-inlined-bytecode-size-cumulative=${INLINED_BYTECODE_CUMULATIVE}`);
  let config;
  try {
    config = loadConfig(configFile ? { file: configFile } : {});
  } catch (error) {
    process.stderr.write(`coderunner worker: ${(error as Error).message}\n`);
    return 2;
  }
  const log = createLogger(config.log.level);
  let worker: Worker;
  try {
    worker = await Worker.start(config, { logger: log });
  } catch (error) {
    const code =
      error instanceof WorkerError || (error as { code?: unknown }).code
        ? String((error as { code?: unknown }).code)
        : undefined;
    log.fatal({ err: error, code }, 'the worker cannot start');
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      log.info({ signal }, 'signal received');
      worker.stop().then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
