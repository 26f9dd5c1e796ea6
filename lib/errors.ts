// PortclashError: every error the library throws, with a stable `code` scripts can match on.
import { constants } from 'node:os';

/**
 * Codes the library defines. Errors that come from the kernel keep their errno name instead
 * (`ENOENT`, `EACCES`, …), as Node's own errors do.
 */
export type PortclashErrorCode =
  | 'ERR_ADDON_LOAD'
  | 'ERR_INVALID_BINDING'
  | 'ERR_UNSUPPORTED_PLATFORM'
  | 'ERR_INVALID_PORT'
  | 'ERR_INVALID_HOST'
  | 'ERR_UNKNOWN_SERVICE'
  | 'ERR_PORT_IN_USE'
  | 'ERR_PORT_DENIED'
  | 'ERR_ADDRESS_UNAVAILABLE'
  | 'ERR_PORT_UNKNOWN'
  | 'ERR_PROC_UNREADABLE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_USAGE'
  /** The native addon failed in a way that is no kernel errno (out of memory, an internal error). */
  | 'ERR_NATIVE';

export interface PortclashErrorDetails {
  /** The system call that failed, for kernel errors. */
  syscall?: string;
  /** The file the failed call was about. */
  path?: string;
  /** The error this one wraps. */
  cause?: unknown;
}

export class PortclashError extends Error {
  override readonly name = 'PortclashError';
  readonly code: PortclashErrorCode | string;
  readonly syscall?: string;
  readonly path?: string;

  constructor(code: PortclashErrorCode | string, message: string, details: PortclashErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
  }
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

/** `ENOENT` for 2: the name Node's errors use for a kernel errno. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}
