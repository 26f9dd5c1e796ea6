// The public API of portclash.
export { PortclashError, type PortclashErrorCode } from './errors.js';
export { setBinding, type NativeBinding, type ProcNetReading, type ProcNetSource, type RowsCallback, type SourceReading } from './binding.js';
export { packRows, type RawRow } from './rows.js';
export type { Family, Protocol, SocketRecord, SocketState, TcpState, UdpState } from './records.js';
export { parsePort } from './ports.js';
export {
  listSockets,
  listSocketsSync,
  readSocketTables,
  readSocketTablesSync,
  type SocketFilter,
  type SocketTables,
  type SourceReport,
} from './sockets.js';
