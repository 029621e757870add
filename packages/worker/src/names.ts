/** The subjects, streams and consumers a worker uses, derived from its configuration. */
import type { WorkerConfig } from './config.js';

export interface Names {
  submissionSubject: string;
  resultPrefix: string;
  deadLetterPrefix: string;
  submissionsStream: string;
  resultsStream: string;
  deadLetterStream: string;
  /** The durable pull consumer of submissions. */
  consumer: string;
  /** Captures the server's max-deliveries advisories, so that none is lost while no worker listens. */
  advisoryStream: string;
  advisorySubject: string;
  /** The durable consumer that turns those advisories into dead letters. */
  advisoryConsumer: string;
}

export function namesOf(config: WorkerConfig): Names {
  const n = config.nats;
  return {
    submissionSubject: n.submissionCreatedSubject,
    resultPrefix: n.submissionResultSubject,
    deadLetterPrefix: n.deadLetterSubject,
    submissionsStream: n.submissionsStream,
    resultsStream: n.resultsStream,
    deadLetterStream: n.deadLetterStream,
    consumer: n.queueGroup,
    advisoryStream: `${n.submissionsStream}_ADVISORIES`,
    advisorySubject: `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${n.submissionsStream}.${n.queueGroup}`,
    advisoryConsumer: `${n.queueGroup}_dead_letters`,
  };
}
