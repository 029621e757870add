/**
 * The sample programs of `coderunner dev`: one per language in `samples/<language>/` (a source
 * file and a `tests.yaml`), submitted together, each waited for, and shown in one table.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FinalEvent } from '@coderunner/protocol';
import type { CoderunnerClient } from '../client.js';
import { oneLine } from './exit-codes.js';
import { amount, table, verdict, type Colors } from './format.js';
import { buildSubmission } from './submission.js';

export interface Sample {
  language: string;
  file: string;
  tests: string;
}

/** The sample of a language, when there is one. */
export function findSample(dir: string, language: string): Sample | undefined {
  const folder = join(dir, language);
  const tests = join(folder, 'tests.yaml');
  if (!existsSync(tests)) return undefined;
  const source = readdirSync(folder).find((name) => name !== 'tests.yaml' && !name.startsWith('.'));
  return source ? { language, file: join(folder, source), tests } : undefined;
}

export interface SampleRow {
  language: string;
  /** The final verdict, or why there is none (`no sample`, `error`). */
  status: string;
  final?: FinalEvent;
  /** From submitting to the final, as the client saw it. */
  totalMs?: number;
  error?: string;
}

async function runOne(client: CoderunnerClient, sample: Sample, timeoutMs: number): Promise<SampleRow> {
  const started = Date.now();
  try {
    const { submission } = buildSubmission({
      file: sample.file,
      lang: sample.language,
      tests: sample.tests,
      idPrefix: `dev-${sample.language}`,
    });
    const id = await client.submit(submission);
    const final = await client.waitForFinal(id, { timeoutMs });
    return { language: sample.language, status: final.status, final, totalMs: Date.now() - started };
  } catch (error) {
    return { language: sample.language, status: 'error', error: oneLine(error) };
  }
}

/** Submits every language's sample at once and waits for all the finals. */
export function runSamples(
  client: CoderunnerClient,
  languages: readonly string[],
  dir: string,
  timeoutMs = 120_000,
): Promise<SampleRow[]> {
  return Promise.all(
    languages.map((language) => {
      const sample = findSample(dir, language);
      return sample
        ? runOne(client, sample, timeoutMs)
        : Promise.resolve({ language, status: 'no sample', error: `no sample in ${join(dir, language)}` });
    }),
  );
}

/** The table of samples: language, verdict, compile ms, max CPU ms, max memory KB, total ms. */
export function samplesTable(rows: readonly SampleRow[], c: Colors): string[] {
  const lines = table(
    [
      { header: 'LANGUAGE' },
      { header: 'VERDICT' },
      { header: 'COMPILE MS', align: 'right' },
      { header: 'MAX CPU MS', align: 'right' },
      { header: 'MAX MEMORY KB', align: 'right' },
      { header: 'TOTAL MS', align: 'right' },
    ],
    rows.map((row) => {
      const compile = row.final?.compile;
      return [
        row.language,
        verdict(row.status, c),
        compile ? `${compile.cached ? '(cached) ' : ''}${amount(compile.timeInMs)}` : '-',
        amount(row.final?.maxTimeUsedInMs),
        amount(row.final?.maxMemoryUsedInKb),
        amount(row.totalMs),
      ];
    }),
    c,
  );
  for (const row of rows) {
    if (row.error) lines.push(`${row.language}: ${row.error}`);
    const failed = row.final?.tests.find((t) => t.status !== 'success');
    if (row.final && row.status !== 'success') {
      const detail =
        row.final.error ??
        (row.final.compile?.status === 'compile_error'
          ? row.final.compile.output.split('\n')[0]
          : failed && `${failed.testCaseId}: ${failed.message ?? failed.error.split('\n')[0] ?? ''}`);
      lines.push(`${row.language}: ${row.status}${detail ? ` (${detail})` : ''}`);
    }
  }
  return lines;
}
