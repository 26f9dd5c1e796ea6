// Linux's connect() port selection: how close each destination is to running out of ephemeral ports.
import { getBinding } from '../binding.js';
import type { DestinationUsage, EphemeralReport } from '../ephemeral.js';
import { inRanges, type EphemeralRange, type PortRange } from '../ranges.js';
import type { SocketRecord } from '../records.js';
import type { NetPlace } from './netns.js';
import { readNamespaceRanges } from './ranges.js';
import { readTables } from './tables.js';

// A destination using this share of its ports is close enough to exhaustion to say so.
const WARN_AT = 0.8;

// States of a connection that still holds its local port for its 4-tuple.
const HOLDS_PORT = new Set(['ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSING']);

/**
 * The ephemeral range and its use. connect() needs a local port whose 4-tuple (local address,
 * local port, remote address, remote port) is unused, so each destination has the whole range to
 * itself, less reserved ports and ports some socket bound explicitly (__inet_hash_connect skips
 * those for every destination). The classic "cannot assign requested address" of busy proxies is
 * one destination using them all, often mostly in TIME_WAIT.
 */
export async function ephemeralReport(place: NetPlace | null = null): Promise<EphemeralReport> {
  const { sockets } = await readTables(getBinding(), { protocol: 'tcp' }, 'auto', undefined, place);
  const { ephemeral, reserved } = readNamespaceRanges(place);
  return buildReport(sockets, ephemeral, reserved);
}

/** The report from a socket table and the ranges: a pure function, for tests and replays. */
export function buildReport(sockets: readonly SocketRecord[], range: EphemeralRange, reserved: PortRange[]): EphemeralReport {
  const inRange = (port: number) => port >= range.low && port <= range.high;
  // A port held by bind() — a listener or a bound socket — is an incoming connection's, not an
  // outgoing one's, and connect() will not pick it.
  const boundPorts = new Set(sockets.filter((socket) => socket.state === 'LISTEN' || socket.state === 'BOUND').map((socket) => socket.localPort));
  const boundInRange = [...boundPorts].filter(inRange).length;
  let reservedInRange = 0;
  for (let port = range.low; port <= range.high; port++) if (inRanges(port, reserved) && !boundPorts.has(port)) reservedInRange++;
  const available = Math.max(0, range.size - reservedInRange - boundInRange);

  const groups = new Map<string, DestinationUsage>();
  let outgoing = 0;
  let timeWait = 0;
  for (const socket of sockets) {
    if (!HOLDS_PORT.has(socket.state) || !inRange(socket.localPort) || boundPorts.has(socket.localPort)) continue;
    outgoing++;
    if (socket.state === 'TIME_WAIT') timeWait++;
    const key = `${socket.localAddress} ${socket.remoteAddress} ${socket.remotePort}`;
    const group = groups.get(key) ?? {
      localAddress: socket.localAddress,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      connections: 0,
      timeWait: 0,
      available,
      usage: 0,
    };
    group.connections++;
    if (socket.state === 'TIME_WAIT') group.timeWait++;
    group.usage = available === 0 ? 1 : group.connections / available;
    groups.set(key, group);
  }
  const destinations = [...groups.values()].sort((a, b) => b.usage - a.usage || b.connections - a.connections);

  const warnings = destinations
    .filter((destination) => destination.usage >= WARN_AT)
    .map(
      (destination) =>
        `${destination.localAddress} → ${destination.remoteAddress}:${destination.remotePort} uses ${destination.connections} of ${destination.available} ephemeral ports (${Math.round(destination.usage * 100)}%, ${destination.timeWait} in TIME_WAIT): ` +
        'new connections to it will fail with EADDRNOTAVAIL ("cannot assign requested address") once none is left; widen net.ipv4.ip_local_port_range, reuse connections (keep-alive, pooling), or spread them over more local addresses',
    );
  return { range, reserved, boundInRange, outgoing, timeWait, destinations, warnings };
}
