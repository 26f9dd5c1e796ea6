// Which processes hold which sockets on Linux: the /proc/<pid>/fd scan, process facts, and why an owner is unknown.
import { readdirSync, readlinkSync } from 'node:fs';

import { getBinding, type NativeBinding, type OwnerQuery, type OwnerScanResult, type SocketOptionsReading } from '../binding.js';
import { processesOfCgroups } from './cgroupfs.js';
import { errnoName, fromAddon, fromAddonSync, PortclashError } from '../errors.js';
import type { OwnedSocket, OwnerOptions, OwnerUnknownReason, ProcessInfo, SocketOwner } from '../owners.js';
import type { SocketRecord } from '../records.js';
import { readProcessInfo } from './processes.js';
import { parseMountinfo, readText } from './procfs.js';
import { GetsockoptProgramCounter, whyOptionsStayUnread } from './sockopthooks.js';
import { readSocketTagFacts, type SocketTagFacts } from './sockettags.js';
import type { NetPlace } from './netns.js';
import { readTables, readTablesSync } from './tables.js';

/** On Linux every owner holds the socket through an fd of its own. */
type FdOwner = SocketOwner & { fd: number };

// Owners whose fd is tried in turn when the one before was closed since the scan.
const OWNERS_TO_TRY = 4;

// Up to this many fds of one socket, finding a duplicate by looking through them beats a set.
const FEW_FDS = 8;

const SCANNING = 'scanning /proc for socket owners';

// Beyond this many sockets, asking for every socket fd and matching here beats a sorted lookup.
const WANTED_LIMIT = 4096;

/** The processes holding each socket, found without blocking the event loop. */
export async function findOwners(records: readonly SocketRecord[], options: OwnerOptions = {}, place: NetPlace | null = null): Promise<OwnedSocket[]> {
  const binding = ownerBinding();
  const search = new OwnerSearch(binding, records, options);
  // sockets no file holds (TIME_WAIT) need no scan: the kernel alone keeps them
  if (search.nothingToScan()) return search.result([]);
  for (const query of search.queries()) search.add(await fromAddon(SCANNING, () => binding.findSocketOwners!(query)));
  const recheck = search.socketsToRecheck();
  const still =
    recheck.length === 0 ? [] : await Promise.all(recheck.map(async (filter) => (await readTables(binding, filter, 'auto', undefined, place)).sockets));
  return search.result(still.flat());
}

/** findOwners on the calling thread. */
export function findOwnersSync(records: readonly SocketRecord[], options: OwnerOptions = {}, place: NetPlace | null = null): OwnedSocket[] {
  const binding = ownerBinding();
  const search = new OwnerSearch(binding, records, options);
  if (search.nothingToScan()) return search.result([]);
  for (const query of search.queries()) search.add(fromAddonSync(SCANNING, () => binding.findSocketOwnersSync!(query)));
  return search.result(search.socketsToRecheck().flatMap((filter) => readTablesSync(binding, filter, 'auto', undefined, place).sockets));
}

function ownerBinding(): NativeBinding {
  const binding = getBinding();
  if (binding.findSocketOwners === undefined || binding.findSocketOwnersSync === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding cannot scan for socket owners');
  }
  return binding;
}

/** One search: what to scan for, what was found, and what the scan could not see. */
class OwnerSearch {
  private readonly wanted: number[];
  private readonly wantedSet: Set<number>;
  private readonly fdsByInode = new Map<number, { pid: number; fd: number }[]>();
  // (pid, fd) keys of an inode's fds once there are more than a few: one socket dup'ed a million times
  // must cost a million set lookups, not a million scans of the fds found so far (issue 10, item 2),
  // while the usual socket with one or two fds needs no set at all
  private readonly seenByInode = new Map<number, Set<number>>();
  private readonly deniedPids = new Set<number>();

  constructor(
    private readonly binding: NativeBinding,
    private readonly records: readonly SocketRecord[],
    private readonly options: OwnerOptions,
  ) {
    this.wantedSet = new Set(records.flatMap((record) => (record.kernelOnly ? [] : [record.inode])));
    this.wanted = [...this.wantedSet];
  }

