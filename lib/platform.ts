// The one interface behind which each OS reads its tables, finds owners and judges a bind; chosen once, here.
import { PortclashError } from './errors.js';
import type { LinuxFacts } from './linux/facts.js';
import type { ProbingFacts } from './probing/index.js';
import type { Win32Facts } from './win32/facts.js';
import type { EphemeralReport } from './ephemeral.js';
import type { ForwardsOptions, ForwardsReport } from './forwards.js';
import type { OwnedSocket, OwnerOptions, ProcessInfo } from './owners.js';
import type { Prediction, ResolvedRequest } from './predict/types.js';
import type { EphemeralRange, PortRange } from './ranges.js';
import type { Family, Protocol, SocketRecord, SocketSource } from './records.js';

/** What to read: the filter of listSockets, already checked. */
export interface TableFilter {
  protocol?: Protocol;
  family?: Family;
  listening?: boolean;
  port?: number;
  /**
   * Only the sockets this process holds (a thread id names its process); each backend finds them
   * its own way (Linux: the process's fds; Windows: each row's pid) and fails with
   * ERR_NO_SUCH_PROCESS, or ERR_PROCESS_UNREADABLE where they cannot be read, never with an empty list.
   */
  pid?: number;
  /** With `pid`: its descendants' sockets too. A backend that cannot find descendants fails with ERR_UNSUPPORTED_PLATFORM. */
  children?: boolean;
}

/** Which interface to ask: `auto` lets the OS choose (on Linux: sock_diag, then /proc table by table). */
export type SourceChoice = 'auto' | SocketSource;

/** How reading one table from one source went. `error` is an errno name, or null. */
export interface SourceReport {
  source: SocketSource;
  protocol: Protocol;
  family: Family;
  /** The file read, for /proc. */
  path?: string;
  rows: number;
  /** Lines or messages that did not match the kernel's format and were skipped. */
  malformed: number;
  /**
   * sock_diag, TCP: the table came from dumps of both families at once (one walk of the kernel's
   * hashes); `malformed` counts those dumps', the same on the IPv4 and the IPv6 report.
   */
  bothFamilies?: boolean;
  /**
   * /proc only: rows dropped because the socket was already read. The kernel resumes each read of
   * a /proc/net table at a position, so a table that changes while it is read repeats sockets —
   * and may skip some, which no reader can see: a /proc listing under churn can miss a socket.
   * That is why sock_diag is asked first.
   */
  duplicates?: number;
  error: string | null;
  /**
   * TCP only: whether sockets that are bound but neither listening nor connected could be seen.
   * Only sock_diag shows them, from Linux 6.8 on, and only when the question is not "listening".
   */
  seesBoundSockets?: boolean;
}

export interface SocketTables {
  sockets: SocketRecord[];
  sources: SourceReport[];
}

/** The facts a bind depends on, one shape per OS; `kernel` tells them apart (`probing`: an OS without a backend). */
export type SystemFacts = LinuxFacts | Win32Facts | ProbingFacts;

/** A socket on the port: its record, plus owners and options when they were looked up. */
export type Existing = SocketRecord | OwnedSocket;

/** One kernel's bind() and listen() rules: pure functions of a request, the sockets on its port and the facts. */
export interface BindRules {
  /** What Node's listen() and dgram's bind() set on this OS when the caller does not say. */
  readonly defaults: { reuseAddr: Record<Protocol, boolean> };
  /** Refuses a request this OS cannot make (ERR_INVALID_ARGUMENT), before any table is read. */
  check(request: ResolvedRequest): void;
  /**
   * Whether a verdict from the listeners alone stands when they are in the way. On Linux a
   * listener no option can share with decides, and asking for listeners alone spares the kernel
   * its walk of every connection; Windows' tables are read whole either way.
   */
  readonly listenersFirst: boolean;
  /** Whether the verdict rests on the owners' accounts (Windows), so owners are looked up even when not to be named. */
  readonly needsOwners: boolean;
  /** The verdict, the rule that decided and the facts it could not see. */
  predict(request: ResolvedRequest, sockets: readonly Existing[], facts: SystemFacts): Prediction;
  /** Whether the verdict may turn on this socket's owner or options: only those are looked up. */
  mayMatter(request: ResolvedRequest, socket: SocketRecord): boolean;
  /** What is worth knowing about the port on this OS beyond the verdict (ephemeral, privileged). */
  warnings(request: ResolvedRequest, facts: SystemFacts): string[];
}

