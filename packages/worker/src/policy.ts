/** The submission policy of a worker: its configured limits and the languages its engine offers. */
import type { SubmissionPolicy } from '@coderunner/protocol';
import type { Engine } from '@coderunner/sandbox';
import type { WorkerConfig } from './config.js';

export function policyOf(config: WorkerConfig, engine: Engine): SubmissionPolicy {
  const l = config.limits;
  return {
    defaults: {
      timeLimitInMs: l.defaultTimeLimitMs,
      memoryLimitInKb: l.defaultMemoryLimitKb,
      outputLimitInKb: l.defaultOutputLimitKb,
    },
    maximums: {
      timeLimitInMs: l.maxTimeLimitMs,
      wallTimeLimitInMs: l.maxWallTimeLimitMs,
      memoryLimitInKb: l.maxMemoryLimitKb,
      outputLimitInKb: l.maxOutputLimitKb,
      testCases: l.maxTestCases,
      files: l.maxFiles,
      codeBytes: l.maxCodeBytes,
      totalInputBytes: l.maxTotalInputBytes,
      messageBytes: l.maxMessageBytes,
    },
    wallTimeFactor: l.wallTimeFactor,
    wallTimeExtraInMs: l.wallTimeExtraMs,
    resolveLanguage: (id) => engine.resolveLanguage(id),
    languages: engine
      .languages()
      .filter((language) => language.available)
      .map((language) => language.id),
    allowCustomCommands: l.allowCustomCommands,
  };
}
