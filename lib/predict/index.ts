// predictBind: ask the kernel the narrowest question first, find owners only for the sockets in the way.
import { lookup } from 'node:dns/promises';

import { PortclashError } from '../errors.js';
import { readSystemFacts, type SystemFacts } from '../facts.js';
import { findOwners, type OwnedSocket } from '../owners.js';
import { parsePortOrService } from '../services.js';
import type { Protocol, SocketRecord } from '../records.js';
import { listSockets } from '../sockets.js';
import { addressSet, overlaps, parseHost, predictLinux, requestAddressSet, type Existing } from './linux.js';
import type { BindRequest, Prediction, ResolvedRequest } from './types.js';
import { withWarnings } from './warnings.js';

export interface PredictOptions {
  /**
   * Name the processes holding the sockets in the way (default true). The verdict never needs
   * it except to read the SO_REUSEADDR/SO_REUSEPORT of sockets the request could share with,
   * which is done either way.
   */
  owners?: boolean;
}

/** Will bind() (and listen(), for TCP) with these options succeed? See docs/cli.md: verdicts. */
export async function predictBind(given: BindRequest, options: PredictOptions = {}): Promise<Prediction> {
  const request = await withHostAddress(given);
  // The kernel's first answer needs only the port: ask for it, and read the facts while it works.
  const target = resolveTarget(request);
  const listening = target.port !== 0 && request.reusePort !== true ? listSockets({ port: target.port, protocol: target.protocol, listening: true }) : null;
  let facts: SystemFacts;
  let resolved: ResolvedRequest;
  try {
    facts = readSystemFacts();
    resolved = resolveRequest(request, facts);
  } catch (error) {
    await listening?.catch(() => undefined);
    throw error;
  }
  return withWarnings(await decide(resolved, facts, listening, options.owners !== false), resolved, facts);
}

async function decide(resolved: ResolvedRequest, facts: SystemFacts, listening: Promise<SocketRecord[]> | null, named: boolean): Promise<Prediction> {
  // 1. Listeners only: the kernel looks at its small listening hash. A listener in the way that
  //    no option of ours can share with decides alone, whatever else is on the port.
  if (listening !== null) {
    const listeners = await listening;
    const quick = predictLinux(resolved, listeners, facts);
    if (quick.verdict === 'in-use') return named ? withOwners(resolved, quick, listeners, facts) : quick;
    if (quick.verdict === 'denied' || quick.verdict === 'unavailable') return quick;
  }

  // 2. Every socket on the port, in every state, and the options of those we might share with.
  const sockets = resolved.port === 0 ? [] : await listSockets({ port: resolved.port, protocol: resolved.protocol });
  const sharing = resolved.reuseAddr || resolved.reusePort;
  const asked = candidates(resolved, sockets);
  const owned = asked.length > 0 && (sharing || named) ? await findOwners(asked, { scan: 'first', socketOptions: sharing }) : [];
  return predictLinux(resolved, withOwned(sockets, owned), facts);
}

/** The sockets, each replaced by its owned record where the owner scan looked at it. */
function withOwned(sockets: readonly SocketRecord[], owned: readonly OwnedSocket[]): Existing[] {
  const byInode = new Map(owned.map((socket) => [socket.inode, socket]));
  return sockets.map((socket) => byInode.get(socket.inode) ?? socket);
}

// Beyond this many ports, one listing of the whole table beats a kernel query per port.
const BATCH_THRESHOLD = 8;

/**
 * predictBind for several requests at once, in their order. Many ports share one reading of the
 * socket table and one owner scan, so `check 8000-9000` costs about what one full listing does.
 */