/** What differs per OS. Each backend (lib/<os>/index.ts) is one object of this shape. */
export interface Platform {
  /** The interfaces a caller may insist on with `source`. */
  readonly sources: readonly SocketSource[];
  /**
   * false for the probing backend (lib/probing), of an OS portclash has no table reader for: its
   * tables and owners fail with ERR_UNSUPPORTED_PLATFORM, and every bind prediction is a trial bind.
   */
  readonly readsTables: boolean;
  readTables(filter: TableFilter, choice: SourceChoice): Promise<SocketTables>;
  readTablesSync(filter: TableFilter, choice: SourceChoice): SocketTables;
  /**
   * How many sockets of `protocol` the namespace holds, by the kernel's counters, or null when not
   * known: a hint for the order of the table queries, never a verdict's ground. Absent where no such counter is read.
   */
  countSockets?(protocol: Protocol): number | null;
  findOwners(records: readonly SocketRecord[], options: OwnerOptions): Promise<OwnedSocket[]>;
  findOwnersSync(records: readonly SocketRecord[], options: OwnerOptions): OwnedSocket[];
  /** What the OS says about one process (as owners are described), or null when there is no such process (or it has exited, a zombie). */
  readProcess(pid: number): ProcessInfo | null;
  /**
   * The processes whose name (ProcessInfo.name: Linux's comm, Windows' image file name) is exactly
   * `name`, by pid. Windows looks only among the processes holding sockets, the only ones its
   * tables name.
   */
  findProcessesByName(name: string): Promise<ProcessInfo[]>;
  /** Read afresh on every call: a stale fact is a wrong answer. */
  readSystemFacts(): SystemFacts;
  readEphemeralRange(): EphemeralRange;
  readReservedPorts(): PortRange[];
  ephemeralReport(): Promise<EphemeralReport>;
  /** The NAT rules that forward ports (Linux: nf_tables); a backend that reads none fails with ERR_UNSUPPORTED_PLATFORM. */
  findForwards(options: ForwardsOptions): Promise<ForwardsReport>;
  readonly rules: BindRules;
  /** Where the C library reads the services database. */
  servicesPath(): string;
  /** The network namespace this backend reads the tables and facts of: null for this process's own. */
  readonly netns: string | null;
  /**
   * The same backend for another network namespace (a name of /run/netns or a namespace file);
   * absent on an OS without them. Resolving it checks the namespace exists (ERR_NO_SUCH_NETNS, ERR_NOT_A_NETNS).
   */
  inNetns?(netns: string): Platform;
}

// Each backend is loaded only where it runs: a library on Linux does not pay for Windows' modules.
const BACKENDS: Partial<Record<NodeJS.Platform, () => Promise<Platform>>> = {
  linux: async () => (await import('./linux/index.js')).linux,
  win32: async () => (await import('./win32/index.js')).win32,
};

/** The environment variable that forces the probing backend where a real one exists: for tests of it, on Linux. */
export const BACKEND_VARIABLE = 'PORTCLASH_BACKEND';

/** The backend for an OS: its own, or the probing one for an OS without (or when `forced` is `probing`). */
export async function choosePlatform(os: NodeJS.Platform, forced?: string): Promise<Platform> {
  if (forced !== undefined && forced !== '' && forced !== 'probing') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${BACKEND_VARIABLE} may only be 'probing' (or unset), got ${JSON.stringify(forced)}`);
  }
  const load = forced === 'probing' ? undefined : BACKENDS[os];
  return load === undefined ? (await import('./probing/index.js')).probing : load();
}

let chosen: Platform | PortclashError | undefined;
let loading: Promise<void> | undefined;

/**
 * Chooses and loads the backend of the OS this process runs on, once; later calls settle at once.
 * Each entry point awaits it before anything it exports can run (index.ts as it loads, the command
 * line in runCli, register's worker as it starts): a top-level await here would keep the command
 * line from being bundled as CommonJS, which starts faster (scripts/build-cli.mjs).
 * A backend that cannot be chosen is no failure to load: platform() throws its error at each use.
 */
export function loadPlatform(): Promise<void> {
  loading ??= choosePlatform(process.platform, process.env[BACKEND_VARIABLE]).then(
    (backend) => {
      chosen = backend;
    },
    (error: unknown) => {
      if (!(error instanceof PortclashError)) throw error;
      chosen = error;
    },
  );
  return loading;
}

/** The backend of the OS this process runs on. */
export function platform(): Platform {
  if (chosen === undefined) {
    throw new Error("portclash's backend is not loaded: import portclash, whose entry awaits loadPlatform()");
  }
  if (chosen instanceof PortclashError) throw chosen;
  return chosen;
}

/**
 * For what reads this process's network namespace only (waitForPort, findFreePort, freePort,
 * watchSockets): a `netns` among its options is refused, not answered about the wrong namespace.
 */
export function refuseNetns(options: object, what: string): void {
  if ((options as { netns?: unknown }).netns !== undefined) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `${what} reads this process's network namespace only: it takes no netns (yet)`);
  }
}

/** The backend for the network namespace a `netns` option names; this process's own when undefined. */
export function platformIn(netns: unknown): Platform {
  const os = platform();
  if (netns === undefined) return os;
  if (os.inNetns === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', `network namespaces are Linux's: there is none to read on ${process.platform}`);
  }
  if (typeof netns !== 'string') {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `netns must be a string (a name of /run/netns or a path such as /proc/<pid>/ns/net), got ${JSON.stringify(netns) ?? typeof netns}`,
    );
  }
  return os.inNetns(netns);
}
