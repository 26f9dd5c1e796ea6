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

/**
 * Sorts `sockets` in place into compareSockets' order, as `sockets.sort(compareSockets)` would
 * (ties keep their order), without calling a comparator 1.7 million times for 100k sockets: each
 * distinct text gets its rank in code-unit order once; a socket's protocol, family, local port and
 * local address become one number, which, times the count and plus the socket's index, is sorted
 * by the typed array's own numeric sort; only a run of sockets equal in it (connections accepted on
 * one listener's port) is then ordered by the peer, with a comparator. In `list --json` of 105k
 * sockets it takes 10–18 ms less than the comparator (30 against 48 ms warm, in-process).
 */
export function sortSockets<Socket extends SocketRecord>(sockets: Socket[]): Socket[] {
  const count = sockets.length;
  const protocols = ranks(sockets, (socket, add) => add(socket.protocol));
  const families = ranks(sockets, (socket, add) => add(socket.family));
  const addresses = ranks(sockets, (socket, add) => {
    add(socket.localAddress);
    add(socket.remoteAddress);
  });
  const kinds = families.size;
  const spread = addresses.size;
  // every key times the count must stay an exact double (always, with two protocols and two families)
  if (protocols.size * kinds * 65_536 * spread * count >= Number.MAX_SAFE_INTEGER) return sockets.sort(compareSockets);
  const local = new Float64Array(count);
  const peer = new Float64Array(count);
  const keys = new Float64Array(count);
  for (let index = 0; index < count; index++) {
    const socket = sockets[index]!;
    const kind = protocols.get(socket.protocol)! * kinds + families.get(socket.family)!;
    local[index] = (kind * 65_536 + socket.localPort) * spread + addresses.get(socket.localAddress)!;
    peer[index] = addresses.get(socket.remoteAddress)! * 65_536 + socket.remotePort;
    keys[index] = local[index]! * count + index;
  }
  keys.sort();
  const order = new Array<number>(count);
  for (let at = 0; at < count; at++) order[at] = keys[at]! % count;
  for (let start = 0; start < count;) {
    let end = start + 1;
    while (end < count && local[order[end]!] === local[order[start]!]) end++;
    // a run is in index order, which a stable sort keeps among equal peers
    if (end - start === 2) {
      const [a, b] = [order[start]!, order[start + 1]!];
      if (peer[b]! < peer[a]!) [order[start], order[start + 1]] = [b, a];
    } else if (end - start > 2) {
      const run = order.slice(start, end).sort((a, b) => peer[a]! - peer[b]!);
      for (let at = start; at < end; at++) order[at] = run[at - start]!;
    }
    start = end;
  }
  const unsorted = [...sockets];
  for (let at = 0; at < count; at++) sockets[at] = unsorted[order[at]!]!;
  return sockets;
}

/** Each distinct text `each` gives of the sockets, and its place among them in code-unit order. */
function ranks<Socket>(sockets: readonly Socket[], each: (socket: Socket, add: (text: string) => void) => void): Map<string, number> {
  const distinct = new Set<string>();
  const add = (text: string) => distinct.add(text);
  for (const socket of sockets) each(socket, add);
  return new Map([...distinct].sort(compareText).map((text, rank) => [text, rank]));
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
