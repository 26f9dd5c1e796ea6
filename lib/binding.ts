// The only place that loads the native addon (node-gyp-build), and the seam to replace it.
import { isAbsolute } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

import nodeGypBuild from 'node-gyp-build';

import { PortclashError } from './errors.js';
import { ROW_LAYOUT_VERSION, ROW_SIZE } from './rows.js';

/** One socket table file for the addon to read: its path, IP protocol number and family. */
export interface ProcNetSource {
  path: string;
  protocol: 6 | 17;
  family: 4 | 6;
}

/**
 * One NETLINK_SOCK_DIAG dump: protocol, family, the kernel states wanted as a bit mask
 * (1 << state), and a local port for the kernel to filter on (-1 for any).
 */
export interface SockDiagQuery {
  protocol: 6 | 17;
  /** 0: both families in one dump (TCP only), through the kernel's older request, TCPDIAG_GETSOCK. */
  family: 0 | 4 | 6;
  states: number;
  port: number;
}

/** What parsing one datagram of a sock_diag reply gave (`parseSockDiagReply`). */
export interface SockDiagReply {
  rows: ArrayBuffer;
  count: number;
  status: 'more' | 'done' | 'error';
  errno: number;
  malformed: number;
}

/**
 * Which sockets to look for in /proc/<pid>/fd (null: every socket) and in which processes (null: all).
 * An empty list asks for none.
 */
export interface OwnerQuery {
  inodes: readonly number[] | null;
  pids: readonly number[] | null;
  /** End the scan after the process in which the last wanted inode was first found. */
  stopWhenFound: boolean;
}

/** Socket fds found: 16 bytes each (pid u32, fd i32, inode low u32, inode high u32). */
export interface OwnerScanResult {
  rows: ArrayBuffer;
  count: number;
  /** Processes whose fds could not be read (EACCES, EPERM), so their sockets' owners stay unknown. */
  deniedPids: number[];
  /**
   * Processes that exited before or while their fds were read (ENOENT, ESRCH): their sockets closed
   * with them. Absent from bindings that only count them.
   */
  vanishedPids?: number[];
  processes: number;
  vanished: number;
  /** How many fd links were read (readlink): what the scan cost, for tests and benchmarks. Absent from bindings that do not count them. */
  links?: number;
  /** An errno when /proc itself could not be read, else 0. */
  errno: number;
  /** cancelInFlight() or the environment's teardown stopped the scan: the rows are incomplete. */
  cancelled?: boolean;
}

/** SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY of another process's socket; null when not read. */
export interface SocketOptionsReading {
  errno: number;
  syscall: string | null;
  reuseAddr: boolean | null;
  reusePort: boolean | null;
  ipv6Only: boolean | null;
}

/**
 * The cgroup-BPF programs that run on socket(), bind() and post-bind of inet sockets for a
 * process of one cgroup, its ancestors' included; null where not counted, `errno` says why.
 */
export interface CgroupHookCounts {
  errno: number;
  syscall: string | null;
  sockCreate: number | null;
  inet4Bind: number | null;
  inet6Bind: number | null;
  inet4PostBind: number | null;
  inet6PostBind: number | null;
}

/** How many cgroup-BPF programs of one kind run; `count` null where not counted, `errno` says why. */
export interface ProgramCountReading {
  errno: number;
  syscall: string | null;
  count: number | null;
}

/** What reading one source or query gave. `errno` is 0 when the read succeeded. */
export interface SourceReading {
  rows: number;
  malformed: number;
  /** Rows dropped as repeats of a socket already read (a torn /proc read); absent: none counted. */
  duplicates?: number;
  errno: number;
  syscall: string | null;
}

/**
 * Receives rows packed back to back (layout in rows.ts), a batch at a time. Rows of one source
 * come in the order read, but batches of different sources may interleave (the IPv4 and IPv6
 * dumps run side by side): tell rows apart by their protocol and family, never by arrival.
 */
export type RowsCallback = (rows: ArrayBuffer, count: number) => void;

/** What an async reading settles with: a report per source or query. */
export interface AsyncReading {
  sources: SourceReading[];
  /** The most batches that waited for onRows at once; the reader pauses at debugTableQueue().limit. */
  maxQueuedBatches?: number;
}

