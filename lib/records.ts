// Raw rows → SocketRecord: protocol and family names, address text; what state codes mean is each OS's.
import { formatIPv4, formatIPv6 } from './address.js';
import { IPPROTO_TCP, LOCAL, REMOTE, ROW_CGROUP_KNOWN, ROW_V6ONLY, ROW_V6ONLY_KNOWN, type AddressEnd, type RowTable } from './rows.js';

export type Protocol = 'tcp' | 'udp';
export type Family = 'IPv4' | 'IPv6';

/**
 * TCP states by Linux's names (include/net/tcp_states.h), which Windows' states map onto. `BOUND`
 * is a socket that is bound but neither listening nor connected; only sock_diag on Linux ≥ 6.8
 * shows those. `DELETE_TCB` is Windows' connection being deleted.
 */
export type TcpState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING'
  | 'NEW_SYN_RECV'
  | 'BOUND'
  | 'DELETE_TCB';

/** A UDP socket is `ESTABLISHED` once connect() gave it a peer, `UNCONNECTED` before. */
export type UdpState = 'UNCONNECTED' | 'ESTABLISHED';

/** `UNKNOWN` is a state code this version of portclash has no name for (a newer kernel's). */
export type SocketState = TcpState | UdpState | 'UNKNOWN';

/** Which kernel interface answered for a socket: Linux's sock_diag or /proc/net, Windows' IP Helper. */
export type SocketSource = 'sock_diag' | 'proc' | 'iphlpapi';

export interface SocketRecord {
  protocol: Protocol;
  family: Family;
  /** In the text form Node's `net` uses: `127.0.0.1`, `::1`, `::ffff:127.0.0.1`. */
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  /** 0 when there is no peer (listening, unconnected UDP). */
  remotePort: number;
  state: SocketState;
  /** The socket's owner uid as the kernel keeps it: the creator's, even after a setuid(). */
  uid: number;
  /** The socket's inode (`socket:[inode]` in /proc/<pid>/fd); 0 when no file holds it (TIME_WAIT). */
  inode: number;
  /**
   * No process holds the socket, so none can be named: the kernel alone keeps it (TIME_WAIT, a
   * connection request, a socket closed while its data drains).
   */
  kernelOnly: boolean;
  source: SocketSource;
  /**
   * IPV6_V6ONLY of an IPv6 socket in LISTEN, BOUND or unconnected UDP (sock_diag only): true when
   * it takes no IPv4 traffic. Absent when the kernel did not say.
   */
  ipv6Only?: boolean;
  /** The interface the socket is bound to (SO_BINDTODEVICE), when it is (sock_diag only). */
  boundDevice?: string;
  /** That interface's index; present even when its name can no longer be found. */
  boundDeviceIndex?: number;
  /** The cgroup v2 id of the socket's creator (sock_diag only, not for TIME_WAIT). */
  cgroupId?: number;
  /**
   * The pid the kernel's own table names as the socket's owner, where it names one (Windows'
   * tables do). Absent where the table does not say, as on Linux: findOwners looks for owners.
   */
  ownerPid?: number;
  /**
   * The kernel's INET_DIAG_CLASS_ID: the socket's net_cls classid, or its SO_PRIORITY where the
   * classid is 0 (inet_diag falls back to sk_priority). sock_diag only; absent for TIME_WAIT and
   * request sockets and for /proc rows.
   */
  classId?: number;
}

/** The name of an IPPROTO_* number of a row. */
export function protocolName(protocol: number): Protocol {
  return protocol === IPPROTO_TCP ? 'tcp' : 'udp';
}

/** The name of a row's family, 4 or 6. */
export function familyName(family: number): Family {
  return family === 6 ? 'IPv6' : 'IPv4';
}

/**
 * What one OS's rows mean beyond their numbers: the names of its state codes, which interface
 * answered, and whether a process can hold the socket at all. Each OS has one (lib/<os>/states.ts).
 */
export interface RowMeaning {
  state(table: RowTable, row: number): SocketState;
  source(table: RowTable, row: number): SocketSource;
  kernelOnly(table: RowTable, row: number): boolean;
  /** The index of the interface the socket is bound to (SO_BINDTODEVICE), 0 when none or not said. */
  boundDeviceIndex(table: RowTable, row: number): number;
  /** Whether the socket accepts new peers: a TCP listener, a UDP socket with no fixed peer. */
  listening(table: RowTable, row: number): boolean;
}

