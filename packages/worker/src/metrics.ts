/** Prometheus metrics of a worker, served at `/metrics`. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** How often the event loop's lag is sampled. */
const EVENT_LOOP_SAMPLE_MS = 250;

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobs = new Counter({
    name: 'coderunner_jobs_total',
    help: 'Submissions finished, by overall verdict',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'coderunner_job_duration_seconds',
    help: 'Time from taking a submission to publishing its final result',
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'coderunner_queue_wait_seconds',
    help: 'Time a submission waited in the stream before a worker took it',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
    registers: [this.registry],
  });
  /** What `coderunner_jobs_in_flight` reads when scraped: the worker sets it to its count. */
  countInFlight: () => number = () => 0;
  readonly inFlight: Gauge = new Gauge({
    name: 'coderunner_jobs_in_flight',
    help: 'Submissions being judged now',
    registers: [this.registry],
    // Read when scraped rather than kept up to date by every job.
    collect: (): void => this.inFlight.set(this.countInFlight()),
  });
  readonly redeliveries = new Counter({
    name: 'coderunner_redeliveries_total',
    help: 'Submissions received again after an earlier delivery',
    registers: [this.registry],
  });
  readonly sandboxFailures = new Counter({
    name: 'coderunner_sandbox_failures_total',
    help: 'Jobs that failed on the worker side and were handed back for a retry',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly invalid = new Counter({
    name: 'coderunner_invalid_submissions_total',
    help: 'Messages refused as invalid submissions',
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'coderunner_dead_letters_total',
    help: 'Messages moved to the dead-letter stream',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  constructor() {
    // The event loop's lag is sampled by a timer: at the default 10 ms it wakes an idle worker a
    // hundred times a second (about 1% of a core doing nothing); stalls that matter last longer.
    collectDefaultMetrics({
      register: this.registry,
      prefix: 'coderunner_worker_',
      eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
    });
  }
}