/** Rows of all sources or queries in one buffer, and one report for each. */
export interface ProcNetReading {
  rows: ArrayBuffer;
  count: number;
  sources: SourceReading[];
}

/** One IP Helper table for the Windows addon to read: TCP or UDP, of IPv4 or IPv6. */
export interface IpHelperQuery {
  protocol: 6 | 17;
  family: 4 | 6;
}

/**
 * What the Windows addon could read of one process, each fact on its own: a fact is null where its
 * error, a Win32 error code, is not 0 (5 ERROR_ACCESS_DENIED for a protected or another user's
 * process, 87 ERROR_INVALID_PARAMETER for a pid with no process, and for pid 0). When OpenProcess
 * fails, all three facts carry its error.
 */
export interface WindowsProcessFacts {
  pid: number;
  /** QueryFullProcessImageNameW: `C:\Program Files\nodejs\node.exe`. */
  image: string | null;
  imageError: number;
  /** The token's user as `DOMAIN\name` (`NT AUTHORITY\SYSTEM`); a name alone for SIDs without a domain. */
  user: string | null;
  userError: number;
  /** GetProcessTimes' creation time, in ms since the Unix epoch, with the FILETIME's 100 ns as a fraction. */
  startTime: number | null;
  startError: number;
  /** th32ParentProcessID of a Toolhelp snapshot: the creating process, which may have exited (and its pid been reused) since. */
  parentPid: number | null;
  parentError: number;
}

/** identifyNetns's answer: `errno` of the call `syscall` names (open, fstat, ioctl NS_GET_NSTYPE), 0 when told. */
export interface NetnsIdentity {
  errno: number;
  syscall: string | null;
  inode: number;
  device: number;
  network: boolean;
}

/** One file of readFiles: its text, or `errno` of the call `syscall` names (open, read, setns). */
export interface FileReading {
  errno: number;
  syscall: string | null;
  text: string;
}

/** A running Win32 service and the process it runs in. */
export interface WindowsService {
  name: string;
  displayName: string;
  pid: number;
}

/** EnumServicesStatusExW's answer: `errno` a Win32 error (0 = listed) of the call `syscall` names. */
export interface WindowsServiceList {
  errno: number;
  syscall: string | null;
  services: WindowsService[];
}

/**
 * One value of a registry key: its name, its registry type (1 REG_SZ, 4 REG_DWORD, ...), and for a
 * REG_SZ its text with the terminating NULs left off (null for other types, and when `error` is
 * not 0). `error` is the value's own Win32 error: 234 ERROR_MORE_DATA for data past 64 KiB, 13
 * ERROR_INVALID_DATA for a REG_SZ of an odd number of bytes.
 */
export interface RegistryValue {
  name: string;
  type: number;
  data: string | null;
  error: number;
}

/**
 * One key of readRegistryValues: `errno` the Win32 error (0 = read; 2 ERROR_FILE_NOT_FOUND when the
 * key does not exist) of the call `syscall` names (RegOpenKeyExW, RegQueryInfoKeyW, RegEnumValueW);
 * `changing` when the key was written to during each of three readings (then `values` is empty).
 */
export interface RegistryKeyReading {
  errno: number;
  syscall: string | null;
  changing: boolean;
  values: RegistryValue[];
}

/**
 * One nf_tables request for readNftables: an NFT_MSG_* type, an nfgen family (NFPROTO_*, 0 for all),
 * whether it is a dump, and the netlink attributes that follow its nfgenmsg.
 */
export interface NftablesRequest {
  type: number;
  family: number;
  dump: boolean;
  attributes?: Uint8Array;
}

/** A request's reply: its netlink messages, headers included, back to back; empty with `errno` set when it failed. */
export interface NftablesReply {
  errno: number;
  syscall: string | null;
  messages: ArrayBuffer;
}