/** What a reader keeps of the rows it is handed, tested on the packed rows before any record is made. */
export interface RowFilter {
  port?: number;
  listening?: boolean;
}

/**
 * Turns rows into records. Address text is the costly part and a table repeats few addresses
 * (a host has few of its own; peers recur), so IPv4 texts are remembered by their 32-bit word.
 */
export class RecordMaker {
  private readonly ipv4Texts = new Map<number, string>();

  /** `interfaceName` names a bound device's index; it is asked only for bound sockets. */
  constructor(
    private readonly meaning: RowMeaning,
    private readonly interfaceName: (index: number) => string | undefined = () => undefined,
  ) {}

  /** Adds to `into` a record for each row of `table` that passes `filter`. */
  collect(table: RowTable, filter: RowFilter, into: SocketRecord[]): void {
    const { port, listening } = filter;
    for (let row = 0; row < table.count; row++) {
      if (port !== undefined && table.localPort(row) !== port) continue;
      if (listening === true && !this.meaning.listening(table, row)) continue;
      into.push(this.make(table, row));
    }
  }

  make(table: RowTable, row: number): SocketRecord {
    const ipv6 = table.family(row) === 6;
    const flags = table.flags(row);
    const record: SocketRecord = {
      protocol: protocolName(table.protocol(row)),
      family: ipv6 ? 'IPv6' : 'IPv4',
      localAddress: ipv6 ? this.ipv6Text(table, row, LOCAL) : this.ipv4Text(table, row, LOCAL, 0),
      localPort: table.localPort(row),
      remoteAddress: ipv6 ? this.ipv6Text(table, row, REMOTE) : this.ipv4Text(table, row, REMOTE, 0),
      remotePort: table.remotePort(row),
      state: this.meaning.state(table, row),
      uid: table.uid(row),
      inode: table.inode(row),
      kernelOnly: this.meaning.kernelOnly(table, row),
      source: this.meaning.source(table, row),
    };
    if ((flags & ROW_V6ONLY_KNOWN) !== 0) record.ipv6Only = (flags & ROW_V6ONLY) !== 0;
    const deviceIndex = this.meaning.boundDeviceIndex(table, row);
    if (deviceIndex !== 0) {
      const name = this.interfaceName(deviceIndex);
      if (name !== undefined) record.boundDevice = name;
      record.boundDeviceIndex = deviceIndex;
    }
    if ((flags & ROW_CGROUP_KNOWN) !== 0) record.cgroupId = table.cgroupId(row);
    const classId = table.classId(row);
    if (classId !== undefined) record.classId = classId;
    const ownerPid = table.ownerPid(row);
    if (ownerPid !== 0) record.ownerPid = ownerPid;
    return record;
  }

  /** The IPv4 address in word `word` of the row's address (0, or 3 inside an IPv6 one). */
  private ipv4Text(table: RowTable, row: number, end: AddressEnd, word: number): string {
    const key = table.addressWord(row, end, word);
    let text = this.ipv4Texts.get(key);
    if (text === undefined) {
      const start = word * 4;
      text = formatIPv4(table.address(row, end).subarray(start, start + 4));
      this.ipv4Texts.set(key, text);
    }
    return text;
  }

  private ipv6Text(table: RowTable, row: number, end: AddressEnd): string {
    // the two forms that fill most IPv6 tables: the wildcard, and IPv4 peers of dual-stack sockets
    if (table.addressWord(row, end, 0) === 0 && table.addressWord(row, end, 1) === 0) {
      const third = table.addressWord(row, end, 2);
      if (third === 0 && table.addressWord(row, end, 3) === 0) return '::';
      if (third === V4_MAPPED_WORD) return `::ffff:${this.ipv4Text(table, row, end, 3)}`;
    }
    return formatIPv6(table.address(row, end));
  }
}

/** The third word of a v4-mapped address (::ffff:0:0/96) as the machine reads it. */
const V4_MAPPED_WORD = new Uint32Array(Uint8Array.of(0, 0, 0xff, 0xff).buffer)[0]!;
