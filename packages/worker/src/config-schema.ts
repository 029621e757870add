/**
 * Every configuration key of the worker, with its type, range, default and meaning: the one
 * declarative table that the YAML file, the environment and validation all follow. Durations
 * are in the unit their name says (`Sec`, `Ms`).
 */
const int = (minimum: number, maximum: number, dflt: number, description: string) =>
  ({ type: 'integer', minimum, maximum, default: dflt, description }) as const;
const str = (dflt: string, description: string) =>
  ({ type: 'string', minLength: 1, default: dflt, description }) as const;
const bool = (dflt: boolean, description: string) =>
  ({ type: 'boolean', default: dflt, description }) as const;
const subject = (dflt: string, description: string) =>
  ({ type: 'string', pattern: '^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*$', default: dflt, description }) as const;
const name = (dflt: string, description: string) =>
  ({ type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', default: dflt, description }) as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    nats: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: str('nats://localhost:4222', 'NATS server URL (comma-separate several)'),
        user: { type: 'string', description: 'user name, with password' },
        password: { type: 'string', description: 'password, with user' },
        token: { type: 'string', description: 'authentication token' },
        credsFile: { type: 'string', description: 'path of a .creds file (JWT and nkey seed)' },
        submissionCreatedSubject: subject('submission.created', 'where clients enqueue submissions'),
        submissionResultSubject: subject('submission.result', 'prefix of the per-submission result subject'),
        deadLetterSubject: subject('submission.dead', 'prefix of the per-submission dead-letter subject'),
        queueGroup: name('coderunner_prod_group', 'the durable pull consumer every worker shares'),
        submissionsStream: name('SUBMISSIONS', 'work-queue stream of submissions'),
        resultsStream: name('RESULTS', 'stream of result events'),
        deadLetterStream: name('SUBMISSIONS_DLQ', 'stream of dead letters'),
        provision: bool(true, 'create or update the streams and consumers at start'),
        replicas: int(1, 5, 1, 'replicas of every stream (3 in a cluster)'),
        duplicateWindowSec: int(1, 86_400, 120, 'de-duplication window of submissions and results'),
        resultsMaxAgeSec: int(60, 31_536_000, 604_800, 'how long results are kept (7 days)'),
        submissionsMaxMsgs: int(
          -1,
          1_000_000_000,
          -1,
          'most submissions waiting; more are refused (-1: no limit)',
        ),
        submissionsMaxBytes: int(
          -1,
          1_000_000_000_000,
          -1,
          'most bytes waiting; more are refused (-1: no limit)',
        ),
        ackWaitSec: int(1, 3600, 30, 'a job not acknowledged or extended for this long is redelivered'),
        maxDeliver: int(2, 100, 5, 'deliveries of a submission before it becomes a dead letter'),
        backoffSec: {
          type: 'array',
          items: { type: 'integer', minimum: 1, maximum: 86_400 },
          maxItems: 20,
          default: [],
          description:
            'redelivery delays after ack-wait expiries (server-side backoff; empty: ackWaitSec each time)',
        },
        maxAckPending: int(1, 1_000_000, 1000, 'most submissions in progress across all workers'),
        publishTimeoutMs: int(100, 60_000, 5000, 'how long a result publish may wait for the server'),
        publishRetries: int(0, 100, 5, 'retries of a timed-out result publish (same message id)'),
        pullExpiresMs: int(1000, 300_000, 30_000, 'how long one pull request waits for a submission'),
      },
    },
    runner: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        sandboxBaseDir: str('/tmp/runner_sandbox', 'where the sandbox keeps its files'),
        sandboxType: {
          type: 'string',
          enum: ['bwrap', 'direct'],
          default: 'bwrap',
          description: 'bwrap (isolated) or direct (no isolation, development only)',
        },
        compilationTimeoutSec: int(1, 600, 45, 'limit of one compile'),
        maxConcurrentJobs: int(
          1,
          256,
          20,
          'submissions judged at once (slots); about the number of cores is best for timing',
        ),
        uidBase: int(
          1,
          4_000_000_000,
          61_000,
          'first host uid of the slots: slot n runs as uidBase + 2n and uidBase + 2n + 1',
        ),
        compileCacheMb: int(0, 1_000_000, 512, 'size of the compile cache (0: off)'),
        warmSandboxes: bool(true, "set up each slot's next test-run sandbox ahead of time (bwrap)"),
        languagesFile: { type: 'string', description: 'a language registry file replacing the built-in one' },
        retryBackoffMs: {
          type: 'array',
          items: { type: 'integer', minimum: 0, maximum: 3_600_000 },
          minItems: 1,
          maxItems: 20,
          default: [1000, 5000, 30_000],
          description: 'delay before a job that failed on our side is retried, by attempt (the last repeats)',
        },
        shutdownGraceSec: int(0, 3600, 30, 'on SIGTERM, how long running jobs may take to finish'),
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        defaultTimeLimitMs: int(1, 600_000, 2000, 'CPU time per test when a submission gives none'),
        defaultMemoryLimitKb: int(1024, 64_000_000, 262_144, 'memory per test when a submission gives none'),
        defaultOutputLimitKb: int(1, 1_048_576, 1024, 'output per test when a submission gives none'),
        maxTimeLimitMs: int(1, 3_600_000, 15_000, 'the most CPU time per test a submission may ask for'),
        maxWallTimeLimitMs: int(1, 3_600_000, 60_000, 'the most wall-clock time per test'),
        maxMemoryLimitKb: int(1024, 64_000_000, 1_048_576, 'the most memory per test'),
        maxOutputLimitKb: int(1, 1_048_576, 16_384, 'the most output per test'),
        maxTestCases: int(1, 10_000, 1000, 'the most test cases in a submission'),
        maxFiles: int(0, 100, 20, 'the most extra files in a submission'),
        maxCodeBytes: int(1, 100_000_000, 1_048_576, 'the most bytes of code and files'),
        maxTotalInputBytes: int(
          0,
          1_000_000_000,
          16_777_216,
          'the most bytes of test inputs and expected outputs',
        ),
        maxMessageBytes: int(1024, 1_000_000_000, 16_777_216, 'the largest submission message'),
        wallTimeFactor: {
          type: 'number',
          minimum: 1,
          maximum: 100,
          default: 2,
          description: 'default wall limit = CPU limit × this + wallTimeExtraMs',
        },
        wallTimeExtraMs: int(0, 600_000, 1000, 'see wallTimeFactor'),
        allowCustomCommands: bool(
          false,
          'use the compile and run commands of a seed language object (still sandboxed)',
        ),
        eventOutputBytes: int(256, 1_048_576, 65_536, 'output and error kept per test in result events'),
      },
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        port: int(0, 65_535, 9090, '/healthz, /readyz and /metrics (0: off)'),
        host: str('0.0.0.0', 'address the HTTP server listens on'),
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: {
          type: 'string',
          enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
          default: 'info',
          description: 'log level',
        },
      },
    },
  },
} as const;