export async function predictBinds(requests: readonly BindRequest[], options: PredictOptions = {}): Promise<Prediction[]> {
  if (requests.length <= BATCH_THRESHOLD) {
    const predictions: Prediction[] = [];
    for (const request of requests) predictions.push(await predictBind(request, options));
    return predictions;
  }
  // `check 8000-9000 --host localhost` asks the resolver once, not a thousand times
  const addresses = new Map<string, Promise<string>>();
  const addressed = await Promise.all(requests.map((request) => withHostAddress(request, addresses)));
  const facts = readSystemFacts();
  const resolved = addressed.map((request) => resolveRequest(request, facts));
  const protocols = [...new Set(resolved.map((request) => request.protocol))];
  const table = (await Promise.all(protocols.map((protocol) => listSockets({ protocol })))).flat();
  const byPort = new Map<string, SocketRecord[]>();
  for (const socket of table) {
    const key = `${socket.protocol}/${socket.localPort}`;
    const onKey = byPort.get(key);
    if (onKey === undefined) byPort.set(key, [socket]);
    else onKey.push(socket);
  }
  const onPort = (request: ResolvedRequest) => (request.port === 0 ? [] : (byPort.get(`${request.protocol}/${request.port}`) ?? []));

  // One owner scan for every socket any request might share with or has to name.
  const named = options.owners !== false;
  const asked = new Map<number, SocketRecord>();
  let sharing = false;
  for (const request of resolved) {
    const shares = request.reuseAddr || request.reusePort;
    if (!shares && !named) continue;
    sharing ||= shares;
    for (const socket of candidates(request, onPort(request))) asked.set(socket.inode, socket);
  }
  const owned = asked.size === 0 ? [] : await findOwners([...asked.values()], { scan: 'first', socketOptions: sharing });
  // Options read for one request's sake are facts for all: a request that shares nothing never looks at them.
  return resolved.map((request) => withWarnings(predictLinux(request, withOwned(onPort(request), owned), facts), request, facts));
}

/** Sockets on the request's port whose owner or options a prediction may need. */
function candidates(request: ResolvedRequest, sockets: readonly SocketRecord[]): SocketRecord[] {
  const mine = requestAddressSet(request);
  return sockets.filter(
    (socket) => socket.state !== 'TIME_WAIT' && socket.inode !== 0 && overlaps(mine, addressSet(socket.family, socket.localAddress, socket.ipv6Only)) !== false,
  );
}

