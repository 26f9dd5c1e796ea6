// watchSockets: read the socket tables every interval and report what opened, closed or changed state since the last look.
import { abortable, abortableSleep, checkPolling, throwIfAborted } from './abort.js';
import { PortclashError } from './errors.js';
import { findOwners, type OwnedSocket, type OwnerOptions } from './owners.js';
import { refuseNetns } from './platform.js';
import type { SocketRecord, SocketState } from './records.js';
import { parsePortOrService } from './services.js';
import { readSocketTables, type SocketFilter } from './sockets.js';

export interface WatchOptions {
  /** Milliseconds from the start of one look to the start of the next (default 1000, at least 10). */
  interval?: number;
  signal?: AbortSignal;
  /**
   * Name the processes holding each socket: looked up once, when the socket first appears (and
   * when a socket only the kernel held comes to be held, as an accepted connection does), never
   * for every socket at every look. `true` scans with `{ scan: 'first' }`; an object says how.
   */
  owners?: boolean | OwnerOptions;
}

/**
 * `present`: there at the first look (every socket then, before any other event). `opened`: there
 * now and not at the last look. `closed`: gone since the last look; `socket` is the record as last
 * seen, with the owners it had. `state`: the same socket in another state.
 */
export type SocketEvent<S extends SocketRecord = SocketRecord> =
  { type: 'present' | 'opened' | 'closed'; at: Date; socket: S } | { type: 'state'; at: Date; previousState: SocketState; socket: S };

/** One look: its events (closed, then state, then opened), and every socket it saw, by the key that pairs it with the next look's. */
export interface WatchTick<S extends SocketRecord = SocketRecord> {
  at: Date;
  events: SocketEvent<S>[];
  sockets: ReadonlyMap<string, S>;
}

export const WATCH_DEFAULTS = { interval: 1000, minInterval: 10 } as const;

/**
 * The changes to the sockets `filter` selects, as an async iterator: one read of the tables per
 * look, with the filter pushed down to the kernel as listSockets does. Ends with ABORT_ERR when
 * `signal` fires, as waitForPort does; `break` ends it too. No timer outlives the iteration.
 */
export function watchSockets(filter?: SocketFilter, options?: WatchOptions & { owners?: false }): AsyncGenerator<SocketEvent, void, undefined>;
export function watchSockets(
  filter: SocketFilter,
  options: WatchOptions & { owners: true | OwnerOptions },
): AsyncGenerator<SocketEvent<OwnedSocket>, void, undefined>;
export function watchSockets(filter?: SocketFilter, options?: WatchOptions): AsyncGenerator<SocketEvent<SocketRecord | OwnedSocket>, void, undefined>;
export async function* watchSockets(
  filter: SocketFilter = {},
  options: WatchOptions = {},
): AsyncGenerator<SocketEvent<SocketRecord | OwnedSocket>, void, undefined> {
  for await (const tick of watchTicks(filter, options)) yield* tick.events;
}

/** watchSockets a look at a time, for views that redraw everything they see (`list --watch` on a terminal). */
export async function* watchTicks(
  filter: SocketFilter = {},
  options: WatchOptions = {},
): AsyncGenerator<WatchTick<SocketRecord | OwnedSocket>, void, undefined> {
  const { interval, signal, owners } = checkOptions(options);
  const stopped = () => new PortclashError('ABORT_ERR', 'the watch of the socket tables was aborted', { cause: signal?.reason });
  throwIfAborted(signal, stopped);
  // a service name is looked up once; readSocketTables checks the filter at each look
  const query: SocketFilter =
    typeof filter === 'object' && filter !== null && typeof filter.port === 'string'
      ? { ...filter, port: parsePortOrService(filter.port, filter.protocol).port }
      : filter;
  // only the last look is kept: memory follows the size of the table, not the length of the watch
  let previous: Map<string, SocketRecord | OwnedSocket> | undefined;
  for (;;) {
    const began = Date.now();
    const { sockets } = await abortable(readSocketTables(query), signal, stopped);
    const at = new Date();
    const change = compareLooks(previous ?? new Map(), sockets);
    if (owners !== undefined) await abortable(nameOwners(change, owners), signal, stopped);
    const { current } = change;
    const events: SocketEvent<SocketRecord | OwnedSocket>[] = [
      ...change.closed.map((socket) => ({ type: 'closed' as const, at, socket })),
      ...change.changed.map(({ key, previousState }) => ({ type: 'state' as const, at, previousState, socket: current.get(key)! })),
      ...change.opened.map((key) => ({ type: previous === undefined ? ('present' as const) : ('opened' as const), at, socket: current.get(key)! })),
    ];
    previous = current;
    yield { at, events, sockets: current };
    await abortableSleep(Math.max(0, began + interval - Date.now()), signal, stopped);
  }
}

interface CheckedWatch {
  interval: number;
  signal: AbortSignal | undefined;
  owners: OwnerOptions | undefined;
}

function checkOptions(options: WatchOptions): CheckedWatch {
  if (typeof options !== 'object' || options === null)
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the options must be an object like { interval: 1000 }');
  const { owners } = options;
  refuseNetns(options, 'watchSockets');
  if (typeof owners === 'object' && owners !== null) refuseNetns(owners, 'watchSockets');
  const { interval, signal } = checkPolling(options, WATCH_DEFAULTS.interval, WATCH_DEFAULTS.minInterval);
  if (owners !== undefined && typeof owners !== 'boolean' && (typeof owners !== 'object' || owners === null)) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `owners must be a boolean or findOwners' options, got ${JSON.stringify(owners)}`);
  }
  // the scan that stops once every socket has an owner: a watch looks up owners at many looks
  const ownerOptions = owners === true ? { scan: 'first' as const } : owners === false || owners === undefined ? undefined : owners;
  return { interval, signal, owners: ownerOptions };
}

