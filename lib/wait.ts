// waitForPort: poll the kernel's tables until a port is listening (or free), without ever connecting to it.
import net from 'node:net';

import { abortable, abortableSleep, checkPolling, throwIfAborted } from './abort.js';
import { formatEndpoint } from './address.js';
import { PortclashError } from './errors.js';
import { findOwners, type OwnedSocket } from './owners.js';
import { platform, refuseNetns } from './platform.js';
import { unsupported as unsupportedHere } from './probing/index.js';
import { predictBind } from './predict/index.js';
import { connectAddressesOf, parseHost } from './predict/request.js';
import type { Prediction } from './predict/types.js';
import type { Protocol, SocketRecord } from './records.js';
import { parsePortOrService } from './services.js';

export interface WaitOptions {
  /** `listening`: until a socket accepts on the port (and host); `free`: until a bind would succeed. */
  until: 'listening' | 'free';
  /**
   * `listening`: the address a client would connect to; a listener counts if it accepts there (the
   * address itself, or its family's wildcard, or a dual-stack `::` for an IPv4 address). A host name
   * counts every address dns.lookup gives for it, as Node 20's connect() tries them all. Without a
   * host, any listener on the port. `free`: the address to bind, as in predictBind (default `::`).
   */
  host?: string;
  protocol?: Protocol;
  /** Milliseconds before rejecting with ERR_TIMEOUT (default 30 000; 0 looks once; Infinity never). */
  timeout?: number;
  /** Milliseconds between looks (default 100, at least 10). */
  interval?: number;
  signal?: AbortSignal;
}

/** What waitForPort saw when the condition held. */
export type WaitResult =
  | {
      until: 'listening';
      port: number;
      protocol: Protocol;
      /** The addresses a listener had to accept on; empty when no host was given (any address did). */
      addresses: string[];
      /** The sockets that accept on them (none when found by connecting). */
      listeners: SocketRecord[];
      /**
       * `tables`: seen in the kernel's socket tables. `connect`: a connection was accepted, on a
       * platform without tables (lib/probing); `connectedTo` is the address that accepted.
       */
      source: 'tables' | 'connect';
      connectedTo?: string;
    }
  | { until: 'free'; port: number; protocol: Protocol; prediction: Prediction };

export const WAIT_DEFAULTS = { timeout: 30_000, interval: 100, minInterval: 10 } as const;

/**
 * What the last look saw when a wait timed out. `listening`: the port's listeners, which accept
 * elsewhere than the host asked for (none when nothing listened; always none where the wait
 * connects). `free`: the last prediction, whose conflicts are the sockets in the way, with their
 * owners where they could be named.
 */
export type WaitLastSeen = { until: 'listening'; listeners: (SocketRecord | OwnedSocket)[] } | { until: 'free'; prediction: Prediction };

/** waitForPort's ERR_TIMEOUT: the message says what the last look saw, and `lastSeen` holds it. */
export class WaitTimeoutError extends PortclashError {
  declare readonly code: 'ERR_TIMEOUT';
  readonly lastSeen: WaitLastSeen;

  constructor(message: string, lastSeen: WaitLastSeen) {
    super('ERR_TIMEOUT', message);
    this.lastSeen = lastSeen;
  }
}

/**
 * Resolves once `port` is listening or free, by reading the kernel's tables every `interval` ms: no
 * connection is made, so a server with a full accept queue, or one on `::1` only, counts as
 * listening, and the server sees no probe. Rejects with ERR_TIMEOUT saying what it saw last, or
 * ABORT_ERR when `signal` fires. No timer outlives the call.
 */
export async function waitForPort(port: number | string, options: WaitOptions): Promise<WaitResult> {
  const checked = checkOptions(port, options);
  const { signal } = checked;
  const stopped = () => abortError(checked);
  throwIfAborted(signal, stopped);
  const deadline = Date.now() + checked.timeout;
  // a host name is resolved once, before the first look; an abort ends that wait too
  const probe =
    checked.until === 'free'
      ? freeProbe(checked)
      : await abortable(platform().readsTables ? listeningProbe(checked) : connectingProbe(checked), signal, stopped);
  for (;;) {
    const outcome = await abortable(probe.look(), signal, stopped);
    if (outcome.done) return outcome.result;
    const left = deadline - Date.now();
    if (left <= 0) {
      const { message, lastSeen } = await abortable(probe.describeLast(checked.timeout), signal, stopped);
      throw new WaitTimeoutError(message, lastSeen);
    }
    await abortableSleep(Math.min(checked.interval, left), signal, stopped);
  }
}

interface CheckedWait {
  port: number;
  protocol: Protocol;
  until: 'listening' | 'free';
  host: string | undefined;
  timeout: number;
  interval: number;
  signal: AbortSignal | undefined;
}

type Look = { done: true; result: WaitResult } | { done: false };

