// Reads Linux's socket tables: sock_diag first, /proc/net for any table it cannot answer.
import type { NativeBinding, ProcNetSource, RowsCallback, SockDiagQuery, SourceReading } from '../binding.js';
import { errnoName, fromAddon, fromAddonSync, PortclashError } from '../errors.js';
import type { SocketTables, SourceChoice, SourceReport, TableFilter } from '../platform.js';
import { familyName, protocolName, RecordMaker, type Family, type Protocol, type SocketRecord } from '../records.js';
import { IPPROTO_TCP, IPPROTO_UDP, RowTable } from '../rows.js';
import { kernelShowsBoundSockets } from './kernel.js';
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
const TCP_ALL_STATES = 0x1ffe | (1 << TCP_BOUND_INACTIVE);
const UDP_ALL_STATES = (1 << TCP_ESTABLISHED) | (1 << TCP_CLOSE);

/**
 * Reads the tables the filter needs, making records batch by batch as rows arrive. `through`, when
 * given, sees each batch first and passes on the rows to keep (process-sockets.ts keeps one
 * process's); `filter.pid` itself is not read here.
 */
export async function readTables(binding: NativeBinding, filter: TableFilter, choice: SourceChoice, through?: RowsThrough): Promise<SocketTables> {
  const reading = new Reading(binding, filter, choice);
  const onRows = through === undefined ? reading.onRows : through(reading.onRows);
  if (reading.usesSockDiag()) {
    const result = await fromAddon('reading sock_diag', () => binding.readSockDiag!(reading.queries(), onRows));
    reading.afterSockDiag(result.sources);
  }
  if (reading.pending.length > 0) {
    const result = await fromAddon('reading /proc/net', () => binding.readProcNet!(reading.procSources(), onRows));
    reading.afterProc(result.sources);
  }
  return reading.result();
}

/** readTables on the calling thread. */
export function readTablesSync(binding: NativeBinding, filter: TableFilter, choice: SourceChoice, through?: RowsThrough): SocketTables {
  const reading = new Reading(binding, filter, choice);
  const onRows = through === undefined ? reading.onRows : through(reading.onRows);
  if (reading.usesSockDiag()) {
    const result = fromAddonSync('reading sock_diag', () => binding.readSockDiagSync!(reading.queries()));
    onRows(result.rows, result.count);
    reading.afterSockDiag(result.sources);
  }
  if (reading.pending.length > 0) {
    const result = fromAddonSync('reading /proc/net', () => binding.readProcNetSync!(reading.procSources()));
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
  private sockets: SocketRecord[] = [];
  private readonly reports: SourceReport[] = [];
  private readonly maker: RecordMaker;

  constructor(
    private readonly binding: NativeBinding,
    private readonly filter: TableFilter,
    private readonly choice: SourceChoice,
  ) {
    if (binding.readProcNet === undefined || binding.readProcNetSync === undefined) {
      throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding has no /proc/net reader: it was not built for Linux');
    }
    this.pending = TABLES.filter(
      (table) =>
        (filter.protocol === undefined || filter.protocol === protocolName(table.protocol)) &&
        (filter.family === undefined || filter.family === familyName(table.family)),
    );
    this.maker = new RecordMaker(LINUX_ROWS, interfaceNamer(binding));
    if (choice === 'sock_diag' && binding.readSockDiag === undefined) {
      throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding has no sock_diag reader; only /proc can answer');
    }
  }

  usesSockDiag(): boolean {
    return this.choice !== 'proc' && this.binding.readSockDiag !== undefined && this.pending.length > 0;
  }

  queries(): SockDiagQuery[] {
    const listening = this.filter.listening === true;
    return this.pending.map((table) => ({
      protocol: table.protocol,
      family: table.family,
      states: table.protocol === IPPROTO_TCP ? (listening ? 1 << TCP_LISTEN : TCP_ALL_STATES) : listening ? 1 << TCP_CLOSE : UDP_ALL_STATES,
      port: this.filter.port ?? -1,
    }));
  }

  procSources(): ProcNetSource[] {
    return this.pending.map(({ path, protocol, family }) => ({ path, protocol, family }));
  }

  /** Filters packed rows as they come, making records only for the rows that pass. */
  readonly onRows: RowsCallback = (rows, count) => this.maker.collect(new RowTable(rows, count), this.filter, this.sockets);

  afterSockDiag(results: readonly SourceReading[]): void {
    const failed: Table[] = [];
    this.pending.forEach((table, index) => {
      const result = resultAt(results, index, 'sock_diag');
      const error = result.errno === 0 ? null : errnoName(result.errno);
      this.reports.push({
        source: 'sock_diag',
        ...names(table),
        rows: result.rows,
        malformed: result.malformed,
        error,
        ...(table.protocol === IPPROTO_TCP ? { seesBoundSockets: error === null && this.filter.listening !== true && kernelShowsBoundSockets() } : {}),
      });
      if (error === null) return;
      if (this.choice === 'sock_diag') {
        throw new PortclashError(error, `sock_diag could not dump ${names(table).protocol}/${names(table).family}: ${error} (${result.syscall ?? 'recvmsg'})`, {
          ...(result.syscall === null ? {} : { syscall: result.syscall }),
        });
      }
      failed.push(table);
    });
    if (failed.length > 0) {
      // A dump that failed part-way may have handed out some rows: /proc answers for all of it.
      const dropped = new Set(failed.map((table) => `${protocolName(table.protocol)}/${familyName(table.family)}`));
      this.sockets = this.sockets.filter((socket) => socket.source !== 'sock_diag' || !dropped.has(`${socket.protocol}/${socket.family}`));
    }
    this.pending = failed;
  }

  afterProc(results: readonly SourceReading[]): void {
    this.pending.forEach((table, index) => {
      const result = resultAt(results, index, table.path);
      const error = result.errno === 0 ? null : errnoName(result.errno);
      // No tcp6/udp6 table means the kernel runs without IPv6: nothing to list, not a failure.
      if (error !== null && !(error === 'ENOENT' && table.family === 6)) {
        throw new PortclashError(error, `cannot read ${table.path}: ${error} (${result.syscall ?? 'read'})`, {
          path: table.path,
          ...(result.syscall === null ? {} : { syscall: result.syscall }),
        });
      }
      this.reports.push({
        source: 'proc',
        ...names(table),
        path: table.path,
        rows: result.rows,
        malformed: result.malformed,
        ...(result.duplicates === undefined ? {} : { duplicates: result.duplicates }),
        error,
        ...(table.protocol === IPPROTO_TCP ? { seesBoundSockets: false } : {}),
      });
    });
    this.pending = [];
  }

  result(): SocketTables {
    return { sockets: this.sockets, sources: this.reports };
  }
}

function resultAt(results: readonly SourceReading[], index: number, what: string): SourceReading {
  const result = results[index];
  if (result === undefined) throw new PortclashError('ERR_INVALID_BINDING', `the binding returned no result for ${what}`);
  return result;
}

/** Names bound devices from the addon's interface list, read once and only if a socket is bound. */
function interfaceNamer(binding: NativeBinding): (index: number) => string | undefined {
  let names: Map<number, string> | undefined;
  return (index) => {
    names ??= new Map((binding.listInterfaces?.() ?? []).map((item) => [item.index, item.name]));
    return names.get(index);
  };
}

function names(table: Table): { protocol: Protocol; family: Family } {
  return { protocol: protocolName(table.protocol), family: familyName(table.family) };
}