/** Fills in the defaults of Node's server.listen(port), and checks the request. */
export function resolveRequest(request: BindRequest, facts: SystemFacts): ResolvedRequest {
  const { port, service, protocol } = resolveTarget(request);
  for (const flag of ['reuseAddr', 'reusePort', 'ipv6Only', 'listen'] as const) {
    if (request[flag] !== undefined && typeof request[flag] !== 'boolean') {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `${flag} must be a boolean, got ${JSON.stringify(request[flag])}`);
    }
  }
  const parsed = parseHost(request.host ?? (facts.ipv6Enabled ? '::' : '0.0.0.0'));
  if ('error' in parsed) throw new PortclashError('ERR_INVALID_HOST', `${parsed.error}; give an IP address such as 0.0.0.0, 127.0.0.1, :: or ::1`);
  const { family, canonical } = parsed;
  const mapped = family === 'IPv6' && canonical.startsWith('::ffff:') && canonical.includes('.');
  if (mapped && request.ipv6Only === true) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is an IPv4 address in IPv6 form, which an IPV6_V6ONLY socket cannot bind (EINVAL)`);
  }
  if (family === 'IPv6' && /^fe[89ab]|^ff0[12]:/.test(canonical)) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is link-local: binding it needs a scope (an interface), which portclash does not take yet`);
  }
  if (family === 'IPv6' && protocol === 'tcp' && canonical.startsWith('ff')) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is a multicast address, which a TCP socket cannot bind (EINVAL)`);
  }
  return {
    port,
    host: canonical,
    family,
    protocol,
    // libuv sets SO_REUSEADDR on every TCP socket it binds; dgram only when asked
    reuseAddr: request.reuseAddr ?? protocol === 'tcp',
    reusePort: request.reusePort ?? false,
    // a specific IPv6 address (not ::, not v4-mapped) turns IPV6_V6ONLY on by itself
    ipv6Only: family === 'IPv6' && !mapped && (request.ipv6Only === true || canonical !== '::'),
    listen: protocol === 'tcp' && request.listen !== false,
    uid: facts.uid,
    ...(service === undefined ? {} : { service }),
  };
}

// A host name as RFC 1123 allows: dot-separated labels of letters, digits and inner hyphens.
const HOST_NAME = /^(?=.{1,253}$)[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)*\.?$/i;

/**
 * The request with a host name (`localhost`) replaced by its address (see addressOf); `addresses`
 * keeps each host's lookup for the other requests of a batch.
 */
async function withHostAddress(request: BindRequest, addresses = new Map<string, Promise<string>>()): Promise<BindRequest> {
  if (typeof request !== 'object' || request === null || typeof request.host !== 'string') return request;
  let address = addresses.get(request.host);
  if (address === undefined) {
    address = addressOf(request.host);
    addresses.set(request.host, address);
  }
  return { ...request, host: await address };
}

/**
 * The address Node's listen(port, host) would bind for `host`: the first that dns.lookup gives,
 * in the resolver's order. An IP address is its own; anything that is not a host name is left
 * for resolveRequest to refuse, so that a typo never becomes a DNS query.
 */
async function addressOf(host: string): Promise<string> {
  if (!('error' in parseHost(host)) || !HOST_NAME.test(host) || /^[\d.]+$/.test(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'an error';
    throw new PortclashError('ERR_INVALID_HOST', `cannot resolve host name ${JSON.stringify(host)} (${code}); give an IP address such as 0.0.0.0, 127.0.0.1, :: or ::1`, { cause: error });
  }
}

/** The port and protocol of a request, checked: all that the kernel's first question needs. */
function resolveTarget(request: BindRequest): { port: number; service: string | undefined; protocol: Protocol } {
  if (typeof request !== 'object' || request === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the request must be an object like { port: 3000 }');
  }
  const protocol = request.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  const { port, service } = parsePortOrService(request.port, protocol);
  return { port, service, protocol };
}

/** The prediction again, with the owners of its conflicts named in the reason and the records. */
async function withOwners(request: ResolvedRequest, prediction: Prediction, sockets: SocketRecord[], facts: SystemFacts): Promise<Prediction> {
  return predictLinux(request, withOwned(sockets, await findOwners(prediction.conflicts, { scan: 'first' })), facts);
}

/** Worst first: the order in which several predictions decide an exit code or an error. */
export const VERDICT_SEVERITY = { free: 0, unknown: 1, 'in-use': 2, denied: 2, unavailable: 2 } as const;

export interface AssertOptions {
  /** Also throw when the answer is unknown (default false: unknown does not stop a start-up). */
  failOnUnknown?: boolean;
}

/** What assertPortsFree throws: a PortclashError that carries the prediction that failed. */
export class PortNotFreeError extends PortclashError {
  declare readonly code: 'ERR_PORT_IN_USE' | 'ERR_PORT_DENIED' | 'ERR_ADDRESS_UNAVAILABLE' | 'ERR_PORT_UNKNOWN';
  readonly prediction: Prediction;

  constructor(code: PortNotFreeError['code'], prediction: Prediction) {
    super(code, `${prediction.port}/${prediction.protocol} on ${prediction.host}: ${prediction.verdict} — ${prediction.reason}`);
    this.prediction = prediction;
  }
}

/**
 * One call at the top of a server: throws a PortNotFreeError (ERR_PORT_IN_USE, ERR_PORT_DENIED,
 * ERR_ADDRESS_UNAVAILABLE, or ERR_PORT_UNKNOWN with failOnUnknown) carrying the prediction when
 * a bind would fail; resolves with every prediction otherwise.
 */
export async function assertPortsFree(requests: readonly (number | BindRequest)[], options: AssertOptions = {}): Promise<Prediction[]> {
  const predictions = await predictBinds(requests.map((request) => (typeof request === 'number' ? { port: request } : request)));
  for (const prediction of predictions) {
    const code =
      prediction.verdict === 'in-use' ? 'ERR_PORT_IN_USE'
      : prediction.verdict === 'denied' ? 'ERR_PORT_DENIED'
      : prediction.verdict === 'unavailable' ? 'ERR_ADDRESS_UNAVAILABLE'
      : prediction.verdict === 'unknown' && options.failOnUnknown === true ? 'ERR_PORT_UNKNOWN'
      : null;
    if (code !== null) throw new PortNotFreeError(code, prediction);
  }
  return predictions;
}
