// Another network namespace: which one a `netns` names, and how the Linux readers get at its tables and facts.
import { readdirSync, statSync } from 'node:fs';

import { getBinding, type FileReading } from '../binding.js';
import { errnoName, PortclashError } from '../errors.js';

/**
 * A network namespace other than this process's, as the readers reach it. Each reading first
 * enters it: a thread of the addon's own calls setns(2) (which needs CAP_SYS_ADMIN over it), opens
 * its sock_diag socket or its /proc/thread-self/net and /proc/sys/net files there, and ends.
 * Where it cannot enter, /proc/<pid>/net of a process inside shows the tables and addresses (not the
 * sysctls, which only a thread inside can open).
 */
export interface NetPlace {
  /** The nsfs file: as given, or /run/netns/NAME for a name (`ip netns add NAME` makes one). */
  readonly path: string;
  /** Its inode and device, which tell namespaces apart; null when the file could not be opened to tell (another user's /proc/<pid>/ns/net). */
  readonly identity: { inode: number; device: number } | null;
  /** The process a /proc/<pid>/ns/net path names: the namespace is by definition the one it is in. */
  readonly givenPid: number | null;
}

/** The directory where `ip netns add NAME` keeps its namespaces' files, as iproute2 does. */
const NETNS_RUN_DIR = '/run/netns';

/**
 * The namespace a `netns` option names: a path (`/run/netns/web`, `/proc/1234/ns/net`), or a name
 * of /run/netns. null when it is this process's own namespace, which needs no entering.
 */
export function resolveNetns(netns: unknown): NetPlace | null {
  if (typeof netns !== 'string' || netns === '' || netns.includes('\0')) {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `netns must be the name of a namespace in ${NETNS_RUN_DIR} or the path of a network namespace file such as /proc/<pid>/ns/net, got ${JSON.stringify(netns) ?? String(netns)}`,
    );
  }
  const named = !netns.includes('/');
  if (named && (netns === '.' || netns === '..')) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `netns ${JSON.stringify(netns)} is not a namespace name`);
  }
  const path = named ? `${NETNS_RUN_DIR}/${netns}` : netns;
  const givenPid = pidOfPath(path);
  const identity = getBinding().identifyNetns?.(path);
  if (identity === undefined) throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding cannot enter network namespaces: it was not built for Linux');
  if (identity.errno !== 0) {
    const code = errnoName(identity.errno);
    // another user's /proc/<pid>/ns/net needs ptrace rights to open; its /proc/<pid>/net does not
    if ((code === 'EACCES' || code === 'EPERM') && givenPid !== null) return { path, identity: null, givenPid };
    throw identifyError(netns, path, code, identity.syscall ?? 'open', named);
  }
  if (!identity.network) {
    throw new PortclashError('ERR_NOT_A_NETNS', `${path} is a namespace file, but of another kind of namespace than a network one`, { path });
  }
  const own = getBinding().identifyNetns!('/proc/self/ns/net');
  if (own.errno === 0 && own.inode === identity.inode && own.device === identity.device) return null;
  return { path, identity: { inode: identity.inode, device: identity.device }, givenPid };
}

function identifyError(netns: string, path: string, code: string, syscall: string, named: boolean): PortclashError {
  if (code === 'ENOENT') {
    return new PortclashError(
      'ERR_NO_SUCH_NETNS',
      named
        ? `there is no network namespace named ${JSON.stringify(netns)}: ${path} does not exist (\`ip netns list\` shows the names)`
        : `${path} does not exist`,
      { path },
    );
  }
  if (code === 'ENOTTY' || code === 'EINVAL') {
    return new PortclashError('ERR_NOT_A_NETNS', `${path} is not a namespace file (give /run/netns/NAME or /proc/<pid>/ns/net)`, { path, syscall });
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new PortclashError('ERR_NETNS_UNREADABLE', `${path} cannot be opened (${code}): try as its owner or with sudo`, { path, syscall });
  }
  return new PortclashError(code as `E${Uppercase<string>}`, `cannot open the network namespace ${path}: ${code} (${syscall})`, { path, syscall });
}

