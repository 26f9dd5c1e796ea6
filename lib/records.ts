// Raw rows → SocketRecord: protocol and family names, address text, the kernel's state names.
import { formatIPv4, formatIPv6 } from './address.js';
import { IPPROTO_TCP, LOCAL, REMOTE, type AddressEnd, type RowTable } from './rows.js';

export type Protocol = 'tcp' | 'udp';
export type Family = 'IPv4' | 'IPv6';

/** TCP states by the kernel's names (include/net/tcp_states.h). */
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
  | 'NEW_SYN_RECV';

/** A UDP socket is `ESTABLISHED` once connect() gave it a peer, `UNCONNECTED` before. */
export type UdpState = 'UNCONNECTED' | 'ESTABLISHED';

/** `UNKNOWN` is a state code this version of portclash has no name for (a newer kernel's). */
export type SocketState = TcpState | UdpState | 'UNKNOWN';

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
}

const TCP_STATES: readonly (TcpState | undefined)[] = [
  undefined,
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

const TCP_ESTABLISHED = 1;
const TCP_CLOSE = 7;
const TCP_LISTEN = 10;

export function stateName(protocol: number, code: number): SocketState {
  if (protocol === IPPROTO_TCP) return TCP_STATES[code] ?? 'UNKNOWN';
  // UDP reuses the TCP codes: TCP_CLOSE until connect(), TCP_ESTABLISHED after.
  if (code === TCP_CLOSE) return 'UNCONNECTED';
  if (code === TCP_ESTABLISHED) return 'ESTABLISHED';
  return 'UNKNOWN';
}

/**
 * Whether a row accepts new peers: a TCP socket in LISTEN, or a UDP socket with no fixed peer
 * (what `ss -l` shows for UDP).
 */
export function isListening(protocol: number, code: number): boolean {
  return protocol === IPPROTO_TCP ? code === TCP_LISTEN : code === TCP_CLOSE;
}

/**
 * Turns rows into records. Address text is the costly part and a table repeats few addresses
 * (a host has few of its own; peers recur), so IPv4 texts are remembered by their 32-bit word.
 */
export class RecordMaker {
  private readonly ipv4Texts = new Map<number, string>();

  make(table: RowTable, row: number): SocketRecord {
    const protocol = table.protocol(row);
    const ipv6 = table.family(row) === 6;
    return {
      protocol: protocol === IPPROTO_TCP ? 'tcp' : 'udp',
      family: ipv6 ? 'IPv6' : 'IPv4',
      localAddress: ipv6 ? this.ipv6Text(table, row, LOCAL) : this.ipv4Text(table, row, LOCAL, 0),
      localPort: table.localPort(row),
      remoteAddress: ipv6 ? this.ipv6Text(table, row, REMOTE) : this.ipv4Text(table, row, REMOTE, 0),
      remotePort: table.remotePort(row),
      state: stateName(protocol, table.state(row)),
      uid: table.uid(row),
      inode: table.inode(row),
    };
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