  nothingToScan(): boolean {
    return this.wanted.length === 0;
  }

  /**
   * The scans to run, in order, each made when its turn comes from what the ones before found:
   * with `scan: 'first'`, the processes of the cgroups that created the sockets, which on a host
   * where each service has its cgroup are the likely holders; then every process, for the
   * sockets still without one; then the descendants of the holders found early.
   */
  *queries(): Generator<OwnerQuery> {
    const first = this.options.scan === 'first';
    // many sockets at once come from many cgroups: a guided scan would read most processes twice
    if (first && this.wanted.length <= WANTED_LIMIT) {
      const ids = new Set(this.records.flatMap((record) => (!record.kernelOnly && record.cgroupId !== undefined ? [record.cgroupId] : [])));
      const pids = processesOfCgroups(ids);
      if (pids.length > 0) yield { inodes: this.wanted, pids, stopWhenFound: true };
    }
    const missing = this.wanted.filter((inode) => !this.fdsByInode.has(inode));
    if (missing.length > 0) yield { inodes: missing.length > WANTED_LIMIT ? null : missing, pids: null, stopWhenFound: first };
    const family = first ? this.familyQuery() : null;
    if (family !== null) yield family;
  }

  add(scan: OwnerScanResult): void {
    if (scan.errno !== 0) {
      throw new PortclashError('ERR_PROC_UNREADABLE', `cannot read /proc to find socket owners: ${errnoName(scan.errno)}`, { path: '/proc' });
    }
    if (scan.cancelled === true) {
      // Node's own code for an operation stopped before it ended
      throw new PortclashError('ABORT_ERR', 'the owner scan was cancelled (the process or thread is exiting)');
    }
    // OwnerRow (native/sockets.h): pid u32, fd i32, inode low u32, inode high u32, machine order
    const u32 = new Uint32Array(scan.rows, 0, scan.count * 4);
    const i32 = new Int32Array(scan.rows, 0, scan.count * 4);
    for (let row = 0; row < scan.count; row++) {
      const base = row * 4;
      const pid = u32[base]!;
      const fd = i32[base + 1]!;
      const inode = u32[base + 3]! * 2 ** 32 + u32[base + 2]!;
      if (!this.wantedSet.has(inode)) continue;
      const fds = this.fdsByInode.get(inode);
      if (fds === undefined) {
        this.fdsByInode.set(inode, [{ pid, fd }]);
        continue;
      }
      // exact: pids are below 2^22 (PID_MAX_LIMIT) and fds below 2^31, so the key stays under 2^53
      const key = pid * 2 ** 31 + fd;
      let seen = this.seenByInode.get(inode);
      if (seen === undefined) {
        if (fds.length < FEW_FDS) {
          if (!fds.some((known) => known.pid === pid && known.fd === fd)) fds.push({ pid, fd });
          continue;
        }
        seen = new Set(fds.map((known) => known.pid * 2 ** 31 + known.fd));
        this.seenByInode.set(inode, seen);
      }
      if (seen.has(key)) continue;
      seen.add(key);
      fds.push({ pid, fd });
    }
    for (const pid of scan.deniedPids) this.deniedPids.add(pid);
  }

  /**
   * After a scan that stopped at the first holders, all of their descendants: prefork servers
   * (nginx, gunicorn, node cluster) share the listening socket with every worker.
   */
  private familyQuery(): OwnerQuery | null {
    const owners = new Set([...this.fdsByInode.values()].flat().map((found) => found.pid));
    const descendants = new Set([...owners].flatMap(descendantsOf).filter((pid) => !owners.has(pid)));
    return descendants.size === 0 ? null : { inodes: this.wanted, pids: [...descendants], stopWhenFound: false };
  }