function pidOfPath(path: string): number | null {
  const match = /^\/proc\/(\d+)(?:\/task\/(\d+))?\/ns\/net$/.exec(path);
  if (match === null) return null;
  const pid = Number(match[2] ?? match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** The failure of a reading that could not enter the namespace: setns (or the thread that would), or null. */
export function enteringFailed(reading: { errno: number; syscall: string | null }): string | null {
  if (reading.errno === 0 || (reading.syscall !== 'setns' && reading.syscall !== 'thread' && reading.syscall !== 'open netns')) return null;
  const code = errnoName(reading.errno);
  if (code === 'EPERM' && reading.syscall === 'setns') return 'entering it needs CAP_SYS_ADMIN over it (setns: EPERM)';
  if (code === 'EACCES' && reading.syscall === 'open netns')
    return 'opening its namespace file needs ptrace rights over the process it belongs to (open: EACCES)';
  return `entering it failed (${reading.syscall}: ${code})`;
}

/**
 * A process in the namespace whose /proc/<pid>/net can be read instead of entering: the one the
 * path names, else the first found whose /proc/<pid>/ns/net is this namespace (only processes this
 * one may inspect show theirs). null when none is.
 */
export function processInside(place: NetPlace): number | null {
  if (place.givenPid !== null) return place.givenPid;
  if (place.identity === null) return null;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    if (isInside(place, Number(entry))) return Number(entry);
  }
  return null;
}

/**
 * Whether process `pid` is (still) in the namespace: checked after its /proc/<pid>/net was read, since
 * a process may move (setns, unshare) or exit and its pid go to another. true when it cannot be told
 * and the path named the process: the namespace is then the process's, whichever it is.
 */
export function isInside(place: NetPlace, pid: number): boolean {
  try {
    const status = statSync(`/proc/${pid}/ns/net`);
    return place.identity === null ? true : status.ino === place.identity.inode && status.dev === place.identity.device;
  } catch {
    return place.identity === null && pid === place.givenPid;
  }
}

/**
 * What a reader says when it cannot enter the namespace and cannot do without: for the tables and
 * addresses, no process inside it was found whose /proc/<pid>/net shows them (`outside`); for the
 * sysctls, nothing outside it shows them at all.
 */
export function unreadableError(place: NetPlace, why: string, what: string, outside = true): PortclashError {
  const rest = outside
    ? 'and no process inside it is known whose /proc/<pid>/net could be read instead. Fix: run as root, or name a process inside it with --netns /proc/<pid>/ns/net.'
    : 'and only a thread inside it can open them. Fix: run as root.';
  return new PortclashError('ERR_NETNS_UNREADABLE', `cannot read ${what} of the network namespace ${place.path}: ${why}, ${rest}`, { path: place.path });
}

/**
 * A /proc/net file as a thread inside another namespace opens it: /proc/net is /proc/self/net, the
 * main thread's, and /proc/thread-self/net the reading thread's. Other paths stay as they are.
 */
export function insidePath(path: string): string {
  return path.replace(/^\/proc\/net\//, '/proc/thread-self/net/');
}

/**
 * Files read from inside the namespace, each named as this process names its own (`/proc/net/X`,
 * `/proc/sys/net/…`); null for a file that could not be read. `entered` is false, and every text
 * null, when the namespace could not be entered, `why` saying why.
 */
export function readInside(place: NetPlace, paths: readonly string[]): { entered: true; texts: (string | null)[] } | { entered: false; why: string } {
  const inside = paths.map(insidePath);
  const files: FileReading[] | undefined = getBinding().readFiles?.(inside, place.path);
  if (files?.length !== paths.length) return { entered: false, why: 'this binding cannot read files inside another network namespace' };
  // entering fails for all files alike, and no file's own failure looks like it
  const failed = files.length > 0 ? enteringFailed(files[0]!) : null;
  if (failed !== null) return { entered: false, why: failed };
  return { entered: true, texts: files.map((file) => (file.errno === 0 ? file.text : null)) };
}

/**
 * A reader of one file, as this process names its own (`/proc/net/X`), opened inside the namespace:
 * its text, or an error whose `code` is the errno of the failed open, read or setns.
 */
export function fileReaderInside(place: NetPlace): (path: string) => string {
  return (path) => {
    const [file] = getBinding().readFiles?.([insidePath(path)], place.path) ?? [];
    if (file === undefined) throw Object.assign(new Error(`${path}: this binding cannot read files inside another network namespace`), { code: 'ENOSYS' });
    if (file.errno === 0) return file.text;
    const code = errnoName(file.errno);
    throw Object.assign(new Error(`${path}: ${code} (${file.syscall ?? 'read'})`), { code });
  };
}
