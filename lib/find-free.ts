// findFreePort, findFreePorts, reservePort: free ports found in the kernel's tables, and held when asked (freeing a held port is lib/free.ts).
import dgram from 'node:dgram';
import net from 'node:net';

import { PortclashError } from './errors.js';
import { platform, refuseNetns } from './platform.js';
import { predictBinds } from './predict/index.js';
import type { Prediction, Verdict } from './predict/types.js';
import { MAX_PORT, parsePort } from './ports.js';
import type { PortRange } from './ranges.js';
import type { Protocol } from './records.js';

export interface FreePortOptions {
  /** The address the port is for, as in predictBind (default `::` dual stack, `0.0.0.0` without IPv6). */
  host?: string;
  protocol?: Protocol;
  /** The ports to choose from, both ends included (default 1024–65535). */
  range?: PortRange;
  /** Ports never to return. */
  exclude?: readonly number[];
  /**
   * Leave out the ephemeral range (default true): connect() and bind(0) take ports from it at any
   * moment, so a port found there may be some client's local port by the time it is bound.
   */
  avoidEphemeral?: boolean;
}

/**
 * A port held open: the listening server (TCP) or bound socket (UDP) that holds it, until `close()`.
 * `fd` is the listening socket's descriptor, to give a child process in `stdio` (-1 where there is none: Windows).
 */
export type ReservedPort = ReservedTcpPort | ReservedUdpPort;
export interface ReservedTcpPort {
  port: number;
  protocol: 'tcp';
  host: string;
  server: net.Server;
  fd: number;
  close(): Promise<void>;
}
export interface ReservedUdpPort {
  port: number;
  protocol: 'udp';
  host: string;
  socket: dgram.Socket;
  close(): Promise<void>;
}

export const FREE_DEFAULTS = {
  range: [1024, MAX_PORT] as PortRange,
  /** Ports asked about in one predictBinds call: one reading of the table each (one, where there are no tables). */
  batch: 512,
  /** At most this many ports are predicted per call: the work is bounded however large the range. */
  maxChecked: 8192,
  /** reservePort: listen() attempts on ports found free, before giving up on a range where others keep winning. */
  maxAttempts: 64,
} as const;

/** One port the kernel's tables say a bind of Node's defaults would get. */
export async function findFreePort(options: FreePortOptions = {}): Promise<number> {
  const [port] = await findFreePorts(1, options);
  return port!;
}

/**
 * `count` distinct ports, each `free` by predictBind for these options, in random order. `unknown`
 * is not free: a port whose answer cannot be known is never returned. Nothing is bound: another
 * process may take a port before the caller does (reservePort holds it instead).
 */
export async function findFreePorts(count: number, options: FreePortOptions = {}): Promise<number[]> {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_PORT) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `count must be a whole number from 1 to ${MAX_PORT}, got ${JSON.stringify(count) ?? String(count)}`);
  }
  const search = startSearch(options);
  const ports: number[] = [];
  for await (const prediction of search.free()) {
    ports.push(prediction.port);
    if (ports.length === count) return ports;
  }
  throw search.exhausted(count === 1 ? 'free port' : `${count} free ports (found ${ports.length})`);
}

/**
 * A port found as findFreePort does, then held: listened on (TCP, with Node's listen defaults) or
 * bound (UDP). A port another process took since the tables were read fails with EADDRINUSE and
 * the next candidate is tried. Hand the server on (`app.listen(reserved.server)`, or `reserved.fd`
 * to a child) or `close()` it to release the port.
 */
export async function reservePort(options?: FreePortOptions & { protocol?: 'tcp' }): Promise<ReservedTcpPort>;
export async function reservePort(options: FreePortOptions & { protocol: 'udp' }): Promise<ReservedUdpPort>;
export async function reservePort(options?: FreePortOptions): Promise<ReservedPort>;
export async function reservePort(options: FreePortOptions = {}): Promise<ReservedPort> {
  const search = startSearch(options);
  let attempts = 0;
  for await (const prediction of search.free()) {
    const reserved = await hold(prediction, search.hostGiven);
    if (reserved !== null) return reserved;
    search.counts.set('taken', (search.counts.get('taken') ?? 0) + 1);
    if (++attempts >= FREE_DEFAULTS.maxAttempts) break;
  }
  throw search.exhausted('port to reserve');
}

interface Search {
  hostGiven: boolean;
  /** Verdicts seen so far, and `taken`: free by the tables, but listen() met EADDRINUSE. */
  counts: Map<Verdict | 'taken', number>;
  free(): AsyncGenerator<Prediction>;
  exhausted(wanted: string): PortclashError;
}

