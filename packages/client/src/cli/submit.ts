/**
 * `coderunner submit FILE`: builds a submission, publishes it, and prints its id; with --wait,
 * follows its events and prints the final report. Exit 0 only for a `success` verdict.
 */
import type { ResultEvent } from '@coderunner/protocol';
import { withClient, type GlobalOptions } from './connection.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { colorsFor } from './format.js';
import { note, printJson, printLines } from './output.js';
import { eventLine, finalReport } from './render.js';
import { buildSubmission } from './submission.js';

export interface SubmitOptions extends GlobalOptions {
  lang?: string;
  tests?: string;
  stdin?: string;
  expect?: string;
  timeLimit?: number;
  memoryLimit?: number;
  id?: string;
  wait?: boolean;
  /** Seconds to wait for the final (with --wait); default: as long as it takes. */
  timeout?: number;
  json?: boolean;
}

/** How long to wait for a worker before saying that none has taken the submission. */
const NO_WORKER_HINT_MS = 5000;

export async function submitCommand(file: string, options: SubmitOptions): Promise<ExitCode> {
  const { submission, expected } = buildSubmission({
    file,
    lang: options.lang,
    tests: options.tests,
    stdin: options.stdin,
    expect: options.expect,
    timeLimitMs: options.timeLimit,
    memoryLimitMb: options.memoryLimit,
    id: options.id,
  });
  const c = colorsFor();
  return withClient(options, async (client) => {
    const id = await client.submit(submission);
    if (!options.wait) {
      if (options.json) printJson({ id });
      else printLines([id]);
      return EXIT.ok;
    }
    if (!options.json) printLines([c.dim(`submitted ${id}`)]);
    let accepted = false;
    const hint = setTimeout(() => {
      if (!accepted && !options.json) note(`no worker has taken ${id} yet: is one running? (still waiting)`);
    }, NO_WORKER_HINT_MS);
    try {
      const final = await client.waitForFinal(id, {
        ...(options.timeout !== undefined ? { timeoutMs: options.timeout * 1000 } : {}),
        onEvent: (event: ResultEvent) => {
          accepted = true;
          if (!options.json && event.type !== 'final') printLines([eventLine(event, c)]);
        },
      });
      if (options.json) printJson(final);
      else {
        printLines(['', ...finalReport(final, c, { expected: (position) => expected[position] })]);
      }
      return final.status === 'success' ? EXIT.ok : EXIT.failed;
    } finally {
      clearTimeout(hint);
    }
  });
}
