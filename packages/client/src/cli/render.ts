/**
 * How events read on a terminal: one line per event as it arrives, and a report of a final (a
 * table of tests, then what went wrong: compiler output, a diff excerpt, standard error).
 */
import type { FinalEvent, ResultEvent, TestResult } from '@coderunner/protocol';
import { amount, excerpt, indent, table, verdict, type Colors } from './format.js';

/** One line for an event. */
export function eventLine(event: ResultEvent, c: Colors): string {
  switch (event.type) {
    case 'accepted':
      return `${c.dim('accepted')}  attempt ${event.attempt}, ${amount(event.queuedInMs)} ms in the queue${event.workerId ? `, worker ${event.workerId}` : ''}`;
    case 'compiled':
      return `${c.dim('compiled')}  ${verdict(event.status, c)} in ${amount(event.timeInMs)} ms${event.cached ? ' (cached)' : ''}`;
    case 'test':
      return `${c.dim('test')}      ${event.testCaseId}  ${verdict(event.status, c)}  CPU ${amount(event.timeUsedInMs)} ms  ${amount(event.memoryUsedInKb)} KB`;
    case 'final':
      return `${c.dim('final')}     ${verdict(event.status, c)}  ${event.passed}/${event.total} passed`;
  }
}

export interface ReportOptions {
  /**
   * The expected output of the test at a position (undefined: not judged), when the caller
   * knows which tests were judged (it sent them).
   */
  expected?: (position: number) => string | undefined;
}

function testDetails(test: TestResult, position: number, c: Colors, options: ReportOptions): string[] {
  const lines: string[] = [];
  const expected = options.expected?.(position);
  if (test.status === 'success') {
    if (options.expected && expected === undefined) {
      lines.push(`${c.bold(test.testCaseId)} output (not judged):`, ...indent(excerpt(test.output, 10)));
    }
    return lines;
  }
  if (test.status === 'skipped') return lines;
  lines.push(
    `${c.bold(test.testCaseId)} ${verdict(test.status, c)}${test.message ? `: ${test.message}` : ''}`,
  );
  if (test.status === 'wrong_answer') {
    if (expected !== undefined) lines.push(`  ${c.green('expected')}:`, ...indent(excerpt(expected)));
    lines.push(`  ${c.red('actual')}:`, ...indent(excerpt(test.output)));
  }
  if (test.status === 'runtime_error' && !test.message) {
    const how = test.signal ? `signal ${test.signal}` : `exit code ${String(test.exitCode)}`;
    lines.push(`  ended with ${how}`);
  }
  if (test.status !== 'wrong_answer' && test.error.trim() !== '') {
    lines.push(`  standard error:`, ...indent(excerpt(test.error, 8)));
  }
  return lines;
}

/** The report of a final: what a person wants to see when a submission is done. */
export function finalReport(final: FinalEvent, c: Colors, options: ReportOptions = {}): string[] {
  const lines: string[] = [];
  if (final.status === 'invalid_submission' || final.status === 'internal_error') {
    lines.push(`${verdict(final.status, c)}: ${final.error ?? 'no detail given'}`);
    for (const problem of final.problems ?? []) lines.push(`  - ${problem}`);
    return lines;
  }
  if (final.compile?.status === 'compile_error') {
    lines.push(
      `${verdict('compile_error', c)}: the compiler said:`,
      ...indent(excerpt(final.compile.output, 40, 160)),
    );
    lines.push('');
  }
  if (final.tests.length > 0) {
    lines.push(
      ...table(
        [
          { header: 'TEST' },
          { header: 'VERDICT' },
          { header: 'CPU MS', align: 'right' },
          { header: 'WALL MS', align: 'right' },
          { header: 'MEMORY KB', align: 'right' },
        ],
        final.tests.map((test) => [
          test.testCaseId,
          verdict(test.status, c),
          amount(test.timeUsedInMs),
          amount(test.wallTimeInMs),
          amount(test.memoryUsedInKb),
        ]),
        c,
      ),
    );
    const details = final.tests.flatMap((test, i) => testDetails(test, test.index ?? i, c, options));
    if (details.length > 0) lines.push('', ...details);
    lines.push('');
  }
  lines.push(
    `${verdict(final.status, c)}: ${final.passed}/${final.total} passed, max CPU ${amount(final.maxTimeUsedInMs)} ms, max memory ${amount(final.maxMemoryUsedInKb)} KB${final.truncated ? ' (outputs cut to fit)' : ''}`,
  );
  return lines;
}