function startSearch(options: FreePortOptions): Search {
  const checked = checkOptions(options);
  const os = platform();
  const facts = os.readSystemFacts();
  // without tables every candidate is a trial bind: try them one at a time, and stop at the first that will do
  const batchSize = os.readsTables ? FREE_DEFAULTS.batch : 1;
  const ephemeral: PortRange = checked.protocol === 'udp' && facts.kernel === 'win32' ? facts.udpEphemeralRange : facts.ephemeralRange;
  const excluded = new Set(checked.exclude);
  const candidates: number[] = [];
  for (let port = checked.range[0]; port <= checked.range[1]; port++) {
    if (excluded.has(port)) continue;
    if (checked.avoidEphemeral && port >= ephemeral[0] && port <= ephemeral[1]) continue;
    candidates.push(port);
  }
  shuffle(candidates);
  const counts = new Map<Verdict | 'taken', number>();
  const examples = new Map<Verdict, Prediction>();
  let seen = 0;
  const limit = Math.min(candidates.length, FREE_DEFAULTS.maxChecked);
  const base = { protocol: checked.protocol, ...(checked.host === undefined ? {} : { host: checked.host }) };
  return {
    hostGiven: checked.host !== undefined,
    counts,
    async *free() {
      while (seen < limit) {
        const batch = candidates.slice(seen, Math.min(limit, seen + batchSize));
        seen += batch.length;
        // owners are never named: a refused port is only counted
        const predictions = await predictBinds(
          batch.map((port) => ({ ...base, port })),
          { owners: false },
        );
        for (const prediction of predictions) {
          counts.set(prediction.verdict, (counts.get(prediction.verdict) ?? 0) + 1);
          if (prediction.verdict === 'free') yield prediction;
          else if (!examples.has(prediction.verdict)) examples.set(prediction.verdict, prediction);
        }
      }
    },
    exhausted(wanted) {
      const [low, high] = checked.range;
      const where = `${low}–${high}/${checked.protocol}${checked.host === undefined ? '' : ` on ${checked.host}`}`;
      const left = [
        checked.exclude.length > 0 ? `${checked.exclude.length} excluded` : '',
        // only where it took candidates away: for a range clear of it, allowing it would change nothing
        checked.avoidEphemeral && ephemeral[0] <= high && ephemeral[1] >= low
          ? `the ephemeral range ${ephemeral[0]}–${ephemeral[1]} left out (avoidEphemeral: false allows it)`
          : '',
      ].filter((text) => text !== '');
      const refused = [...counts]
        .filter(([verdict]) => verdict !== 'free')
        .map(([verdict, number]) => {
          const example = verdict === 'taken' ? undefined : examples.get(verdict);
          const label = verdict === 'taken' ? 'taken before listen()' : verdict;
          return `${label} ${number}${example === undefined ? '' : ` (${example.port}: ${example.reason})`}`;
        });
      const scope =
        seen < candidates.length ? `${seen} of ${candidates.length} candidates checked (at most ${FREE_DEFAULTS.maxChecked} per call)` : `${seen} checked`;
      return new PortclashError(
        'ERR_NO_FREE_PORT',
        `no ${wanted} in ${where}${left.length === 0 ? '' : ` (${left.join('; ')})`}: ${scope}; ${
          refused.length === 0 ? 'no candidate was left' : `refused: ${refused.join(', ')}`
        }`,
      );
    },
  };
}

interface CheckedOptions {
  host: string | undefined;
  protocol: Protocol;
  range: PortRange;
  exclude: number[];
  avoidEphemeral: boolean;
}

function checkOptions(options: FreePortOptions): CheckedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the options must be an object like { range: [3000, 3999] }');
  }
  refuseNetns(options, 'findFreePort');
  const protocol = options.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  const { host } = options;
  if (host !== undefined && typeof host !== 'string') throw new PortclashError('ERR_INVALID_HOST', `host must be a string, got ${JSON.stringify(host)}`);
  const given = options.range ?? FREE_DEFAULTS.range;
  if (!Array.isArray(given) || given.length !== 2) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `range must be [low, high], got ${JSON.stringify(given) ?? String(given)}`);
  }
  const low = parsePort(given[0], 'range low');
  const high = parsePort(given[1], 'range high');
  // port 0 is no port: binding it asks the kernel to choose one from the ephemeral range
  if (low === 0) throw new PortclashError('ERR_INVALID_PORT', 'range low must be 1 or more: port 0 asks the kernel to choose a port');
  if (low > high) throw new PortclashError('ERR_INVALID_ARGUMENT', `range must be [low, high] with low ≤ high, got [${low}, ${high}]`);
  const exclude = options.exclude ?? [];
  if (!Array.isArray(exclude)) throw new PortclashError('ERR_INVALID_ARGUMENT', 'exclude must be an array of ports');
  const avoidEphemeral = options.avoidEphemeral ?? true;
  if (typeof avoidEphemeral !== 'boolean') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `avoidEphemeral must be a boolean, got ${JSON.stringify(avoidEphemeral)}`);
  }
  return { host, protocol, range: [low, high], exclude: exclude.map((port) => parsePort(port, 'each port of exclude')), avoidEphemeral };
}

/**
 * Fisher–Yates. Parallel callers (test workers, get-port #23) that walked the range in order would
 * all find the same lowest port free and race for it; in random order two rarely pick the same.
 */
function shuffle(ports: number[]): void {
  for (let index = ports.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [ports[index], ports[other]] = [ports[other]!, ports[index]!];
  }
}

/**
 * Listens (TCP) or binds (UDP) on the predicted port and address: the caller's host as resolved,
 * or Node's default when none was given. null when another socket took the port meanwhile.
 */
async function hold(prediction: Prediction, hostGiven: boolean): Promise<ReservedPort | null> {
  const { port, host, protocol } = prediction;
  if (protocol === 'tcp') {
    const server = net.createServer();
    server.listen(hostGiven ? { port, host } : { port });
    if (!(await bound(server))) return null;
    // net.Server keeps its handle private; its fd is what a child's stdio or listen({ fd }) takes
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    return { port, protocol, host, server, fd, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.bind(hostGiven ? { port, address: host } : { port });
  if (!(await bound(socket))) {
    socket.close();
    return null;
  }
  return { port, protocol, host, socket, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/** true once listening; false for EADDRINUSE; rejects with any other error. No listener outlives the wait. */
function bound(emitter: net.Server | dgram.Socket): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const onListening = () => {
      emitter.off('error', onError);
      resolve(true);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      emitter.off('listening', onListening);
      if (error.code === 'EADDRINUSE') resolve(false);
      else reject(error);
    };
    emitter.once('listening', onListening);
    emitter.once('error', onError);
  });
}
