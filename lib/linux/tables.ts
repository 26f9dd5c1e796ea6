// Reads Linux's socket tables: sock_diag first, /proc/net for any table it cannot answer.
import type { NativeBinding, ProcNetSource, RowsCallback, SockDiagQuery, SourceReading } from '../binding.js';
import { errnoName, fromAddon, fromAddonSync, PortclashError } from '../errors.js';
import type { SocketTables, SourceChoice, SourceReport, TableFilter } from '../platform.js';
import { familyName, protocolName, RecordMaker, type Family, type Protocol, type SocketRecord } from '../records.js';
import { IPPROTO_TCP, IPPROTO_UDP, RowTable } from '../rows.js';
import { kernelShowsBoundSockets } from './kernel.js';
import { enteringFailed, insidePath, isInside, processInside, unreadableError, type NetPlace } from './netns.js';
import { LINUX_ROWS, TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN } from './states.js';

interface Table {
  protocol: 6 | 17;
  family: 4 | 6;
  path: string;
}

const TABLES: readonly Table[] = [
  { protocol: IPPROTO_TCP, family: 4, path: '/proc/net/tcp' },
  { protocol: IPPROTO_TCP, family: 6, path: '/proc/net/tcp6' },
  { protocol: IPPROTO_UDP, family: 4, path: '/proc/net/udp' },
  { protocol: IPPROTO_UDP, family: 6, path: '/proc/net/udp6' },
];

// State masks for inet_diag requests (1 << state). Asking the narrowest question is what makes
// one-port queries fast: LISTEN alone spares the kernel its walk of every connection.
const TCP_BOUND_INACTIVE = 13;
const TCP_CONNECTED_STATES = 0x1ffe;
const TCP_ALL_STATES = TCP_CONNECTED_STATES | (1 << TCP_BOUND_INACTIVE);

/**
 * Errors with which a kernel refuses the request for both families at once (TCPDIAG_GETSOCK):
 * it is then asked one family at a time, through that binding, for the rest of this process's life.
 */
const REFUSALS = new Set(['EINVAL', 'ENOENT', 'EOPNOTSUPP', 'EPROTONOSUPPORT', 'EAFNOSUPPORT']);
const refusedBoth = new WeakSet<NativeBinding>();

/**
 * One sock_diag dump and the tables it answers for. TCP is asked for both families at once (family
 * 0), which the kernel answers with one walk of its hashes instead of one per family; and, when
 * every state is wanted, as two dumps that run side by side: the connections (listening, established
 * and every other hash entry) and the bound-only sockets, which the kernel finds by a walk of its
 * bind hash of its own.
 */
interface Planned {
  query: SockDiagQuery;
  tables: Table[];
  part: 'whole' | 'connected' | 'bound';
}
const UDP_ALL_STATES = (1 << TCP_ESTABLISHED) | (1 << TCP_CLOSE);

/**
 * Reads the tables the filter needs, making records batch by batch as rows arrive. `through`, when
 * given, sees each batch first and passes on the rows to keep (process-sockets.ts keeps one
 * process's); `filter.pid` itself is not read here.
 */
export async function readTables(
  binding: NativeBinding,
  filter: TableFilter,
  choice: SourceChoice,
  through?: RowsThrough,
  place: NetPlace | null = null,
): Promise<SocketTables> {
  const reading = new Reading(binding, filter, choice, place);
  const onRows = reading.counting(through === undefined ? reading.onRows : through(reading.onRows));
  // twice at most: both families at once, then, where the kernel refused that, one at a time
  while (reading.usesSockDiag()) {
    const result = await fromAddon('reading sock_diag', () => binding.readSockDiag!(reading.queries(), onRows, reading.netns()));
    reading.afterSockDiag(result.sources);
  }
  // twice at most: inside the namespace, then, where it could not be entered, through /proc/<pid>/net
  while (reading.pending.length > 0) {
    const result = await fromAddon('reading /proc/net', () => binding.readProcNet!(reading.procSources(), onRows, reading.netns()));
    reading.afterProc(result.sources);
  }
  return reading.result();
}