/** What the addon provides. A replacement (tests, recorded rows) implements the same. */
export interface NativeBinding {
  rowLayoutVersion: number;
  rowSize: number;
  /**
   * Linux: reads /proc/net tables on a worker thread and calls `onRows` on the main thread with
   * each batch as it is parsed; settles after the last batch.
   */
  readProcNet?(sources: readonly ProcNetSource[], onRows: RowsCallback, netns?: string): Promise<AsyncReading>;
  readProcNetSync?(sources: readonly ProcNetSource[], netns?: string): ProcNetReading;
  /**
   * The same for sock_diag dumps. A binding without them (an old build, a recorded replay)
   * answers from /proc alone.
   */
  readSockDiag?(queries: readonly SockDiagQuery[], onRows: RowsCallback, netns?: string): Promise<AsyncReading>;
  readSockDiagSync?(queries: readonly SockDiagQuery[], netns?: string): ProcNetReading;
  /** Parses one datagram of a dump reply with the reader's own parser (tests, captures). */
  parseSockDiagReply?(bytes: Uint8Array, protocol: number, sequence: number): SockDiagReply;
  /**
   * Test seam: reads with tiny batches through a sink that throws at batch `throwAfterBatches`;
   * `receiveBytes[i]` gives sock_diag query i a receive buffer that small (EMSGSIZE mid-dump).
   */
  debugReadTables?(
    kind: 'proc' | 'sock_diag',
    list: readonly (ProcNetSource | SockDiagQuery)[],
    options: { batchRows?: number; throwAfterBatches?: number; receiveBytes?: readonly number[] },
  ): ProcNetReading;
  /** Test seam: the progress queue of the latest async reading, and its bound. */
  debugTableQueue?(): { queued: number; waiting: boolean; limit: number };
  /** Index and name of each network interface of this namespace, or of the one at `netns` ([] when it cannot be entered). */
  listInterfaces?(netns?: string): { index: number; name: string }[];
  /** The /proc/<pid>/fd scan, on a worker thread or on the calling one. */
  findSocketOwners?(query: OwnerQuery): Promise<OwnerScanResult>;
  findSocketOwnersSync?(query: OwnerQuery): OwnerScanResult;
  /**
   * Stops every owner scan and table reading in flight of this thread's environment, or of every
   * thread's with `everywhere`; returns how many. Called on process 'exit', which otherwise waits
   * for them (see cancelInFlightOnExit).
   */
  cancelInFlight?(everywhere?: boolean): number;
  /** How many owner scans and table readings are in flight, in every thread's environment. */
  countInFlight?(): number;
  /** Test seam: the owner scan, sync or on a worker thread, throwing when it reaches `throwAtPid`. */
  debugFindSocketOwners?(query: OwnerQuery, throwAtPid: number, sync: boolean): OwnerScanResult | Promise<OwnerScanResult>;
  /**
   * Reads options through a pidfd_getfd duplicate, checked to be still `inode`, made, read and
   * closed on a thread of the addon's own with an fd table of its own: the duplicate never shows in
   * this process's /proc/<pid>/fd, and its close, which may be the socket's last and wait out its
   * SO_LINGER, never runs on the caller's thread.
   */
  readSocketOptions?(pid: number, fd: number, inode: number): SocketOptionsReading;
  /** Test seam: after each pidfd_getfd, write a byte to `fd` and await one (-1: off). */
  debugPauseAfterGetfd?(fd: number): void;
  /**
   * Test seam: once, when the owner scan reaches `pid` (0: off), write a byte to `fd` ('o' before it
   * opens /proc/<pid>/fd, 'b' after the first batch of entries read there) and await one (10 s at most).
   */
  debugPauseScan?(fd: number, pid: number, where: 'open' | 'batch'): void;
  /** How this process relates to the user namespace owning its network namespace, or the one at `netns`. */
  netnsOwnerRelation?(netns?: string): 'same' | 'owner' | 'none' | 'unknown';
  /** What the nsfs file at `path` is: inode and device (which tell namespaces apart), and whether it is a network namespace. */
  identifyNetns?(path: string): NetnsIdentity;
  /**
   * Small files read whole, each with its errno; inside the network namespace at `netns` when
   * given, where /proc/thread-self/net and /proc/sys/net are that namespace's. When it cannot be
   * entered every file fails as entering did (syscall `setns`, EPERM without CAP_SYS_ADMIN).
   */
  readFiles?(paths: readonly string[], netns?: string): FileReading[];
  /** BPF_PROG_QUERY on a cgroup v2 directory (needs CAP_NET_ADMIN). */
  cgroupHooks?(cgroupPath: string): CgroupHookCounts;
  /** cgroup.procs of the cgroup v2 with this id, opened by file handle (needs CAP_DAC_READ_SEARCH). */
  readCgroupProcs?(mountpoint: string, cgroupId: number): { errno: number; syscall: string | null; text: string };
  /**
   * The cgroup-BPF getsockopt programs that run for sockets of the cgroup v2 with this id, its
   * ancestors' included; opened by file handle (needs CAP_DAC_READ_SEARCH), counted with
   * BPF_PROG_QUERY (needs CAP_NET_ADMIN).
   */
  cgroupGetsockoptHooks?(mountpoint: string, cgroupId: number): ProgramCountReading;
  /** The same for the cgroup v2 directory at this path, for a caller who cannot open by handle. */
  cgroupGetsockoptHooksAt?(cgroupPath: string): ProgramCountReading;
  /**
   * Linux: sends each nf_tables request on a NETLINK_NETFILTER socket and returns each reply's raw
   * messages (NLMSG_DONE and the ACK left out), read on a libuv pool thread; lib/linux/nftables
   * decodes them. On process exit (cancelInFlight) the waits end, the requests left with ECANCELED.
   */
  readNftables?(requests: readonly NftablesRequest[], netns?: string): Promise<NftablesReply[]>;
  /**
   * The same on the calling thread (a binding may give only this one: recorded replies in tests).
   * Both read inside the network namespace at `netns` when given; when it cannot be entered every
   * reply fails as entering did (syscall `setns`).
   */
  readNftablesSync?(requests: readonly NftablesRequest[], netns?: string): NftablesReply[];
  /** sysconf(_SC_CLK_TCK), the unit of process start times in /proc/<pid>/stat. */
  clockTicksPerSecond?: number;
  /**
   * Windows: GetExtendedTcpTable (TCP_TABLE_OWNER_PID_ALL) and GetExtendedUdpTable
   * (UDP_TABLE_OWNER_PID), one source per query, in order. Rows carry the owner pid, the raw
   * MIB_TCP_STATE (UDP rows 0), uid and inode 0, and for IPv6 the scope id in the interface index.
   * A source's `errno` is a Win32 error code (122 ERROR_INSUFFICIENT_BUFFER when the table kept
   * outgrowing the buffer 8 times), `syscall` the function's name. Batches come from a worker thread.
   */
  readIpHelper?(queries: readonly IpHelperQuery[], onRows: RowsCallback): Promise<AsyncReading>;
  readIpHelperSync?(queries: readonly IpHelperQuery[]): ProcNetReading;
  /** Windows: image path, user and start time of each pid, in the order given. */
  processInfo?(pids: readonly number[]): WindowsProcessFacts[];
  /** Windows: the active Win32 services that have a process (EnumServicesStatusExW). */
  listServices?(): WindowsServiceList;
  /**
   * Windows: the values of each key, a path under HKEY_LOCAL_MACHINE (`SYSTEM\CurrentControlSet\...`),
   * opened with KEY_READ in the 64-bit view; one reading per path, in order. lib/win32/forwards.ts
   * gives them meaning.
   */
  readRegistryValues?(paths: readonly string[]): RegistryKeyReading[];
  /**
   * Windows test seam: the tables' retry loop over a table that outgrows its buffer `growths`
   * times; `errno` 0 once it fitted, else 122 after `calls` (8) tries.
   */
  debugTableRetries?(growths: number): { errno: number; calls: number };
}

