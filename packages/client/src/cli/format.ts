/**
 * Output helpers: colours (only on a terminal, and never with NO_COLOR), aligned tables, and
 * short excerpts of program output.
 */
import pc from 'picocolors';

export type Colors = ReturnType<typeof pc.createColors>;

/** Colours for a stream: on when it is a terminal and NO_COLOR is unset (or empty). */
export function colorsFor(stream: NodeJS.WriteStream = process.stdout): Colors {
  const enabled = stream.isTTY === true && !process.env.NO_COLOR;
  return pc.createColors(enabled);
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

/** The width of a string as shown (escape sequences take no room). */
export function visibleWidth(text: string): number {
  return text.replace(ANSI, '').length;
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/** An aligned table: a header row, then one row per entry, columns two spaces apart. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], c: Colors): string[] {
  const widths = columns.map((column, i) =>
    Math.max(visibleWidth(column.header), ...rows.map((row) => visibleWidth(row[i] ?? ''))),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - visibleWidth(cell)));
        return columns[i]?.align === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [c.bold(line(columns.map((column) => column.header))), ...rows.map(line)];
}

const GOOD = new Set(['success', 'ok']);
const LIMITS = new Set(['time_limit_exceeded', 'memory_limit_exceeded', 'output_limit_exceeded', 'warn']);
const QUIET = new Set(['skipped']);

/** A verdict (or a check status), coloured by what it means. */
export function verdict(status: string, c: Colors): string {
  if (GOOD.has(status)) return c.green(status);
  if (LIMITS.has(status)) return c.yellow(status);
  if (QUIET.has(status)) return c.dim(status);
  return c.red(status);
}

/** A measurement in whole units (`12`), or `-` when there is none. */
export function amount(value: number | undefined | null): string {
  return value === undefined || value === null ? '-' : String(Math.round(value));
}

/** The first lines of a text, each cut to a readable width, ending with what was left out. */
export function excerpt(text: string, maxLines = 5, maxWidth = 100): string[] {
  const lines = text.replace(/\n$/, '').split('\n');
  if (text === '') return ['(empty)'];
  const shown = lines
    .slice(0, maxLines)
    .map((line) => (line.length > maxWidth ? `${line.slice(0, maxWidth)}…` : line));
  if (lines.length > maxLines) shown.push(`… (${lines.length - maxLines} more lines)`);
  return shown;
}

/** Lines indented under a heading. */
export function indent(lines: readonly string[], by = '    '): string[] {
  return lines.map((line) => by + line);
}
