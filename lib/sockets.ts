// listSockets: read the kernel's socket tables, filter on the packed rows, then make records.
import { constants } from 'node:os';

import { getBinding, type ProcNetSource, type SourceReading } from './binding.js';
import { PortclashError } from './errors.js';
import { parsePort } from './ports.js';
import { isListening, RecordMaker, type Family, type Protocol, type SocketRecord } from './records.js';
import { IPPROTO_TCP, IPPROTO_UDP, RowTable } from './rows.js';

export interface SocketFilter {
  protocol?: Protocol;
  family?: Family;
  /** Only sockets that accept new peers: TCP in LISTEN, UDP not connected. */
  listening?: boolean;
  /** Only sockets whose local port is this one. */
  port?: number;
}

/** How reading one table went. `error` is an errno name, or null when the read succeeded. */
export interface SourceReport {
  path: string;
  protocol: Protocol;
  family: Family;
  rows: number;
  /** Lines that did not match the kernel's format and were skipped. */
  malformed: number;
  error: string | null;
}

export interface SocketTables {
  sockets: SocketRecord[];
  sources: SourceReport[];
}

const PROC_NET_SOURCES: readonly ProcNetSource[] = [
  { path: '/proc/net/tcp', protocol: IPPROTO_TCP, family: 4 },
  { path: '/proc/net/tcp6', protocol: IPPROTO_TCP, family: 6 },
  { path: '/proc/net/udp', protocol: IPPROTO_UDP, family: 4 },
  { path: '/proc/net/udp6', protocol: IPPROTO_UDP, family: 6 },
];

/** The sockets of this process's network namespace, read off the main thread. */
export async function listSockets(filter: SocketFilter = {}): Promise<SocketRecord[]> {
  return (await readSocketTables(filter)).sockets;
}

/** listSockets for scripts: the same answer, read on the calling thread. */
export function listSocketsSync(filter: SocketFilter = {}): SocketRecord[] {
  return readSocketTablesSync(filter).sockets;
}

/** listSockets with a report per table read: rows, malformed lines skipped, errors. */
export async function readSocketTables(filter: SocketFilter = {}): Promise<SocketTables> {
  const checked = checkFilter(filter);
  const sources = sourcesFor(checked);
  const collector = new SocketCollector(checked);
  // Records are made batch by batch while the worker thread still reads the kernel's text.
  const reading = await getBinding().readProcNet(sources, (rows, count) => collector.add(rows, count));
  return { sources: reportSources(sources, reading.sources), sockets: collector.sockets };
}

export function readSocketTablesSync(filter: SocketFilter = {}): SocketTables {
  const checked = checkFilter(filter);
  const sources = sourcesFor(checked);
  const collector = new SocketCollector(checked);
  const reading = getBinding().readProcNetSync(sources);
  const reports = reportSources(sources, reading.sources);
  collector.add(reading.rows, reading.count);
  return { sources: reports, sockets: collector.sockets };
}

/** Filters packed rows as they come, making records only for the rows that pass. */
class SocketCollector {
  readonly sockets: SocketRecord[] = [];
  private readonly maker = new RecordMaker();

  constructor(private readonly filter: SocketFilter) {}

  add(rows: ArrayBuffer, count: number): void {
    const table = new RowTable(rows, count);
    const { port, listening } = this.filter;
    for (let row = 0; row < table.count; row++) {
      if (port !== undefined && table.localPort(row) !== port) continue;
      if (listening === true && !isListening(table.protocol(row), table.state(row))) continue;
      this.sockets.push(this.maker.make(table, row));
    }
  }
}

function checkFilter(filter: SocketFilter): SocketFilter {
  if (typeof filter !== 'object' || filter === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the filter must be an object');
  }
  const { protocol, family, listening, port } = filter;
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  if (family !== undefined && family !== 'IPv4' && family !== 'IPv6') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `family must be 'IPv4' or 'IPv6', got ${JSON.stringify(family)}`);
  }
  if (listening !== undefined && typeof listening !== 'boolean') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `listening must be a boolean, got ${JSON.stringify(listening)}`);
  }
  return port === undefined ? filter : { ...filter, port: parsePort(port) };
}

function sourcesFor(filter: SocketFilter): ProcNetSource[] {
  return PROC_NET_SOURCES.filter(
    (source) =>
      (filter.protocol === undefined || filter.protocol === protocolName(source.protocol)) &&
      (filter.family === undefined || filter.family === familyName(source.family)),
  );
}

function reportSources(sources: readonly ProcNetSource[], results: readonly SourceReading[]): SourceReport[] {
  return sources.map((source, index): SourceReport => {
    const result = results[index];
    if (result === undefined) throw new PortclashError('ERR_INVALID_BINDING', `the binding returned no result for ${source.path}`);
    const error = result.errno === 0 ? null : errnoName(result.errno);
    // No tcp6/udp6 table means the kernel runs without IPv6: nothing to list, not a failure.
    if (error !== null && !(error === 'ENOENT' && source.family === 6)) {
      throw new PortclashError(error, `cannot read ${source.path}: ${error} (${result.syscall ?? 'read'})`, {
        path: source.path,
        ...(result.syscall === null ? {} : { syscall: result.syscall }),
      });
    }
    return {
      path: source.path,
      protocol: protocolName(source.protocol),
      family: familyName(source.family),
      rows: result.rows,
      malformed: result.malformed,
      error,
    };
  });
}

function protocolName(protocol: number): Protocol {
  return protocol === IPPROTO_TCP ? 'tcp' : 'udp';
}

function familyName(family: number): Family {
  return family === 6 ? 'IPv6' : 'IPv4';
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}