interface Probe {
  look(): Promise<Look>;
  /** The timeout's message, what the last look saw, with the holders named. */
  describeLast(timeout: number): Promise<{ message: string; lastSeen: WaitLastSeen }>;
}

function checkOptions(port: number | string, options: WaitOptions): CheckedWait {
  if (typeof options !== 'object' || options === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', "the options must be an object like { until: 'listening' }");
  }
  refuseNetns(options, 'waitForPort');
  const { until, host, signal } = options;
  const protocol = options.protocol ?? 'tcp';
  if (until !== 'listening' && until !== 'free') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `until must be 'listening' or 'free', got ${JSON.stringify(until)}`);
  }
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  const parsed = parsePortOrService(port, protocol).port;
  if (parsed === 0)
    throw new PortclashError('ERR_INVALID_PORT', 'port 0 asks the kernel to choose a port: there is nothing to wait for; give the port the server will use');
  if (host !== undefined && typeof host !== 'string') throw new PortclashError('ERR_INVALID_HOST', `host must be a string, got ${JSON.stringify(host)}`);
  const timeout = options.timeout ?? WAIT_DEFAULTS.timeout;
  if (typeof timeout !== 'number' || Number.isNaN(timeout) || timeout < 0) {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `timeout must be a number of milliseconds, 0 or more (Infinity waits for ever), got ${JSON.stringify(timeout) ?? String(timeout)}`,
    );
  }
  const { interval } = checkPolling(options, WAIT_DEFAULTS.interval, WAIT_DEFAULTS.minInterval);
  return { port: parsed, protocol, until, host, timeout, interval, signal };
}

async function listeningProbe(wait: CheckedWait): Promise<Probe> {
  const addresses = wait.host === undefined ? [] : await connectAddressesOf(wait.host);
  const filter = { port: wait.port, protocol: wait.protocol, listening: true };
  let last: SocketRecord[] = [];
  return {
    async look() {
      last = (await platform().readTables(filter, 'auto')).sockets;
      const listeners = addresses.length === 0 ? last : last.filter((socket) => acceptsOnAny(socket, addresses));
      if (listeners.length === 0) return { done: false };
      return { done: true, result: { until: 'listening', port: wait.port, protocol: wait.protocol, addresses, listeners, source: 'tables' } };
    },
    async describeLast(timeout) {
      const label = `${wait.port}/${wait.protocol}`;
      const where =
        wait.host === undefined ? '' : ` on ${wait.host}${wait.host === addresses[0] && addresses.length === 1 ? '' : ` (${addresses.join(', ')})`}`;
      const head = `nothing listened on ${label}${where} within ${formatMs(timeout)}`;
      if (last.length === 0) return { message: `${head}: no socket listens on that port`, lastSeen: { until: 'listening', listeners: [] } };
      // listeners elsewhere on the port: the likely mistake is the host, so say whose they are
      const owned = await findOwners(last, { scan: 'first' }).catch(() => last.map((socket): OwnedSocket | SocketRecord => socket));
      return {
        message: `${head}: the port's listeners accept elsewhere: ${owned.map(describeHeld).join('; ')}`,
        lastSeen: { until: 'listening', listeners: owned },
      };
    },
  };
}

// Where a connection attempt gives up: on loopback a refusal is immediate, and a listener whose queue is full drops the SYN.
const CONNECT_TIMEOUT = 1000;

/**
 * Without tables (lib/probing), a TCP listener shows only by accepting a connection: to each address
 * of the host, or to 127.0.0.1 and ::1 when none was given. The server sees the connection, and one
 * whose accept queue is full, or that listens on another address only, is not seen; said in docs/api.md.
 */
async function connectingProbe(wait: CheckedWait): Promise<Probe> {
  if (wait.protocol === 'udp') {
    throw unsupportedHere('waiting for a UDP socket to be bound (a trial bind would race the server for its port)');
  }
  const addresses = wait.host === undefined ? ['127.0.0.1', '::1'] : await connectAddressesOf(wait.host);
  let last: string[] = [];
  return {
    async look() {
      const answers = await Promise.all(addresses.map((address) => tryConnect(address, wait.port)));
      const accepted = addresses.find((_, index) => answers[index] === null);
      last = answers.map((answer, index) => `${addresses[index]}: ${answer ?? 'accepted'}`);
      if (accepted === undefined) return { done: false };
      return {
        done: true,
        result: { until: 'listening', port: wait.port, protocol: 'tcp', addresses, listeners: [], source: 'connect', connectedTo: accepted },
      };
    },
    describeLast(timeout) {
      return Promise.resolve({
        message: `nothing accepted a connection to ${wait.port}/tcp within ${formatMs(timeout)} (${last.join(', ')}); without socket tables on this platform, a listener whose accept queue is full, or one on another address, cannot be seen`,
        lastSeen: { until: 'listening', listeners: [] },
      });
    },
  };
}

