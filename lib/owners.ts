// Which processes hold which sockets, on every OS: the public search, and what it answers.
import { PortclashError } from './errors.js';
import { platformIn } from './platform.js';
import type { SocketRecord } from './records.js';

/** The processes holding each socket, found without blocking the event loop: one answer per record, in order. */
export async function findOwners(records: readonly SocketRecord[], options: OwnerOptions = {}): Promise<OwnedSocket[]> {
  checkOwnerArguments(records, options);
  return platformIn(options.netns).findOwners(records, options);
}

/** findOwners on the calling thread. */
export function findOwnersSync(records: readonly SocketRecord[], options: OwnerOptions = {}): OwnedSocket[] {
  checkOwnerArguments(records, options);
  return platformIn(options.netns).findOwnersSync(records, options);
}

/** The records must be listSockets' (an inode and a protocol each), the options findOwners' own: ERR_INVALID_ARGUMENT otherwise. */
function checkOwnerArguments(records: unknown, options: unknown): void {
  if (!Array.isArray(records)) throw new PortclashError('ERR_INVALID_ARGUMENT', 'findOwners takes an array of socket records, as listSockets returns');
  for (const record of records as unknown[]) {
    const { inode, protocol } = (record ?? {}) as Partial<SocketRecord>;
    if (typeof record !== 'object' || record === null || typeof inode !== 'number' || (protocol !== 'tcp' && protocol !== 'udp')) {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `each record must be a socket record from listSockets, got ${JSON.stringify(record) ?? typeof record}`);
    }
  }
  if (typeof options !== 'object' || options === null) throw new PortclashError('ERR_INVALID_ARGUMENT', "the options must be an object like { scan: 'all' }");
  const { scan, socketOptions } = options as OwnerOptions;
  if (scan !== undefined && scan !== 'all' && scan !== 'first')
    throw new PortclashError('ERR_INVALID_ARGUMENT', `scan must be 'all' or 'first', got ${JSON.stringify(scan)}`);
  if (socketOptions !== undefined && typeof socketOptions !== 'boolean') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `socketOptions must be a boolean, got ${JSON.stringify(socketOptions)}`);
  }
}

/**
 * Why no owner could be named: `kernel` — no process holds the socket through a file (TIME_WAIT,
 * a half-open connection, a socket the kernel itself made); `permission` — some processes'
 * fds (Linux) or the process itself (Windows) could not be read; `other-namespace` — the holder
 * may live in a pid namespace this one cannot see; `gone` — the socket closed between listing and
 * scanning, or its process exited; `unreported` — the kernel's table names no owning process for
 * it (Windows under wine leaves TCP rows without one).
 */
export type OwnerUnknownReason = 'permission' | 'other-namespace' | 'gone' | 'kernel' | 'unreported';

/** A process holding a socket, and the fd through which it does. */
export interface SocketOwner extends ProcessInfo {
  /** null where the OS does not say which handle (Windows' tables name the process only). */
  fd: number | null;
}

export interface OwnedSocket extends SocketRecord {
  /** The first of `owners`, or null. */
  owner: SocketOwner | null;
  /** Every process found holding the socket: after fork() or SCM_RIGHTS there are several. */
  owners: SocketOwner[];
  /** Present exactly when `owners` is empty. */
  ownerUnknown?: OwnerUnknownReason;
  /** SO_REUSEADDR and SO_REUSEPORT, read through pidfd_getfd when asked for and permitted. */
  reuseAddr?: boolean;
  reusePort?: boolean;
  /**
   * Why the options were asked for but not read: on Linux, the duplicate would re-tag the socket
   * (see linux/sockettags.ts), getsockopt() would run cgroup-BPF programs of the socket's cgroup
   * or they cannot be counted (linux/sockopthooks.ts), or pidfd_getfd was refused.
   */
  optionsUnread?: string;
}

export interface OwnerOptions {
  /**
   * `all` (the default) reads every fd of every process. `first` reads the processes of the
   * sockets' own cgroups first (sock_diag names the cgroup that created each), then every process
   * a little at a time, low fds first, and stops once every socket has an owner; then it reads
   * all of those owners' descendants, which is where prefork servers share their sockets. A
   * socket that another, unrelated process holds at a high fd may then be missed.
   */
  scan?: 'all' | 'first';
  /** Also read SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY of each owned socket (needs ptrace rights). */
  socketOptions?: boolean;
  /**
   * The network namespace the records were listed in (listSockets' `netns`). Owners are found in
   * every process alike; the namespace's tables tell a socket that closed meanwhile (`gone`).
   */
  netns?: string;
}

export interface ProcessInfo {
  pid: number;
  /** The parent's pid: 0 for what the kernel starts itself (init, kthreadd); null when unreadable, and on Windows (not read yet). */
  ppid: number | null;
  /**
   * Linux: the kernel's short name (comm): at most 15 bytes, set from the program file or by
   * prctl(PR_SET_NAME). Windows: the image file's name (`node.exe`); `System` for pid 4.
   */
  name: string | null;
  /** argv as the process now has it; [] for kernel threads, zombies, when it cannot be read, and on Windows. */
  cmdline: string[];
  /**
   * argv joined with spaces, or `[name]` when there is no argv, as ps shows them; on Windows the
   * image's full path. '' when neither is known.
   */
  command: string;
  /** The effective uid: the one the kernel checks, and so the one that owns the sockets it opens. null on Windows. */
  uid: number | null;
  /** The uid's name in /etc/passwd; on Windows the account of the process's token, `DOMAIN\name`. */
  user: string | null;
  startTime: Date | null;
  service: ServiceInfo | null;
  /** What this process is known to do with ports: http.sys for Windows' System, WSL's port forwarders. */
  role?: string;
}

/** What operators call "the service" of a process: its systemd unit and container, or its Windows services. */
export interface ServiceInfo {
  /**
   * Linux: the process's cgroup path: the cgroup v2 one, else the v1 `name=systemd` one, else the
   * first v1 one; but the line that names a container when only another line does (see
   * linux/cgroups.ts parseCgroupFile). Absent on Windows.
   */
  cgroup?: string;
  /**
   * Linux: the innermost systemd unit the path names (`nginx.service`, `session-3.scope`).
   * Windows: the service the process hosts, the first by name where it hosts several. Absent when none.
   */
  unit?: string;
  /** Windows: every service the process hosts, by name (one svchost.exe hosts several). */
  windowsServices?: string[];
  /** The container the path names; absent when it names none. */
  container?: ContainerInfo;
}

export type ContainerRuntime = 'docker' | 'containerd' | 'cri-o' | 'podman' | 'lxc' | 'kubernetes';

export interface ContainerInfo {
  /** `kubernetes` when the path names a pod but not which runtime runs its containers. */
  runtime: ContainerRuntime;
  /** The 64-hex container id; for LXC the container's name. Absent for a pod's cgroup or a runtime's monitor. */
  id?: string;
  /** The Kubernetes pod uid, with dashes as `kubectl get pod -o yaml` shows it. */
  podUid?: string;
}
