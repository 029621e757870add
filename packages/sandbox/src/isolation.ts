/**
 * How a program is isolated. `bwrap`: a real unprivileged host uid per slot (the spawn helper
 * drops root before bubblewrap, because bubblewrap started by root maps its `--uid` to host root), new user,
 * pid, mount, net, ipc, uts and cgroup namespaces, nested user namespaces disabled, a read-only
 * view of the toolchains, size-limited tmpfs work dir and /tmp, a clean environment.
 * `direct`: the seed service's development mode, with no isolation at all.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from './registry.js';

/** Where a file of the run's work dir comes from on the host. */
export interface WorkFile {
  /** Host path (a file or a directory). */
  host: string;
  /** Name inside the work dir. */
  name: string;
}

/** One program to start in a sandbox. */
export interface IsolatedCommand {
  slot: number;
  /** Which of the slot's two uids it runs as (see `slotUid`); default 0. */
  lane?: 0 | 1;
  command: Command;
  /** The program's whole environment. */
  env: Readonly<Record<string, string>>;
  /** Read-only inputs placed in the work dir. */
  files: readonly WorkFile[];
  /** Extra host paths to bind read-only (the toolchain's own), when they exist. */
  roBinds: readonly string[];
  workDirBytes: number;
  tmpBytes: number;
}

/** The host-side command that starts an isolated program (after it joins its cgroup). */
export interface PreparedCommand {
  argv: string[];
  /** The host uid (and gid) it runs as; unset keeps the worker's. */
  uid?: number;
  /** The spawn helper's network namespace it starts in; unset keeps the worker's. */
  netns?: string;
  env: Record<string, string>;
  cwd: string;
  /** Whether the command reports its start on fd 3 (bubblewrap's JSON status). */
  statusFd: boolean;
  cleanup(): Promise<void>;
}

export interface Isolation {
  readonly type: 'bwrap' | 'direct';
  prepare(command: IsolatedCommand, runId: string): Promise<PreparedCommand>;
}

/** The directory where programs run, inside the sandbox. */
export const SANDBOX_WORK_DIR = '/box';
/** The uid and gid programs see inside the sandbox (mapped to the slot's host uid). */
export const SANDBOX_UID = 1000;

/** The PATH of every program. */
export const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The argv of a command: a string runs through `/bin/sh -c`. */
export function argvOf(command: Command): string[] {
  return typeof command === 'string' ? ['/bin/sh', '-c', command] : [...command];
}

export interface BwrapOptions {
  bwrap: string;
  /** The first uid of slot 0: slot n runs as `uidBase + 2n` and `uidBase + 2n + 1`. */
  uidBase: number;
  /** From `systemView` (system-view.ts). */
  system: readonly string[];
  /**
   * Each slot's programs share one empty network namespace, kept by the spawn helper (no
   * interface up, and the sandbox cannot change that), instead of bubblewrap making one per run:
   * making and tearing down a namespace is a good part of a run's cost. Needs CAP_SYS_ADMIN.
   */
  netnsPerSlot: boolean;
}

/**
 * The host uid of a slot's programs. Each slot has two and its sandboxes made ahead take them
 * in turn, so that the next one can be made while a program runs without ever sharing its uid.
 */
export function slotUid(options: Pick<BwrapOptions, 'uidBase'>, slot: number, lane: 0 | 1 = 0): number {
  return options.uidBase + 2 * slot + lane;
}

/** The name of a slot's network namespace (see `netnsPerSlot`). */
export function slotNetns(slot: number): string {
  return `slot-${slot}`;
}

/** The full host argv of an isolated command, run as the slot's uid (`slotUid`). */
export function bwrapArgv(options: BwrapOptions, command: IsolatedCommand): string[] {
  const args = [
    options.bwrap,
    '--unshare-all',
    ...(options.netnsPerSlot ? ['--share-net'] : []),
    '--unshare-user',
    '--disable-userns',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--hostname',
    'sandbox',
    '--die-with-parent',
    '--new-session',
    '--json-status-fd',
    '3',
    ...options.system,
    '--proc',
    '/proc',
    '--size',
    String(command.tmpBytes),
    '--perms',
    '1777',
    '--tmpfs',
    '/dev/shm',
    '--size',
    String(command.tmpBytes),
    '--perms',
    '1777',
    '--tmpfs',
    '/tmp',
    '--size',
    String(command.workDirBytes),
    '--perms',
    '0755',
    '--tmpfs',
    SANDBOX_WORK_DIR,
  ];
  // The system view's /etc has a copy of the toolchains' paths there.
  for (const path of command.roBinds) if (!path.startsWith('/etc/')) args.push('--ro-bind-try', path, path);
  for (const file of command.files) args.push('--ro-bind', file.host, `${SANDBOX_WORK_DIR}/${file.name}`);
  args.push('--chdir', SANDBOX_WORK_DIR, '--clearenv');
  for (const [name, value] of Object.entries(command.env)) args.push('--setenv', name, value);
  args.push('--', ...argvOf(command.command));
  return args;
}

export class BwrapIsolation implements Isolation {
  readonly type = 'bwrap';

  constructor(private readonly options: BwrapOptions) {}

  /** The host uid of a slot's lane (`slotUid`). */
  uidOf(slot: number, lane: 0 | 1): number {
    return slotUid(this.options, slot, lane);
  }

  prepare(command: IsolatedCommand): Promise<PreparedCommand> {
    // bubblewrap's own pid 1 keeps the environment it was started with, readable inside at
    // /proc/1/environ: start it with an empty one.
    return Promise.resolve({
      argv: bwrapArgv(this.options, command),
      uid: slotUid(this.options, command.slot, command.lane),
      ...(this.options.netnsPerSlot ? { netns: slotNetns(command.slot) } : {}),
      env: {},
      cwd: '/',
      statusFd: true,
      cleanup: () => Promise.resolve(),
    });
  }
}

/** No isolation: the program runs as the worker, in a host directory. For development only. */
export class DirectIsolation implements Isolation {
  readonly type = 'direct';

  constructor(private readonly runsDir: string) {}

  async prepare(command: IsolatedCommand, runId: string): Promise<PreparedCommand> {
    const dir = join(this.runsDir, runId);
    const tmp = join(dir, '.tmp');
    await mkdir(tmp, { recursive: true });
    for (const file of command.files) await cp(file.host, join(dir, file.name), { recursive: true });
    return {
      argv: argvOf(command.command),
      env: { ...command.env, HOME: dir, TMPDIR: tmp },
      cwd: dir,
      statusFd: false,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
}