/** null when a connection to address:port was accepted (and closed at once), else why not (ECONNREFUSED, timed out). */
function tryConnect(address: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: address });
    const done = (answer: string | null) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(CONNECT_TIMEOUT, () => done(`no answer within ${formatMs(CONNECT_TIMEOUT)}`));
    socket.once('connect', () => done(null));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

function freeProbe(wait: CheckedWait): Probe {
  const request = { port: wait.port, protocol: wait.protocol, ...(wait.host === undefined ? {} : { host: wait.host }) };
  let last: Prediction | undefined;
  return {
    async look() {
      // owners are named once, for the timeout's message: while polling they cost a /proc scan each time
      last = await predictBind(request, { owners: false });
      return last.verdict === 'free' ? { done: true, result: { until: 'free', port: wait.port, protocol: wait.protocol, prediction: last } } : { done: false };
    },
    async describeLast(timeout) {
      const prediction = last!;
      const head = `${prediction.port}/${prediction.protocol} on ${prediction.host} was not free within ${formatMs(timeout)}: ${prediction.verdict}${prediction.errno === null ? '' : ` (${prediction.errno})`} — ${prediction.reason}`;
      const conflicts = prediction.conflicts.filter((socket) => !socket.kernelOnly);
      const owned = conflicts.length === 0 ? [] : await findOwners(conflicts, { scan: 'first' }).catch(() => []);
      const holders = owned.length === 0 ? '' : `; held by ${owned.map(describeHeld).join('; ')}`;
      const depends = prediction.verdict === 'unknown' && prediction.assumptions.length > 0 ? `; it depends on: ${prediction.assumptions.join('; ')}` : '';
      // the conflicts with their owners, where the scan named them (findOwners answers in order, one for each)
      const named = new Map<SocketRecord, OwnedSocket>(owned.map((socket, index) => [conflicts[index]!, socket]));
      const withOwners = prediction.conflicts.map((socket) => named.get(socket) ?? socket);
      return { message: `${head}${holders}${depends}`, lastSeen: { until: 'free', prediction: { ...prediction, conflicts: withOwners } } };
    },
  };
}

/**
 * Whether a connection to `address` would reach this listener: the same address, or the wildcard
 * of its family; an IPv4 address also reaches a `::` socket that takes IPv4 (IPV6_V6ONLY off), or
 * one bound to its v4-mapped form. Where `ipv6Only` is unknown (/proc), a `::` socket is taken to
 * be dual-stack: that is Linux's default (net.ipv6.bindv6only 0) and what Node's listen() sets.
 */
export function acceptsOn(listener: SocketRecord, address: string): boolean {
  const target = parseHost(address);
  if ('error' in target) return false;
  const mappedV4 = target.family === 'IPv6' && /^::ffff:\d+\.\d+\.\d+\.\d+$/.test(target.canonical) ? target.canonical.slice(7) : null;
  const family = mappedV4 === null ? target.family : 'IPv4';
  const canonical = mappedV4 ?? target.canonical;
  const local = parseHost(listener.localAddress);
  if ('error' in local) return false;
  if (listener.family === 'IPv4') return family === 'IPv4' && (local.canonical === '0.0.0.0' || local.canonical === canonical);
  if (family === 'IPv6') return local.canonical === '::' || local.canonical === canonical;
  return (local.canonical === '::' && listener.ipv6Only !== true) || local.canonical === `::ffff:${canonical}`;
}

export function acceptsOnAny(listener: SocketRecord, addresses: readonly string[]): boolean {
  return addresses.some((address) => acceptsOn(listener, address));
}

/** `node server.js (pid 4121) on 127.0.0.1:3000`, or the socket alone when its owner is unknown. */
export function describeHeld(socket: SocketRecord | OwnedSocket): string {
  const endpoint = formatEndpoint(socket.family, socket.localAddress, socket.localPort);
  const owners = 'owners' in socket ? [...new Map(socket.owners.map((owner) => [owner.pid, owner])).values()] : [];
  if (owners.length === 0) {
    const why = 'ownerUnknown' in socket && socket.ownerUnknown !== undefined ? ` (owner unknown: ${socket.ownerUnknown})` : '';
    return `${socket.state} on ${endpoint}${why}`;
  }
  return `${owners.map((owner) => `${owner.name ?? owner.command} (pid ${owner.pid})`).join(', ')} on ${endpoint}`;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** ABORT_ERR, with the signal's reason as its cause: Node's own code for an aborted operation. */
function abortError(wait: CheckedWait): PortclashError {
  return new PortclashError('ABORT_ERR', `the wait for ${wait.port}/${wait.protocol} to be ${wait.until} was aborted`, { cause: wait.signal?.reason });
}
