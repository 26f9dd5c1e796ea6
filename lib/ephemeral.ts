// Outgoing connections and the ephemeral range: how close each destination is to running out of ports.
import { backend, type NamespaceOptions } from './system.js';
import type { EphemeralRange, PortRange } from './ranges.js';

/** Connections from one local address to one remote address and port. */
export interface DestinationUsage {
  localAddress: string;
  remoteAddress: string;
  remotePort: number;
  /** Ephemeral ports this destination holds now, TIME_WAIT included. */
  connections: number;
  timeWait: number;
  /** Ports connect() may still pick for it: the range, less reserved and explicitly bound ports. */
  available: number;
  /** connections / available: at 1, connect() to this destination fails with EADDRNOTAVAIL. */
  usage: number;
}

export interface EphemeralReport {
  range: EphemeralRange;
  /** net.ipv4.ip_local_reserved_ports: never picked automatically, but bindable explicitly. */
  reserved: PortRange[];
  /** Ports in the range that bind() holds (listeners, bound sockets): connect() skips them all. */
  boundInRange: number;
  /** Outgoing TCP connections on ephemeral ports, and how many of them are in TIME_WAIT. */
  outgoing: number;
  timeWait: number;
  /** Busiest first. */
  destinations: DestinationUsage[];
  warnings: string[];
}

/**
 * The ephemeral range and its use: which destinations are close to running out of local ports
 * for connect(), by the rules of this OS's port selection.
 */
export async function ephemeralReport(options: NamespaceOptions = {}): Promise<EphemeralReport> {
  return backend(options).ephemeralReport();
}
