/** Configuration: defaults, YAML, environment overrides with the seed's names, clear errors. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { envName, exampleConfig, loadConfig, WorkerError } from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterAll(() => removeTempDirs());

function configError(env: Record<string, string>, file?: string): string {
  try {
    loadConfig({ env, ...(file ? { file } : {}) });
  } catch (error) {
    expect(error).toBeInstanceOf(WorkerError);
    expect((error as WorkerError).code).toBe('CONFIG_INVALID');
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('configuration', () => {
  it("has the seed service's defaults", () => {
    const config = loadConfig({ env: {} });
    expect(config.nats).toMatchObject({
      url: 'nats://localhost:4222',
      submissionCreatedSubject: 'submission.created',
      submissionResultSubject: 'submission.result',
      queueGroup: 'coderunner_prod_group',
    });
    expect(config.runner).toMatchObject({
      sandboxBaseDir: '/tmp/runner_sandbox',
      compilationTimeoutSec: 45,
      maxConcurrentJobs: 20,
    });
  });

  it("reads the seed service's environment variables", () => {
    const config = loadConfig({
      env: {
        RUNNER_NATS_URL: 'nats://nats:4222',
        RUNNER_RUNNER_SANDBOXBASEDIR: '/var/lib/coderunner',
        RUNNER_RUNNER_SANDBOXTYPE: 'direct',
        RUNNER_RUNNER_MAXCONCURRENTJOBS: '4',
        RUNNER_RUNNER_COMPILATIONTIMEOUTSEC: '30',
        RUNNER_RUNNER_RETRYBACKOFFMS: '100,200',
        RUNNER_LIMITS_ALLOWCUSTOMCOMMANDS: 'true',
      },
    });
    expect(config.nats.url).toBe('nats://nats:4222');
    expect(config.runner).toMatchObject({
      sandboxBaseDir: '/var/lib/coderunner',
      sandboxType: 'direct',
      maxConcurrentJobs: 4,
      compilationTimeoutSec: 30,
      retryBackoffMs: [100, 200],
    });
    expect(config.limits.allowCustomCommands).toBe(true);
    expect(envName('runner', 'maxConcurrentJobs')).toBe('RUNNER_RUNNER_MAXCONCURRENTJOBS');
  });

  it('takes the YAML file first and the environment over it', async () => {
    const file = `${await tempDir()}/config.yaml`;
    writeFileSync(
      file,
      'nats:\n  url: nats://from-file:4222\n  queueGroup: judges\nrunner:\n  maxConcurrentJobs: 3\n',
    );
    const config = loadConfig({ file, env: { RUNNER_RUNNER_MAXCONCURRENTJOBS: '5' } });
    expect(config.nats).toMatchObject({ url: 'nats://from-file:4222', queueGroup: 'judges' });
    expect(config.runner.maxConcurrentJobs).toBe(5);
  });

  it('stops on a bad value, naming the key, the value, the range and where it came from', () => {
    expect(configError({ RUNNER_RUNNER_MAXCONCURRENTJOBS: '0' })).toContain(
      'runner.maxConcurrentJobs must be >= 1, got 0 (allowed: 1 to 256) (from RUNNER_RUNNER_MAXCONCURRENTJOBS)',
    );
    expect(configError({ RUNNER_RUNNER_MAXCONCURRENTJOBS: 'many' })).toContain(
      'runner.maxConcurrentJobs must be an integer, got string (allowed: 1 to 256) (from RUNNER_RUNNER_MAXCONCURRENTJOBS)',
    );
    expect(configError({ RUNNER_RUNNER_SANDBOXTYPE: 'docker' })).toContain(
      'runner.sandboxType must be one of "bwrap", "direct", got "docker" (from RUNNER_RUNNER_SANDBOXTYPE)',
    );
  });

  it('names an unknown key of the file', async () => {
    const file = `${await tempDir()}/config.yaml`;
    writeFileSync(file, 'runner:\n  maxConcurentJobs: 3\n');
    expect(configError({}, file)).toContain(`runner.maxConcurentJobs is not a known field (from ${file})`);
  });

  it('reports every problem at once', () => {
    const message = configError({ RUNNER_NATS_MAXDELIVER: '1', RUNNER_HTTP_PORT: '70000' });
    expect(message).toContain('nats.maxDeliver must be >= 2');
    expect(message).toContain('http.port must be <= 65535');
  });
});

describe('the example configuration', () => {
  it('is current (regenerate it from exampleConfig() after changing a key) and loads', () => {
    const file = new URL('../config.example.yaml', import.meta.url);
    expect(readFileSync(file, 'utf8')).toBe(exampleConfig());
    expect(loadConfig({ file: fileURLToPath(file), env: {} })).toEqual(loadConfig({ env: {} }));
  });

  it('refuses a backoff list as long as max_deliver', () => {
    expect(configError({ RUNNER_NATS_BACKOFFSEC: '1,2,3', RUNNER_NATS_MAXDELIVER: '3' })).toContain(
      'nats.backoffSec has 3 delays; it must have fewer than nats.maxDeliver (3)',
    );
  });
});
