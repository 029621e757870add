/** The worker's pino logger, and a job's, whose lines carry the job's `submissionId` and `attempt`. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'coderunner-worker', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? process.stdout,
  );
}

type JobLevel = 'info' | 'warn' | 'error';

/**
 * A job's logger: each line it writes carries the job's fields. Not a pino child, whose making
 * (its fields serialized, a logger object derived) cost every job as much as a line written, even
 * at levels where the job writes none.
 */
export class JobLogger {
  constructor(
    private readonly log: Logger,
    private readonly fields: Readonly<Record<string, unknown>>,
  ) {}

  info(fieldsOrMessage: object | string, message?: string): void {
    this.write('info', fieldsOrMessage, message);
  }

  warn(fieldsOrMessage: object | string, message?: string): void {
    this.write('warn', fieldsOrMessage, message);
  }

  error(fieldsOrMessage: object | string, message?: string): void {
    this.write('error', fieldsOrMessage, message);
  }

  private write(level: JobLevel, fieldsOrMessage: object | string, message?: string): void {
    if (!this.log.isLevelEnabled(level)) return;
    if (typeof fieldsOrMessage === 'string') this.log[level](this.fields, fieldsOrMessage);
    else this.log[level]({ ...this.fields, ...fieldsOrMessage }, message);
  }
}
