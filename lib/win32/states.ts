// What Windows' rows mean: MIB_TCP_STATE codes by the names records use, and which sockets no process holds.
import type { RowMeaning, SocketState, TcpState } from '../records.js';
import { IPPROTO_TCP, type RowTable } from '../rows.js';

// MIB_TCP_STATE (tcpmib.h), by code: https://learn.microsoft.com/windows/win32/api/tcpmib/ne-tcpmib-mib_tcp_state
const TCP_STATES: readonly (TcpState | undefined)[] = [
  undefined,
  'CLOSE', // MIB_TCP_STATE_CLOSED
  'LISTEN',
  'SYN_SENT',
  'SYN_RECV', // MIB_TCP_STATE_SYN_RCVD
  'ESTABLISHED',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'CLOSE_WAIT',
  'CLOSING',
  'LAST_ACK',
  'TIME_WAIT',
  'DELETE_TCB',
];

export const MIB_TCP_STATE_LISTEN = 2;
const MIB_TCP_STATE_TIME_WAIT = 11;

/** The UDP table has no state and no peer: every row is a bound socket, as Linux's UNCONNECTED. */
export function stateName(protocol: number, code: number): SocketState {
  if (protocol !== IPPROTO_TCP) return 'UNCONNECTED';
  return TCP_STATES[code] ?? 'UNKNOWN';
}

/** A TCP listener, or any UDP socket: what accepts new peers. */
export function isListening(protocol: number, code: number): boolean {
  return protocol !== IPPROTO_TCP || code === MIB_TCP_STATE_LISTEN;
}

export const WIN32_ROWS: RowMeaning = {
  state: (table, row) => stateName(table.protocol(row), table.state(row)),
  source: () => 'iphlpapi',
  // A TIME_WAIT belongs to no process on Windows either (its row names pid 0, the idle process).
  // A pid of 0 on any other row says only that the table named nobody: wine leaves TCP rows so.
  kernelOnly: (table: RowTable, row: number) => table.protocol(row) === IPPROTO_TCP && table.state(row) === MIB_TCP_STATE_TIME_WAIT,
  // the row's interface index holds an IPv6 scope id on Windows, not a bound device: the tables do not say
  boundDeviceIndex: () => 0,
  listening: (table, row) => isListening(table.protocol(row), table.state(row)),
};