  /** For sockets no process was found holding: filters that tell whether they still exist. */
  socketsToRecheck(): { protocol: SocketRecord['protocol']; port: number }[] {
    const keys = new Set<string>();
    const filters: { protocol: SocketRecord['protocol']; port: number }[] = [];
    for (const record of this.records) {
      if (record.kernelOnly || this.fdsByInode.has(record.inode)) continue;
      const key = `${record.protocol}/${record.localPort}`;
      if (keys.has(key)) continue;
      keys.add(key);
      filters.push({ protocol: record.protocol, port: record.localPort });
    }
    return filters;
  }

  result(stillThere: readonly SocketRecord[]): OwnedSocket[] {
    const present = new Set(stillThere.map((record) => record.inode));
    const facts = new Map<number, ProcessInfo | null>();
    const tags = this.options.socketOptions === true ? readSocketTagFacts() : null;
    // one count per cgroup for the whole search, made only for sockets that get that far
    const programs = new GetsockoptProgramCounter(this.binding);
    const clockTicksPerSecond = this.binding.clockTicksPerSecond ?? 100;
    const processInfo = (pid: number) => {
      if (!facts.has(pid)) facts.set(pid, readProcessInfo(pid, { clockTicksPerSecond }));
      return facts.get(pid) ?? null;
    };

    return this.records.map((record): OwnedSocket => {
      const owners: FdOwner[] = [];
      for (const { pid, fd } of this.fdsByInode.get(record.inode) ?? []) {
        const info = processInfo(pid);
        if (info !== null) owners.push(ownerOf(info, fd));
      }
      const owned = withOwners(record, owners);
      if (owners.length === 0) {
        owned.ownerUnknown = this.unknownReason(record, present);
      } else if (this.options.socketOptions === true) {
        this.readOptions(owned, owners, tags!, programs);
      }
      return owned;
    });
  }

  private unknownReason(record: SocketRecord, present: ReadonlySet<number>): OwnerUnknownReason {
    if (record.kernelOnly) return 'kernel';
    if (!present.has(record.inode)) return 'gone';
    if (this.deniedPids.size > 0 || procHidesProcesses()) return 'permission';
    if (!inInitialPidNamespace()) return 'other-namespace';
    return 'kernel';
  }

  /**
   * Reads the options through a duplicate of the owner's fd, unless the duplicate or the read
   * could change the socket, wait on it or be misled: then they stay unknown, and `optionsUnread`
   * says why.
   */
  private readOptions(owned: OwnedSocket, owners: readonly FdOwner[], tags: SocketTagFacts, programs: GetsockoptProgramCounter): void {
    const unread = whyOptionsStayUnread(owned, tags, programs);
    if (unread !== null) {
      owned.optionsUnread = unread;
      return;
    }
    // An owner that exited since the scan (ESRCH), or an fd it closed (EBADF) or reused for another
    // file (ESTALE, seen by the link check or by fstat), leaves the socket with its other holders:
    // a prefork server's workers. A few more owners are tried, not all of a thousand.
    let options: SocketOptionsReading | undefined;
    for (const owner of owners.slice(0, OWNERS_TO_TRY)) {
      options = this.binding.readSocketOptions?.(owner.pid, owner.fd, owned.inode);
      if (options === undefined || !ownerGone(options)) break;
    }
    if (options === undefined) return;
    if (options.errno !== 0) {
      owned.optionsUnread = whyNotRead(options.syscall, options.errno);
      return;
    }
    if (options.reuseAddr !== null) owned.reuseAddr = options.reuseAddr;
    if (options.reusePort !== null) owned.reusePort = options.reusePort;
    if (options.ipv6Only !== null && owned.family === 'IPv6') owned.ipv6Only = options.ipv6Only;
  }
}

/** Whether a read failed only because this owner no longer holds the socket through that fd. */
function ownerGone(options: SocketOptionsReading): boolean {
  const name = errnoName(options.errno);
  return (name === 'ESRCH' && options.syscall === 'pidfd_open') || (name === 'EBADF' && options.syscall === 'pidfd_getfd') || name === 'ESTALE';
}