/** readTables on the calling thread. */
export function readTablesSync(
  binding: NativeBinding,
  filter: TableFilter,
  choice: SourceChoice,
  through?: RowsThrough,
  place: NetPlace | null = null,
): SocketTables {
  const reading = new Reading(binding, filter, choice, place);
  const onRows = reading.counting(through === undefined ? reading.onRows : through(reading.onRows));
  while (reading.usesSockDiag()) {
    const result = fromAddonSync('reading sock_diag', () => binding.readSockDiagSync!(reading.queries(), reading.netns()));
    onRows(result.rows, result.count);
    reading.afterSockDiag(result.sources);
  }
  while (reading.pending.length > 0) {
    const result = fromAddonSync('reading /proc/net', () => binding.readProcNetSync!(reading.procSources(), reading.netns()));
    onRows(result.rows, result.count);
    reading.afterProc(result.sources);
  }
  return reading.result();
}

/** Wraps the callback that makes records, to see the packed rows before it does. */
export type RowsThrough = (onRows: RowsCallback) => RowsCallback;

/** One reading of the tables: what to ask, the records so far, and what each source said. */
class Reading {
  /** Tables still to be read from /proc: all of them, or those sock_diag could not answer. */
  pending: readonly Table[];
  /** Tables still to be asked of sock_diag, and whether TCP's two may be asked at once. */
  private diag: readonly Table[];
  private both: boolean;
  /** The dumps of the sock_diag reading under way; empty once its results are in. */
  private plan: Planned[] = [];
  /** Rows sock_diag gave per TCP family, for the reports of a dump of both. */
  private readonly tcpRows = { 4: 0, 6: 0 };
  /** A dump of the bound-only sockets ran beside the connections': a socket that moved between them is dropped from it. */
  private boundApart = false;
  private sockets: SocketRecord[] = [];
  private readonly reports: SourceReport[] = [];
  private readonly maker: RecordMaker;
  /**
   * Another namespace's tables: read inside it while it can be entered, else (`outside`) through
   * /proc/<pid>/net of the process `outside` names, which must still be in it once they are read.
   */
  private outside: { pid: number } | null = null;

  constructor(
    private readonly binding: NativeBinding,
    private readonly filter: TableFilter,
    private readonly choice: SourceChoice,
    private readonly place: NetPlace | null,
  ) {
    if (binding.readProcNet === undefined || binding.readProcNetSync === undefined) {
      throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding has no /proc/net reader: it was not built for Linux');
    }
    this.pending = TABLES.filter(
      (table) =>
        (filter.protocol === undefined || filter.protocol === protocolName(table.protocol)) &&
        (filter.family === undefined || filter.family === familyName(table.family)),
    );
    this.maker = new RecordMaker(LINUX_ROWS, interfaceNamer(binding, place));
    if (choice === 'sock_diag' && binding.readSockDiag === undefined) {
      throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding has no sock_diag reader; only /proc can answer');
    }
    this.both = !refusedBoth.has(binding);
    const diag = choice !== 'proc' && binding.readSockDiag !== undefined;
    this.diag = diag ? this.pending : [];
    if (diag) this.pending = [];
  }

  usesSockDiag(): boolean {
    return this.diag.length > 0;
  }

  queries(): SockDiagQuery[] {
    this.plan = this.planQueries();
    return this.plan.map((planned) => planned.query);
  }

  private planQueries(): Planned[] {
    const listening = this.filter.listening === true;
    const port = this.filter.port ?? -1;
    const tcp = this.diag.filter((table) => table.protocol === IPPROTO_TCP);
    const together = this.both && tcp.length === 2;
    const plan: Planned[] = [];
    if (together) {
      const both = (states: number) => ({ protocol: IPPROTO_TCP, family: 0, states, port }) as const;
      if (listening) {
        plan.push({ query: both(1 << TCP_LISTEN), tables: tcp, part: 'whole' });
      } else {
        plan.push({ query: both(TCP_CONNECTED_STATES), tables: tcp, part: 'connected' });
        // before Linux 6.8 no bound-only socket is dumped: the kernel would only walk its hashes for nothing
        if (kernelShowsBoundSockets()) plan.push({ query: both(1 << TCP_BOUND_INACTIVE), tables: tcp, part: 'bound' });
      }
    }
    for (const table of this.diag) {
      if (together && table.protocol === IPPROTO_TCP) continue;
      const states = table.protocol === IPPROTO_TCP ? (listening ? 1 << TCP_LISTEN : TCP_ALL_STATES) : listening ? 1 << TCP_CLOSE : UDP_ALL_STATES;
      plan.push({ query: { protocol: table.protocol, family: table.family, states, port }, tables: [table], part: 'whole' });
    }
    return plan;
  }

