// The public API of portclash: only what users call. The addon seam is in portclash/testing.
export { PortclashError, type ErrnoCode, type PortclashErrorCode } from './errors.js';
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
export {
  findOwners,
  findOwnersSync,
  type OwnedSocket,
  type OwnerOptions,
  type OwnerUnknownReason,
  type SocketOwner,
} from './owners.js';
export type { ProcessInfo } from './processes.js';
export type { ContainerInfo, ServiceInfo } from './cgroups.js';
export { assertPortsFree, PortNotFreeError, predictBind, predictBinds, type AssertOptions, type PredictOptions } from './predict/index.js';
export type { BindErrno, BindRequest, Prediction, Verdict } from './predict/types.js';
export { readSystemFacts, type SystemFacts } from './facts.js';
export { ephemeralReport, type DestinationUsage, type EphemeralReport } from './ephemeral.js';
export { bsdClass, portClass, readEphemeralRange, readReservedPorts, type PortClass } from './ranges.js';
export { getServiceByName, getServiceByPort, getServicesByPort, parsePortOrService, type ServiceEntry, type ServiceLookup } from './services.js';
