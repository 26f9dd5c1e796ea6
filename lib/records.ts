// Raw rows → SocketRecord: protocol and family names, address text, the kernel's state names.
import { formatAddress } from './address.js';
import { IPPROTO_TCP, type RowTable } from './rows.js';

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

export function toRecord(table: RowTable, row: number): SocketRecord {
  const protocol = table.protocol(row);
  return {
    protocol: protocol === IPPROTO_TCP ? 'tcp' : 'udp',
    family: table.family(row) === 6 ? 'IPv6' : 'IPv4',
    localAddress: formatAddress(table.localAddress(row)),
    localPort: table.localPort(row),
    remoteAddress: formatAddress(table.remoteAddress(row)),
    remotePort: table.remotePort(row),
    state: stateName(protocol, table.state(row)),
    uid: table.uid(row),
    inode: table.inode(row),
  };
}
