// The public API of portclash: only what users call. The addon seam is in portclash/testing.
import { loadPlatform } from './platform.js';

// What is exported here may ask for the backend of this OS at any call: it is loaded before an importer's first line runs.
await loadPlatform();

export { PortclashError, type ErrnoCode, type PortclashErrorCode, type Win32ErrorCode } from './errors.js';
export type { Family, Protocol, SocketRecord, SocketSource, SocketState, TcpState, UdpState } from './records.js';
export { parsePort } from './ports.js';
export { listSockets, listSocketsSync, readSocketTables, readSocketTablesSync, type ListOptions, type SocketFilter } from './sockets.js';
export type { SocketTables, SourceChoice, SourceReport, SystemFacts } from './platform.js';
export {
  findOwners,
  findOwnersSync,
  type OwnedSocket,
  type OwnerOptions,
  type OwnerUnknownReason,
  type SocketOwner,
  type ContainerInfo,
  type ProcessInfo,
  type ServiceInfo,
} from './owners.js';
export { assertPortsFree, PortNotFreeError, predictBind, predictBinds, type AssertOptions, type PredictOptions } from './predict/index.js';
export type { BindErrno, BindRequest, Prediction, Verdict } from './predict/types.js';
export { findFreePort, findFreePorts, reservePort, type FreePortOptions, type ReservedPort, type ReservedTcpPort, type ReservedUdpPort } from './find-free.js';
export {
  carryOut,
  freePort,
  planFree,
  type FreeOptions,
  type FreePlan,
  type FreeResult,
  type HolderAction,
  type HolderOutcome,
  type PortHolder,
} from './free.js';
export { parentChain, readProcess } from './processes.js';
export { waitForPort, WaitTimeoutError, type WaitLastSeen, type WaitOptions, type WaitResult } from './wait.js';
export { watchSockets, type SocketEvent, type WatchOptions } from './watch.js';
export { describeBindError, explainBindError, type ExplainOptions } from './explain.js';
export {
  findForwards,
  type Forward,
  type ForwardOwner,
  type ForwardsOptions,
  type ForwardsReport,
  type ForwardsUnknown,
  type NatForward,
  type PortProxyType,
  type ProxyForward,
} from './forwards.js';
export { readEphemeralRange, readReservedPorts, readSystemFacts, type NamespaceOptions } from './system.js';
export { ephemeralReport, type DestinationUsage, type EphemeralReport } from './ephemeral.js';
export { bsdClass, portClass, type EphemeralRange, type PortClass, type PortRange } from './ranges.js';
export { getServiceByName, getServiceByPort, getServicesByPort, parsePortOrService, type ServiceEntry, type ServiceLookup } from './services.js';
