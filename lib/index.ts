// The public API of portclash.
export { PortclashError, type PortclashErrorCode } from './errors.js';
export {
  setBinding,
  type NativeBinding,
  type ProcNetReading,
  type ProcNetSource,
  type RowsCallback,
  type SockDiagQuery,
  type SockDiagReply,
  type SourceReading,
} from './binding.js';
export { packRows, type RawRow } from './rows.js';
export type { Family, Protocol, SocketRecord, SocketSource, SocketState, TcpState, UdpState } from './records.js';
export { parsePort } from './ports.js';
export {
  listSockets,
  listSocketsSync,
  readSocketTables,
  readSocketTablesSync,
  type ListOptions,
  type SocketFilter,
} from './sockets.js';
export type { SocketTables, SourceChoice, SourceReport } from './tables.js';
