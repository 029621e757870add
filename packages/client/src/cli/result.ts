/**
 * `coderunner result ID`: replays a submission's events from the results stream. Without
 * --follow it prints what is stored and exits; with --follow it waits for the final.
 */
import { isValidSubmissionId, type FinalEvent } from '@coderunner/protocol';
import { withClient, type GlobalOptions } from './connection.js';
import { CliError, EXIT, usageError, type ExitCode } from './exit-codes.js';
import { colorsFor } from './format.js';
import { note, printJson, printLines } from './output.js';
import { eventLine, finalReport } from './render.js';

export interface ResultOptions extends GlobalOptions {
  follow?: boolean;
  /** Seconds to wait for the final with --follow; default: as long as it takes. */
  timeout?: number;
  json?: boolean;
}

export async function resultCommand(id: string, options: ResultOptions): Promise<ExitCode> {
  if (!isValidSubmissionId(id)) {
    throw usageError(`${JSON.stringify(id)} is not a submission id (1 to 128 letters, digits, '_' or '-')`);
  }
  const c = colorsFor();
  return withClient(options, async (client) => {
    let count = 0;
    let final: FinalEvent | undefined;
    const follow = options.follow === true;
    for await (const event of client.results(id, {
      follow,
      ...(options.timeout !== undefined ? { timeoutMs: options.timeout * 1000 } : {}),
    })) {
      count++;
      if (options.json) printJson(event);
      else if (event.type !== 'final') printLines([eventLine(event, c)]);
      if (event.type === 'final') final = event;
    }
    if (count === 0) throw new CliError(`no results for ${id}`, EXIT.notFound);
    if (!final) {
      note(`no final for ${id} yet: it is queued or running (--follow waits for it)`);
      return EXIT.pending;
    }
    if (!options.json) printLines(['', ...finalReport(final, c)]);
    return final.status === 'success' ? EXIT.ok : EXIT.failed;
  });
}