const packageRoot = fileURLToPath(new URL('..', import.meta.url));

let current: NativeBinding | null = null;

/** The addon in use, loaded on first call. */
export function getBinding(): NativeBinding {
  current ??= loadAddon();
  return current;
}

const exitHooked = new WeakSet<NativeBinding>();

/**
 * process.exit() waits for libuv's pool threads, and so for an owner scan in flight there, or a
 * table reading waiting for JS to take its batches, which JS will never do again: on 'exit', the
 * addon tells them to stop — on the main thread, every thread's, since the worker threads end next
 * and each waits for its pool work. A worker's terminate() from another thread runs no 'exit' in
 * it: it waits for the scan or reading in flight, each bounded (a scan of every fd, one dump).
 */
function cancelInFlightOnExit(binding: NativeBinding): void {
  if (binding.cancelInFlight === undefined || exitHooked.has(binding)) return;
  exitHooked.add(binding);
  // isMainThread only when there is work to stop: node:worker_threads costs a command's exit ms
  process.once('exit', () => {
    if ((binding.countInFlight?.() ?? 1) > 0) binding.cancelInFlight?.(isMainThread);
  });
}

/**
 * Replaces the addon: with an object (tests feeding recorded rows), with the path of a `.node`
 * file (an odd install), or with `null` to go back to the one shipped with the package.
 */
