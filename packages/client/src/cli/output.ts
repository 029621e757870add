/** Writing to standard output: lines for people, JSON for scripts. */

export function printLines(lines: readonly string[], out: NodeJS.WritableStream = process.stdout): void {
  if (lines.length > 0) out.write(`${lines.join('\n')}\n`);
}

/** One JSON value on one line. */
export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value)}\n`);
}

/** A note for people, on standard error (so that standard output stays what a script reads). */
export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}
