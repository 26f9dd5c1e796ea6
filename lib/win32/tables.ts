// Reads Windows' socket tables: GetExtendedTcpTable and GetExtendedUdpTable, each family, owner pid in every row.
import type { NativeBinding, RowsCallback, SourceReading } from '../binding.js';
import { fromAddon, fromAddonSync, PortclashError } from '../errors.js';
import type { SocketTables, SourceChoice, SourceReport, TableFilter } from '../platform.js';
import { familyName, protocolName, RecordMaker, type SocketRecord } from '../records.js';
import { IPPROTO_TCP, IPPROTO_UDP, RowTable } from '../rows.js';
import { win32ErrorName } from './errors.js';
import { WIN32_ROWS } from './states.js';

interface Query {
  protocol: 6 | 17;
  family: 4 | 6;
}

const QUERIES: readonly Query[] = [
  { protocol: IPPROTO_TCP, family: 4 },
  { protocol: IPPROTO_TCP, family: 6 },
  { protocol: IPPROTO_UDP, family: 4 },
  { protocol: IPPROTO_UDP, family: 6 },
];

// A machine without an IPv6 stack answers the AF_INET6 tables so; that is nothing to list, not a failure.
const NO_IPV6 = new Set(['ERROR_NOT_SUPPORTED', 'ERROR_INVALID_PARAMETER']);

/**
 * Reads the tables the filter needs. IP Helper filters nothing: every row of a table comes, and
 * the port and listening filters run here on the packed rows, before any record is made.
 */
export async function readTables(binding: NativeBinding, filter: TableFilter, choice: SourceChoice): Promise<SocketTables> {
  const reader = ipHelper(binding);
  const reading = new Reading(filter, choice);
  const result = await fromAddon('reading the IP Helper tables', () => reader.readIpHelper(reading.queries, reading.onRows));
  return reading.result(result.sources);
}

/** readTables on the calling thread. */
export function readTablesSync(binding: NativeBinding, filter: TableFilter, choice: SourceChoice): SocketTables {
  const reader = ipHelper(binding);
  const reading = new Reading(filter, choice);
  const result = fromAddonSync('reading the IP Helper tables', () => reader.readIpHelperSync(reading.queries));
  reading.onRows(result.rows, result.count);
  return reading.result(result.sources);
}

type IpHelperBinding = Required<Pick<NativeBinding, 'readIpHelper' | 'readIpHelperSync'>>;

function ipHelper(binding: NativeBinding): IpHelperBinding {
  if (binding.readIpHelper === undefined || binding.readIpHelperSync === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding has no IP Helper reader: it was not built for Windows');
  }
  return { readIpHelper: (queries, onRows) => binding.readIpHelper!(queries, onRows), readIpHelperSync: (queries) => binding.readIpHelperSync!(queries) };
}

class Reading {
  readonly queries: readonly Query[];
  private readonly sockets: SocketRecord[] = [];
  private readonly maker = new RecordMaker(WIN32_ROWS);

  constructor(
    private readonly filter: TableFilter,
    choice: SourceChoice,
  ) {
    if (choice !== 'auto' && choice !== 'iphlpapi') {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `Windows' socket tables come from IP Helper only, not ${JSON.stringify(choice)}`);
    }
    this.queries = QUERIES.filter(
      (query) =>
        (filter.protocol === undefined || filter.protocol === protocolName(query.protocol)) &&
        (filter.family === undefined || filter.family === familyName(query.family)),
    );
  }

  /** Filters packed rows as they come, making records only for the rows that pass. */
  readonly onRows: RowsCallback = (rows, count) => this.maker.collect(new RowTable(rows, count), this.filter, this.sockets);

  result(results: readonly SourceReading[]): SocketTables {
    const sources: SourceReport[] = this.queries.map((query, index) => {
      const result = results[index];
      if (result === undefined) throw new PortclashError('ERR_INVALID_BINDING', `the binding returned no result for table ${index}`);
      const protocol = protocolName(query.protocol);
      const family = familyName(query.family);
      const error = result.errno === 0 ? null : win32ErrorName(result.errno);
      if (error !== null && !(query.family === 6 && NO_IPV6.has(error))) {
        throw new PortclashError(error, `cannot read the ${protocol} ${family} table: ${error} (${result.syscall ?? 'IP Helper'})`, {
          ...(result.syscall === null ? {} : { syscall: result.syscall }),
        });
      }
      return { source: 'iphlpapi', protocol, family, rows: result.rows, malformed: result.malformed, error };
    });
    // the pid of each row is the process that holds it (win32/index.ts checked that the process exists)
    const { pid } = this.filter;
    return { sockets: pid === undefined ? this.sockets : this.sockets.filter((socket) => socket.ownerPid === pid), sources };
  }
}
