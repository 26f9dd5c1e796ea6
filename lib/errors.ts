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
  /** listSockets({ pid }): no process has that pid (it never did, it exited, or it is a zombie). */
  | 'ERR_NO_SUCH_PROCESS'
  /** listSockets({ pid }): the process exists, but its open files cannot be read (another user's, without ptrace rights). */
  | 'ERR_PROCESS_UNREADABLE'
  /** A `netns` names no namespace: no /run/netns/NAME, or no such file. */
  | 'ERR_NO_SUCH_NETNS'
  /** A `netns` names a file that is not a network namespace (another kind of namespace, or none). */
  | 'ERR_NOT_A_NETNS'
  /** Another network namespace's tables or facts cannot be read: it cannot be entered (no CAP_SYS_ADMIN) and nothing outside shows them. */
  | 'ERR_NETNS_UNREADABLE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_USAGE'
  /** The native addon failed in a way that is no kernel errno (out of memory, an internal error). */
  | 'ERR_NATIVE'
  /** waitForPort's deadline passed before the port was listening (or free); the message says what it saw last. */
  | 'ERR_TIMEOUT'
  /** findFreePort, findFreePorts or reservePort found too few free ports; the message counts what refused the others. */
  | 'ERR_NO_FREE_PORT'
  /** The work was cancelled: the process or thread is exiting, or the caller's AbortSignal fired (Node's own code for it). */
  | 'ABORT_ERR';

/** A kernel errno's name, as Node's own errors carry it: `EACCES`, `ENOENT`. */
export type ErrnoCode = `E${Uppercase<string>}`;

/** A Win32 error's name (winerror.h), for Windows calls that fail: `ERROR_ACCESS_DENIED`. */
export type Win32ErrorCode = `ERROR_${Uppercase<string>}`;

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
  readonly code: PortclashErrorCode | ErrnoCode | Win32ErrorCode;
  readonly syscall?: string;
  readonly path?: string;

  constructor(code: PortclashErrorCode | ErrnoCode | Win32ErrorCode, message: string, details: PortclashErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    if (details.syscall !== undefined) this.syscall = details.syscall;
    if (details.path !== undefined) this.path = details.path;
  }
}

// made on first use: most commands never name an errno
let errnoNames: Map<number, string> | undefined;

/** `ENOENT` for 2: the name Node's errors use for a kernel errno. */
export function errnoName(errno: number): ErrnoCode {
  errnoNames ??= new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));
  return (errnoNames.get(errno) ?? `E${errno}`) as ErrnoCode;
}

/**
 * Errors the addon throws are C++ exceptions turned into plain JS errors (bad_alloc, an internal
 * failure; kernel errnos come back as data instead): users get a PortclashError for them too.
 * `doing` says what the addon was at: `reading sock_diag`.
 */
export function nativeError(doing: string, error: unknown): unknown {
  if (error instanceof PortclashError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PortclashError('ERR_NATIVE', `the native addon failed while ${doing}: ${message}`, { cause: error });
}

/** Calls into the addon, turning what it throws into a PortclashError (nativeError). */
export function fromAddonSync<T>(doing: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw nativeError(doing, error);
  }
}

export async function fromAddon<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw nativeError(doing, error);
  }
}
