// listSockets: the public way to read the kernel's socket tables, with its filter checked here.
import { PortclashError } from './errors.js';
import { platformIn, type Platform, type SocketTables, type SourceChoice, type TableFilter } from './platform.js';
import type { Family, Protocol, SocketRecord } from './records.js';
import { parsePortOrService } from './services.js';

export interface SocketFilter {
  protocol?: Protocol;
  family?: Family;
  /** Only sockets that accept new peers: TCP in LISTEN, UDP not connected. */
  listening?: boolean;
  /** Only sockets whose local port is this one (a number, or a service name like 'ssh'). */
  port?: number | string;
  /**
   * Only the sockets this process holds (a thread id stands for its process: threads share their
   * fds). A pid with no process is ERR_NO_SUCH_PROCESS, a process whose open files cannot be read
   * (another user's, without root) ERR_PROCESS_UNREADABLE: never an empty list in their place.
   */
  pid?: number;
  /** With `pid`: the sockets of its descendants too (children, their children…). Linux only, for now. */
  children?: boolean;
}

export interface ListOptions {
  /**
   * Which kernel interface answers. `auto` (the default) lets the OS choose: on Linux it asks
   * sock_diag and falls back to /proc/net table by table where sock_diag is unavailable (module
   * missing, seccomp, EPERM). The others insist on one, for diagnosis and tests.
   */
  source?: SourceChoice;
  /**
   * Another network namespace's sockets (Linux): a name of /run/netns (`ip netns add`), or a
   * namespace file such as /proc/<pid>/ns/net (a container's process). Read through sock_diag
   * inside it; where it cannot be entered (without CAP_SYS_ADMIN), through /proc/<pid>/net of a
   * process in it. Owners are found as anywhere: socket inodes are the machine's.
   */
  netns?: string;
}

/** The sockets of this process's network namespace (or of `options.netns`), read off the main thread. */
export async function listSockets(filter: SocketFilter = {}, options: ListOptions = {}): Promise<SocketRecord[]> {
  return (await readSocketTables(filter, options)).sockets;
}

/** listSockets for scripts: the same answer, read on the calling thread. */
export function listSocketsSync(filter: SocketFilter = {}, options: ListOptions = {}): SocketRecord[] {
  return readSocketTablesSync(filter, options).sockets;
}

/** listSockets with a report per table and source: rows, malformed input skipped, errors. */
export async function readSocketTables(filter: SocketFilter = {}, options: ListOptions = {}): Promise<SocketTables> {
  const os = checkOptions(options);
  return os.readTables(checkFilter(filter), checkSource(os, options));
}

export function readSocketTablesSync(filter: SocketFilter = {}, options: ListOptions = {}): SocketTables {
  const os = checkOptions(options);
  return os.readTablesSync(checkFilter(filter), checkSource(os, options));
}

/** The backend the options name: the namespace's (platformIn). */
function checkOptions(options: ListOptions): Platform {
  if (typeof options !== 'object' || options === null)
    throw new PortclashError('ERR_INVALID_ARGUMENT', "the options must be an object like { source: 'auto' }");
  return platformIn(options.netns);
}

function checkFilter(filter: SocketFilter): TableFilter {
  if (typeof filter !== 'object' || filter === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the filter must be an object');
  }
  const { protocol, family, listening, port, pid, children } = filter;
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  if (family !== undefined && family !== 'IPv4' && family !== 'IPv6') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `family must be 'IPv4' or 'IPv6', got ${JSON.stringify(family)}`);
  }
  if (listening !== undefined && typeof listening !== 'boolean') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `listening must be a boolean, got ${JSON.stringify(listening)}`);
  }
  if (pid !== undefined && (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0)) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `pid must be a positive integer, got ${JSON.stringify(pid) ?? String(pid)}`);
  }
  if (children !== undefined && typeof children !== 'boolean') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `children must be a boolean, got ${JSON.stringify(children)}`);
  }
  if (children === true && pid === undefined) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'children: true needs a pid whose children to include');
  }
  const checked: TableFilter = {
    ...(protocol === undefined ? {} : { protocol }),
    ...(family === undefined ? {} : { family }),
    ...(listening === undefined ? {} : { listening }),
    ...(pid === undefined ? {} : { pid }),
    ...(children === true ? { children } : {}),
  };
  if (port !== undefined) checked.port = parsePortOrService(port, protocol).port;
  return checked;
}

function checkSource(os: Platform, options: ListOptions): SourceChoice {
  const source = options.source ?? 'auto';
  const { sources } = os;
  if (source !== 'auto' && !sources.includes(source)) {
    const choices = ['auto', ...sources].map((choice) => `'${choice}'`);
    throw new PortclashError('ERR_INVALID_ARGUMENT', `source must be ${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}, got ${JSON.stringify(source)}`);
  }
  return source;
}
