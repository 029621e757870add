/**
 * The options node is started with for a worker (by `scripts/start.sh` and the image's
 * `coderunner` and `coderunner-worker` commands). These must be on node's command line: unlike the
 * compiler's budgets `runWorkerMain` sets, they shape V8 as it starts (the collector's helper
 * threads), and node does not take them from NODE_OPTIONS.
 *
 * `--single-threaded-gc`: V8's garbage collection on the main thread instead of helper threads.
 * A worker's heap is small and its collections short; handing their work to other threads and
 * back cost more than the work itself: 6–7% less CPU per job, measured side by side at
 * saturation, with no change in latency.
 */
export const WORKER_NODE_OPTIONS: readonly string[] = ['--single-threaded-gc'];

/** Which of the worker's node options this process was started without. */
export function missingNodeOptions(execArgv: readonly string[] = process.execArgv): string[] {
  return WORKER_NODE_OPTIONS.filter((option) => !execArgv.includes(option));
}
