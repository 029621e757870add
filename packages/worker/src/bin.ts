#!/usr/bin/env node
/** Starts a worker: `coderunner-worker [--config FILE]`. */
import { runWorkerMain } from './main.js';

const args = process.argv.slice(2);
const index = args.indexOf('--config');
const file = index >= 0 ? args[index + 1] : process.env.RUNNER_CONFIG;
process.exitCode = await runWorkerMain(file);
// Sandboxed children die with the worker (bubblewrap's --die-with-parent); do not linger.
process.exit();