/** What changed from one look to the next, by the keys of `current`, so that owners named later are in the events. */
interface Change {
  current: Map<string, SocketRecord | OwnedSocket>;
  opened: string[];
  changed: { key: string; previousState: SocketState }[];
  closed: (SocketRecord | OwnedSocket)[];
  /** Sockets seen before in the kernel's hands only, and held by a process now (an accept()ed connection). */
  nowHeld: string[];
}

/**
 * Pairs the sockets of two looks. A socket is known by its endpoints and, where the OS gives one,
 * its inode (Linux) or owning pid (Windows): a socket closed and another opened on the same
 * endpoints between two looks is a close and an open. But a socket's inode becomes 0 when no file
 * holds it any more (close() leaves FIN_WAIT or TIME_WAIT behind), and is 0 for a connection not
 * yet accept()ed: such a socket is paired by its endpoints alone. A TIME_WAIT is a connection's
 * last state, so whatever follows it on its endpoints is another socket. A socket whose endpoints
 * change (a UDP socket's connect()) is, to a reader of the table, another row: a close and an open.
 */
export function compareLooks(previous: ReadonlyMap<string, SocketRecord | OwnedSocket>, sockets: readonly SocketRecord[]): Change {
  const current = new Map<string, SocketRecord | OwnedSocket>();
  const change: Change = { current, opened: [], changed: [], closed: [], nowHeld: [] };
  const gone = new Map(previous);
  const unpaired: string[] = [];
  for (const socket of sockets) {
    const key = socketKey(socket);
    // the same socket twice in one look (no reader gives that) is kept once
    if (current.has(key)) continue;
    const before = gone.get(key);
    if (before !== undefined && sameSocket(before, socket)) {
      gone.delete(key);
      pair(key, before, socket, change);
    } else {
      current.set(key, socket);
      unpaired.push(key);
    }
  }
  // the few whose inode or pid came or went: paired by endpoints among the sockets left over
  const leftOver = new Map<string, [string, SocketRecord | OwnedSocket][]>();
  for (const entry of gone) {
    const endpoints = endpointsKey(entry[1]);
    leftOver.set(endpoints, [...(leftOver.get(endpoints) ?? []), entry]);
  }
  for (const key of unpaired) {
    const socket = current.get(key)!;
    const candidates = leftOver.get(endpointsKey(socket)) ?? [];
    const index = candidates.findIndex(([, before]) => sameSocket(before, socket));
    if (index === -1) {
      change.opened.push(key);
      continue;
    }
    const [previousKey, before] = candidates.splice(index, 1)[0]!;
    gone.delete(previousKey);
    pair(key, before, socket, change);
  }
  change.closed.push(...gone.values());
  return change;
}

/** Records the socket as seen now, with the owners it had, and a state event when its state changed. */
function pair(key: string, before: SocketRecord | OwnedSocket, socket: SocketRecord, change: Change): void {
  let now: SocketRecord | OwnedSocket = socket;
  if ('owners' in before) {
    if (socket.kernelOnly) now = { ...socket, owner: null, owners: [], ownerUnknown: 'kernel' };
    else if (before.kernelOnly) change.nowHeld.push(key);
    else now = { ...socket, ...ownersOf(before) };
  }
  change.current.set(key, now);
  if (before.state !== socket.state) change.changed.push({ key, previousState: before.state });
}

function ownersOf(socket: OwnedSocket): Omit<OwnedSocket, keyof SocketRecord> {
  const { owner, owners, ownerUnknown, reuseAddr, reusePort, optionsUnread } = socket;
  return {
    owner,
    owners,
    ...(ownerUnknown === undefined ? {} : { ownerUnknown }),
    ...(reuseAddr === undefined ? {} : { reuseAddr }),
    ...(reusePort === undefined ? {} : { reusePort }),
    ...(optionsUnread === undefined ? {} : { optionsUnread }),
  };
}

/** Looks up the owners of the sockets that opened or came to be held, and puts them in `change.current`. */
async function nameOwners(change: Change, options: OwnerOptions): Promise<void> {
  const keys = [...change.opened, ...change.nowHeld];
  if (keys.length === 0) return;
  const owned = await findOwners(
    keys.map((key) => change.current.get(key)!),
    options,
  );
  keys.forEach((key, index) => change.current.set(key, owned[index]!));
}

function sameSocket(before: SocketRecord, socket: SocketRecord): boolean {
  if (before.inode !== 0 && socket.inode !== 0) return before.inode === socket.inode;
  if (before.ownerPid !== undefined && socket.ownerPid !== undefined && before.ownerPid !== socket.ownerPid) return false;
  return before.state !== 'TIME_WAIT' || socket.state === 'TIME_WAIT';
}

function endpointsKey(socket: SocketRecord): string {
  return `${socket.protocol} ${socket.family} ${socket.localAddress} ${socket.localPort} ${socket.remoteAddress} ${socket.remotePort}`;
}

function socketKey(socket: SocketRecord): string {
  return `${endpointsKey(socket)} ${socket.inode} ${socket.ownerPid ?? ''}`;
}
