import { constants as osConstants } from 'node:os';

/** Stable codes of sandbox errors; classify by code once an error has crossed a process. */
export type SandboxErrorCode =
  /** An engine option is out of its range. */
  | 'OPTIONS_INVALID'
  /** The registry file is missing or does not meet its schema. */
  | 'REGISTRY_INVALID'
  /** The language is not in the registry, or its toolchain is not installed. */
  | 'LANGUAGE_UNAVAILABLE'
  /** The chosen isolation cannot work on this host (no bwrap, no user namespaces, no cgroups). */
  | 'SANDBOX_UNAVAILABLE'
  /** The sandbox could not start a program (bwrap or the cgroup set-up failed). */
  | 'SANDBOX_START_FAILED'
  /** A cgroup could not be created, limited, read or removed. */
  | 'CGROUP_FAILED'
  /** The host side of a workspace failed: disk full, permissions. */
  | 'WORKSPACE_FAILED'
  /** The engine is closed. */
  | 'ENGINE_CLOSED'
  /** The caller cancelled the job (its AbortSignal fired). */
  | 'CANCELLED';

const RETRYABLE: ReadonlySet<SandboxErrorCode> = new Set([
  'SANDBOX_START_FAILED',
  'CGROUP_FAILED',
  'WORKSPACE_FAILED',
  'ENGINE_CLOSED',
  'CANCELLED',
]);

/**
 * A fault of the sandbox or the host, never of the submitted program: the program's own failures
 * are verdicts, not errors. `retryable` says whether running the same job again may succeed.
 */
export class SandboxError extends Error {
  override name = 'SandboxError';
  readonly retryable: boolean;

  constructor(
    readonly code: SandboxErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.retryable = RETRYABLE.has(code);
  }
}

const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, number]) => [number, name]));

/** The name of an errno (`ENOENT`) a native helper reported by number. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}
