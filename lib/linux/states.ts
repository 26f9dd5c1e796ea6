// What Linux's rows mean: the kernel's state codes by name, and which sockets no process holds.
import type { RowMeaning, SocketState, TcpState } from '../records.js';
import { IPPROTO_TCP, ROW_FROM_SOCK_DIAG, type RowTable } from '../rows.js';

// include/net/tcp_states.h, by code
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

export const TCP_ESTABLISHED = 1;
export const TCP_CLOSE = 7;
export const TCP_LISTEN = 10;

export function stateName(protocol: number, code: number, fromSockDiag: boolean): SocketState {
  if (protocol === IPPROTO_TCP) {
    // sock_diag reports bound-but-inactive sockets (TCPF_BOUND_INACTIVE) with TCP_CLOSE
    if (code === TCP_CLOSE && fromSockDiag) return 'BOUND';
    return TCP_STATES[code] ?? 'UNKNOWN';
  }
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

function fromSockDiag(table: RowTable, row: number): boolean {
  return (table.flags(row) & ROW_FROM_SOCK_DIAG) !== 0;
}

export const LINUX_ROWS: RowMeaning = {
  state: (table, row) => stateName(table.protocol(row), table.state(row), fromSockDiag(table, row)),
  source: (table, row) => (fromSockDiag(table, row) ? 'sock_diag' : 'proc'),
  // A socket with no inode has no file: TIME_WAIT and request sockets never had one, and an
  // orphan (closed while its data drains) lost it.
  kernelOnly: (table, row) => table.inode(row) === 0,
  boundDeviceIndex: (table, row) => table.interfaceIndex(row),
  listening: (table, row) => isListening(table.protocol(row), table.state(row)),
};
