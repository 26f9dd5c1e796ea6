// How results read for people, for every command: owners, sockets, predictions, and aligned tables.
import { formatEndpoint } from '../address.js';
import { describeOwner, shorten } from '../describe.js';
import type { OwnedSocket, ProcessInfo } from '../owners.js';
import type { Prediction } from '../predict/types.js';
import type { SocketRecord } from '../records.js';

export { describeOwner, describePrediction, shorten } from '../describe.js';

// Parents shown on a process's line, each command cut to a width; --json has them all (lib/processes.ts CHAIN_DEPTH).
const PARENTS_SHOWN = 3;
const PARENT_WIDTH = 40;

/** `node server.js (pid 4121, user deploy) ← npm run dev (pid 4100) ← bash (pid 3000)`: at most three parents, then `…`. */
export function describeWithParents(owner: ProcessInfo, parents: readonly ProcessInfo[]): string {
  const labels = parents.slice(0, PARENTS_SHOWN).map((parent) => `${shorten(parent.command, PARENT_WIDTH)} (pid ${parent.pid})`);
  if (parents.length > PARENTS_SHOWN) labels.push('…');
  return [describeOwner({ ...owner, fd: null }), ...labels].join(' ← ');
}

/** The short form for a table column: `node[4121]`, `nginx[100,101]`, `-` (no process), `?` (unknown). */
export function ownerColumn(socket: OwnedSocket): string {
  if (socket.owners.length > 0) {
    const name = socket.owners[0]!.name ?? '?';
    return `${name}[${[...new Set(socket.owners.map((owner) => owner.pid))].join(',')}]`;
  }
  return socket.ownerUnknown === 'kernel' ? '-' : `?(${socket.ownerUnknown ?? 'unknown'})`;
}

/** `tcp`, `udp6`: protocol and family in one word, as ss and netstat write them. */
export function protocolLabel(socket: SocketRecord): string {
  return socket.family === 'IPv6' ? `${socket.protocol}6` : socket.protocol;
}

/** `tcp6 [::1]:3000 → [::1]:51872 ESTABLISHED` */
export function describeSocket(socket: SocketRecord): string {
  const protocol = protocolLabel(socket);
  const local = formatEndpoint(socket.family, socket.localAddress, socket.localPort);
  const peer = socket.remotePort === 0 ? '' : ` → ${formatEndpoint(socket.family, socket.remoteAddress, socket.remotePort)}`;
  return `${protocol} ${local}${peer} ${socket.state}`;
}

/** The table of `list` and `ports`: one row per socket, and a Process column when the owners were looked up. */
export function formatSocketTable(sockets: readonly (SocketRecord | OwnedSocket)[]): string {
  const withOwners = sockets.length > 0 && 'owners' in sockets[0]!;
  return formatTable(
    ['Proto', 'Local address:port', 'Remote address:port', 'State', 'UID', ...(withOwners ? ['Process'] : [])],
    sockets.map((socket) => [
      protocolLabel(socket),
      formatEndpoint(socket.family, socket.localAddress, socket.localPort),
      formatEndpoint(socket.family, socket.remoteAddress, socket.remotePort === 0 ? '*' : socket.remotePort),
      socket.state,
      String(socket.uid),
      ...('owners' in socket ? [ownerColumn(socket)] : []),
    ]),
  );
}

/** The order of a socket table: protocol, family, local port and address, then the peer. */
export function compareSockets(a: SocketRecord, b: SocketRecord): number {
  return (
    compareText(a.protocol, b.protocol) ||
    compareText(a.family, b.family) ||
    a.localPort - b.localPort ||
    compareText(a.localAddress, b.localAddress) ||
    compareText(a.remoteAddress, b.remoteAddress) ||
    a.remotePort - b.remotePort
  );
}

// Code-unit order: stable across locales, and far cheaper than localeCompare on 100k rows.
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A line for each fact an unknown verdict depends on, or that another verdict assumed because it could not be seen. */
export function dependsOn(prediction: Prediction): string[] {
  const label = prediction.verdict === 'unknown' ? 'depends on' : 'assumes';
  return prediction.assumptions.map((assumption) => `  ${label}: ${assumption}`);
}

/** Aligned plain-text tables for people: columns padded to their widest cell. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => rows.reduce((widest, row) => Math.max(widest, (row[column] ?? '').length), title.length));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