/** Why readSocketOptions read nothing, from the call that failed. */
function whyNotRead(syscall: string | null, errno: number): string {
  const name = errnoName(errno);
  if (syscall === 'reader thread') {
    return "no thread of portclash's is free to read it on (each may be waiting out another socket's SO_LINGER, or none could be started), and closing the duplicate on this thread could wait out this one's";
  }
  if (syscall === 'close_range') {
    const why = name === 'ENOSYS' || name === 'EINVAL' ? 'Linux 5.9 or later has it' : 'a seccomp filter may refuse it';
    return `a thread with an fd table of its own, where the duplicate would stay out of sight, cannot be made here (close_range failed with ${name}: ${why})`;
  }
  if (name === 'ESTALE') return 'its owner closed that fd, or put another file there, since the scan';
  if (name === 'ESRCH') return 'its owner exited since the scan';
  const rights = name === 'EPERM' || name === 'EACCES' ? ': reading them needs ptrace rights over its owner' : '';
  return `${syscall ?? 'reading them'} failed with ${name}${rights}`;
}

/** A copy of the record with its owners; field by field, which is several times faster than a spread. */
function withOwners(record: SocketRecord, owners: SocketOwner[]): OwnedSocket {
  const owned: OwnedSocket = {
    protocol: record.protocol,
    family: record.family,
    localAddress: record.localAddress,
    localPort: record.localPort,
    remoteAddress: record.remoteAddress,
    remotePort: record.remotePort,
    state: record.state,
    uid: record.uid,
    inode: record.inode,
    kernelOnly: record.kernelOnly,
    source: record.source,
    owner: owners[0] ?? null,
    owners,
  };
  if (record.ipv6Only !== undefined) owned.ipv6Only = record.ipv6Only;
  if (record.boundDevice !== undefined) owned.boundDevice = record.boundDevice;
  if (record.boundDeviceIndex !== undefined) owned.boundDeviceIndex = record.boundDeviceIndex;
  if (record.cgroupId !== undefined) owned.cgroupId = record.cgroupId;
  if (record.classId !== undefined) owned.classId = record.classId;
  if (record.ownerPid !== undefined) owned.ownerPid = record.ownerPid;
  return owned;
}

/** One literal of one shape: a table of 100k owners is made fast, unlike with a spread. */
function ownerOf(info: ProcessInfo, fd: number): FdOwner {
  return {
    pid: info.pid,
    fd,
    ppid: info.ppid,
    name: info.name,
    cmdline: info.cmdline,
    command: info.command,
    uid: info.uid,
    user: info.user,
    startTime: info.startTime,
    service: info.service,
    ...(info.role === undefined ? {} : { role: info.role }),
  };
}

/** Every descendant of a process, from /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN). */
function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  // bounded: a pid appears once, and there are at most pid_max of them
  const seen = new Set<number>(queue);
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const child of childrenOf(parent)) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
      // no file: the thread ended
      return (readText(`/proc/${pid}/task/${tid}/children`) ?? '').split(' ').filter(Boolean).map(Number);
    });
  } catch {
    return []; // the process ended
  }
}

let hidesProcesses: boolean | undefined;

/** /proc mounted with hidepid= shows only the caller's own processes: the others are invisible, not denied. */
function procHidesProcesses(): boolean {
  if (hidesProcesses === undefined) {
    const proc = parseMountinfo(readText('/proc/self/mountinfo') ?? '').find((mount) => mount.mountpoint === '/proc');
    hidesProcesses = proc !== undefined && /hidepid=(?!0\b|off\b)/.test(proc.superOptions);
  }
  return hidesProcesses;
}

// The initial pid namespace has a fixed inode (PROC_PID_INIT_INO, include/linux/proc_ns.h).
const PROC_PID_INIT_INO = 0xeffffffc;

/** Outside the initial pid namespace, processes of the parent namespaces cannot be seen. */
function inInitialPidNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/pid') === `pid:[${PROC_PID_INIT_INO}]`;
  } catch {
    return false;
  }
}
