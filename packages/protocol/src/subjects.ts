/**
 * Subject and stream names of the wire contract, and the submission id rule.
 * Every name here is a default: deployments may configure their own.
 */

/** A submission id is one subject token: letters, digits, `_` and `-`, 1 to 128 characters. */
export const SUBMISSION_ID_PATTERN = '^[A-Za-z0-9_-]{1,128}$';

const idRegExp = new RegExp(SUBMISSION_ID_PATTERN);

/** True when `id` can be used as a submission id (and so as a subject token). */
export function isValidSubmissionId(id: unknown): id is string {
  return typeof id === 'string' && idRegExp.test(id);
}

/** Default names of subjects, streams and the durable consumer. */
export const DEFAULT_NAMES = {
  /** Where clients enqueue submissions (the seed's subject). */
  submissionSubject: 'submission.created',
  /** Prefix of the per-submission result subject: `<prefix>.<id>`. */
  resultSubjectPrefix: 'submission.result',
  /** Prefix of the per-submission dead-letter subject: `<prefix>.<id>`. */
  deadLetterSubjectPrefix: 'submission.dead',
  submissionsStream: 'SUBMISSIONS',
  resultsStream: 'RESULTS',
  deadLetterStream: 'SUBMISSIONS_DLQ',
  /** The durable pull consumer every worker shares (the seed's queue group name). */
  consumer: 'coderunner_prod_group',
} as const;

function joinToken(prefix: string, id: string): string {
  if (!isValidSubmissionId(id)) {
    throw new RangeError(`submission id ${JSON.stringify(id)} is not a single subject token`);
  }
  return `${prefix}.${id}`;
}

/** `submission.result.<id>`: the subject carrying every event of one submission. */
export function resultSubject(id: string, prefix: string = DEFAULT_NAMES.resultSubjectPrefix): string {
  return joinToken(prefix, id);
}

/** `submission.result.>`: what the results stream captures. */
export function resultSubjectWildcard(prefix: string = DEFAULT_NAMES.resultSubjectPrefix): string {
  return `${prefix}.>`;
}

/** `submission.dead.<id>`: where a dead letter for `id` is kept. */
export function deadLetterSubject(
  id: string,
  prefix: string = DEFAULT_NAMES.deadLetterSubjectPrefix,
): string {
  return joinToken(prefix, id);
}