  /** Counts the TCP rows sock_diag gives per family (the rows the kernel sent, before any filter here), then passes them on. */
  counting(onRows: RowsCallback): RowsCallback {
    return (rows, count) => {
      // only a dump of both families needs its rows told apart
      if (this.plan.some((planned) => planned.query.family === 0)) {
        const table = new RowTable(rows, count);
        for (let row = 0; row < count; row++) {
          if (table.protocol(row) === IPPROTO_TCP) this.tcpRows[table.family(row) === 6 ? 6 : 4]++;
        }
      }
      onRows(rows, count);
    };
  }

  /** The namespace file the addon enters for the next reading, or undefined to read where it runs. */
  netns(): string | undefined {
    return this.outside === null ? this.place?.path : undefined;
  }

  procSources(): ProcNetSource[] {
    return this.pending.map((table) => ({ path: this.procPath(table), protocol: table.protocol, family: table.family }));
  }

  /** The file of a table: /proc/net/tcp here, /proc/thread-self/net/tcp inside another namespace, /proc/<pid>/net/tcp from outside it. */
  private procPath(table: Table): string {
    if (this.place === null) return table.path;
    if (this.outside === null) return insidePath(table.path);
    return `/proc/${this.outside.pid}/net/${table.path.slice('/proc/net/'.length)}`;
  }

  /** After a reading that could not enter the namespace: read from outside it, through a process inside, or fail saying why not. */
  private leave(results: readonly SourceReading[], what: string): boolean {
    const why = this.place === null || this.outside !== null || results[0] === undefined ? null : enteringFailed(results[0]);
    if (why === null) return false;
    const pid = processInside(this.place!);
    if (pid === null) throw unreadableError(this.place!, why, what);
    this.outside = { pid };
    return true;
  }

  /** Filters packed rows as they come, making records only for the rows that pass. */
  readonly onRows: RowsCallback = (rows, count) => this.maker.collect(new RowTable(rows, count), this.filter, this.sockets);

  afterSockDiag(results: readonly SourceReading[]): void {
    // a namespace that could not be entered is a fact to say, not a sock_diag failure to report
    if (this.choice === 'sock_diag') {
      const why = this.place === null || results[0] === undefined ? null : enteringFailed(results[0]);
      if (why !== null) {
        throw new PortclashError(
          'ERR_NETNS_UNREADABLE',
          `cannot ask sock_diag in the network namespace ${this.place!.path}: ${why}; from outside it only /proc can be read`,
          {
            path: this.place!.path,
          },
        );
      }
    } else if (this.leave(results, 'the socket tables')) {
      this.pending = this.diag;
      this.diag = [];
      this.plan = [];
      return;
    }
    const failed: Table[] = [];
    const retried: Table[] = [];
    const together: { planned: Planned; result: SourceReading }[] = [];
    const reported = this.reports.length;
    this.plan.forEach((planned, index) => {
      const result = resultAt(results, index, 'sock_diag');
      const error = result.errno === 0 ? null : errnoName(result.errno);
      if (planned.query.family === 0) {
        if (error === null) {
          together.push({ planned, result });
          return;
        }
        // asked one family at a time next; where the kernel refuses the request itself, from now on
        if (REFUSALS.has(error)) refusedBoth.add(this.binding);
        this.both = false;
        for (const table of planned.tables) if (!retried.includes(table)) retried.push(table);
        return;
      }
      const table = planned.tables[0]!;
      this.report(table, result.rows, result.malformed, error, planned.part);
      if (error === null) return;
      if (this.choice === 'sock_diag') throw this.dumpError(table, error, result);
      failed.push(table);
    });
    // the dump of both families answered for TCP only if every part of it did
    if (retried.length === 0) {
      const malformed = together.reduce((sum, { result }) => sum + result.malformed, 0);
      const tables = together[0]?.planned.tables ?? [];
      this.boundApart = together.some(({ planned }) => planned.part === 'bound');
      for (const table of tables) this.report(table, this.tcpRows[table.family], malformed, null, this.boundApart ? 'whole' : 'connected', true);
    }
    // this round's reports in the tables' order, whichever dump answered for each
    const order = (report: SourceReport) => TABLES.findIndex((table) => names(table).protocol === report.protocol && names(table).family === report.family);
    this.reports.push(...this.reports.splice(reported).sort((a, b) => order(a) - order(b)));
    const dropped = [...failed, ...retried];
    if (dropped.length > 0) {
      // A dump that failed part-way may have handed out some rows: a later reading answers for all of it.
      const keys = new Set(dropped.map((table) => `${protocolName(table.protocol)}/${familyName(table.family)}`));
      this.sockets = this.sockets.filter((socket) => socket.source !== 'sock_diag' || !keys.has(`${socket.protocol}/${socket.family}`));
    }
    this.diag = retried;
    this.pending = failed;
    this.plan = [];
  }