export function setBinding(binding: NativeBinding | string | null): void {
  if (binding === null) {
    current = null;
  } else if (typeof binding === 'string') {
    current = checkLayout(
      requireAddon(() => openAddon(binding)),
      binding,
    );
  } else {
    current = checkLayout(binding, 'the binding passed to setBinding()');
  }
}

/**
 * The environment variable naming another build of the addon to load (`npm run test:asan` points it
 * at the sanitizer build, so the tests and the processes they start all run that one).
 */
export const ADDON_VARIABLE = 'PORTCLASH_ADDON';

/** The addon PORTCLASH_ADDON names, or null when unset; only the absolute path of a `.node` file is taken. */
function addonFromEnvironment(): string | null {
  const path = process.env[ADDON_VARIABLE];
  if (path === undefined || path === '') return null;
  if (!isAbsolute(path) || !path.endsWith('.node')) {
    throw new PortclashError(
      'ERR_ADDON_LOAD',
      `${ADDON_VARIABLE} must be the absolute path of a .node file, got ${JSON.stringify(path)}. Fix: unset it, or give such a path.`,
    );
  }
  return path;
}

/** Where the addon is loaded from: PORTCLASH_ADDON when set, else node-gyp-build's choice, build/Release when built here, else prebuilds/. */
export function resolveAddonPath(): string {
  const chosen = addonFromEnvironment();
  if (chosen !== null) return chosen;
  return nodeGypBuild.resolve(packageRoot);
}

function loadAddon(): NativeBinding {
  const chosen = addonFromEnvironment();
  if (chosen !== null)
    return checkLayout(
      requireAddon(() => openAddon(chosen)),
      chosen,
    );
  // node-gyp-build's own load() is require(resolve(dir)): resolved once here, for the message too
  let path = '';
  const addon = requireAddon(() => openAddon((path = resolveAddonPath())));
  return checkLayout(addon, path);
}

/**
 * The addon's exports, through process.dlopen(), what require() ends in for a `.node` file: the
 * module resolution before it (a realpath of every directory, the module cache) cost 0.8 ms of each
 * command's start-up, for a path that is absolute and loaded once per thread (`current`).
 */
function openAddon(path: string): unknown {
  const module = { exports: {} };
  process.dlopen(module, path);
  return module.exports;
}

function requireAddon(load: () => unknown): NativeBinding {
  try {
    const addon = load() as NativeBinding;
    cancelInFlightOnExit(addon);
    return addon;
  } catch (error) {
    const target = `${process.platform}-${process.arch}, Node-API ${process.versions.napi}, Node ${process.version}`;
    throw new PortclashError(
      'ERR_ADDON_LOAD',
      `portclash could not load its native addon for ${target}: ${(error as Error).message.split('\n')[0]}. ` +
        'No prebuilt binary fits and none was built here. Fix: `npm rebuild portclash --build-from-source` ' +
        '(needs python3, make and a C++ compiler); in a clone of portclash, `npm run build:native`.',
      { cause: error },
    );
  }
}

function checkLayout(binding: NativeBinding, origin: string): NativeBinding {
  if (binding.rowLayoutVersion !== ROW_LAYOUT_VERSION || binding.rowSize !== ROW_SIZE) {
    throw new PortclashError(
      'ERR_ADDON_LOAD',
      `${origin} packs rows in layout ${binding.rowLayoutVersion}/${binding.rowSize} bytes, ` +
        `but this portclash reads layout ${ROW_LAYOUT_VERSION}/${ROW_SIZE}: the addon was built from other sources. ` +
        'Fix: `npm rebuild portclash --build-from-source`; in a clone of portclash, `npm run build:native`.',
    );
  }
  return binding;
}