  /** The report of one table from sock_diag. `part` 'connected': the bound-only sockets were not asked for. */
  private report(table: Table, rows: number, malformed: number, error: string | null, part: Planned['part'], bothFamilies = false): void {
    this.reports.push({
      source: 'sock_diag',
      ...names(table),
      rows,
      malformed,
      error,
      ...(bothFamilies ? { bothFamilies: true } : {}),
      ...(table.protocol === IPPROTO_TCP
        ? { seesBoundSockets: error === null && this.filter.listening !== true && part !== 'connected' && kernelShowsBoundSockets() }
        : {}),
    });
  }

  private dumpError(table: Table, error: string, result: SourceReading): PortclashError {
    return new PortclashError(
      error as `E${Uppercase<string>}`,
      `sock_diag could not dump ${names(table).protocol}/${names(table).family}: ${error} (${result.syscall ?? 'recvmsg'})`,
      {
        ...(result.syscall === null ? {} : { syscall: result.syscall }),
      },
    );
  }

  afterProc(results: readonly SourceReading[]): void {
    if (this.leave(results, 'the socket tables')) return;
    this.pending.forEach((table, index) => {
      const path = this.procPath(table);
      const result = resultAt(results, index, path);
      const error = result.errno === 0 ? null : errnoName(result.errno);
      // No tcp6/udp6 table means the kernel runs without IPv6: nothing to list, not a failure.
      if (error !== null && !(error === 'ENOENT' && table.family === 6)) {
        throw new PortclashError(error, `cannot read ${path}: ${error} (${result.syscall ?? 'read'})`, {
          path,
          ...(result.syscall === null ? {} : { syscall: result.syscall }),
        });
      }
      this.reports.push({
        source: 'proc',
        ...names(table),
        path,
        rows: result.rows,
        malformed: result.malformed,
        ...(result.duplicates === undefined ? {} : { duplicates: result.duplicates }),
        error,
        ...(table.protocol === IPPROTO_TCP ? { seesBoundSockets: false } : {}),
      });
    });
    this.pending = [];
    if (this.outside !== null && !isInside(this.place!, this.outside.pid)) {
      throw new PortclashError(
        'ERR_NETNS_UNREADABLE',
        `process ${this.outside.pid}, whose /proc/${this.outside.pid}/net stood for the network namespace ${this.place!.path}, left it (or exited) while it was read`,
        { path: this.place!.path },
      );
    }
  }

  result(): SocketTables {
    if (this.boundApart) {
      // a socket bound while one dump ran and listening or connected when the other did shows in both
      const seen = new Set(this.sockets.filter((socket) => socket.protocol === 'tcp' && socket.state !== 'BOUND').map((socket) => socket.inode));
      this.sockets = this.sockets.filter((socket) => socket.protocol !== 'tcp' || socket.state !== 'BOUND' || !seen.has(socket.inode));
    }
    return { sockets: this.sockets, sources: this.reports };
  }
}

function resultAt(results: readonly SourceReading[], index: number, what: string): SourceReading {
  const result = results[index];
  if (result === undefined) throw new PortclashError('ERR_INVALID_BINDING', `the binding returned no result for ${what}`);
  return result;
}

/** Names bound devices from the addon's interface list, read once and only if a socket is bound. */
function interfaceNamer(binding: NativeBinding, place: NetPlace | null): (index: number) => string | undefined {
  let names: Map<number, string> | undefined;
  return (index) => {
    names ??= new Map((binding.listInterfaces?.(place?.path) ?? []).map((item) => [item.index, item.name]));
    return names.get(index);
  };
}

function names(table: Table): { protocol: Protocol; family: Family } {
  return { protocol: protocolName(table.protocol), family: familyName(table.family) };
}
