// predictBind: ask the kernel the narrowest question first, find owners only for the sockets in the way.
import { PortclashError } from '../errors.js';
import type { OwnedSocket } from '../owners.js';
import { platformIn, type Existing, type Platform, type SystemFacts, type TableFilter } from '../platform.js';
import type { SocketRecord } from '../records.js';
import { readForwardsFor, withForwards, type ForwardsReading } from './forwards.js';
import { probedPrediction } from './probe.js';
import { resolveRequest, resolveTarget, withHostAddress } from './request.js';
import type { BindRequest, Prediction, ResolvedRequest } from './types.js';
import { portWarnings, withWarnings } from './warnings.js';

export interface PredictOptions {
  /**
   * Name the processes holding the sockets in the way (default true). The verdict never needs
   * it except to read the SO_REUSEADDR/SO_REUSEPORT of sockets the request could share with,
   * which is done either way.
   */
  owners?: boolean;
  /**
   * Where the answer is `unknown`, settle it with a trial bind() (and listen(), for TCP) with
   * exactly the request's options, released at once (`source: 'probe'`; default false). It binds
   * the port for an instant: true then, and a bind of it by another process in that instant fails.
   * On a platform without a backend (lib/probing) every prediction is a trial bind, asked or not.
   */
  probe?: boolean;
  /**
   * Judge the bind in another network namespace (Linux): a name of /run/netns (`ip netns add`), or
   * a namespace file such as /proc/<pid>/ns/net. Its tables, addresses and sysctls are read from
   * inside it, or through /proc/<pid>/net where it cannot be entered (without CAP_SYS_ADMIN), and
   * then what turns on a sysctl is unknown. The binder is this process, moved there: its uid and
   * capabilities. A host name is resolved here. Not with `probe`, whose trial bind is this process's.
   */
  netns?: string;
}

/** Will bind() (and listen(), for TCP) with these options succeed? See docs/cli.md: verdicts. */
export async function predictBind(given: BindRequest, options: PredictOptions = {}): Promise<Prediction> {
  return predictBindOver(given, options, null);
}

/**
 * predictBind for a caller that reads the port's sockets in every state anyway (`info`): `read`,
 * listSockets({ port }) with the same netns, stands in for the dump of every state predictBind
 * would make of that port itself, so that the kernel walks its hash tables once. Where its port is
 * not the request's, or it is null, predictBind dumps the port as always.
 */
export async function predictBindOver(
  given: BindRequest,
  options: PredictOptions,
  read: { port: number; sockets: Promise<readonly SocketRecord[]> } | null,
): Promise<Prediction> {
  checkOptions(options, ['owners', 'probe']);
  const os = backendFor(options);
  const request = await withHostAddress(given);
  // The kernel's first answer needs only the port: ask for it, and read the facts while it works.
  const target = resolveTarget(request);
  const listening =
    os.rules.listenersFirst && target.port !== 0 && request.reusePort !== true
      ? listSockets(os, { port: target.port, protocol: target.protocol, listening: true })
      : null;
  // its rejection is awaited below, or gives way to the error that ends the prediction first
  void listening?.catch(() => undefined);
  // Where the namespace holds few sockets, the listeners' answer comes in a fraction of a
  // millisecond: where there is none, the dump of every state (the kernel's walk of all its hash
  // buckets, a few milliseconds even when they are empty) starts at once, and runs while the facts are read.
  let everything: Promise<SocketRecord[]> | null = null;
  if (read !== null && read.port === target.port && target.port !== 0) {
    everything = read.sockets.then((sockets) => sockets.filter((socket) => socket.protocol === target.protocol));
  } else if (listening !== null && fewSockets(os, target.protocol) && (await listening.catch(() => null))?.length === 0) {
    everything = listSockets(os, { port: target.port, protocol: target.protocol });
  }
  const pending = () => Promise.all([listening?.catch(() => undefined), everything?.catch(() => undefined)]);
  // the NAT rules that may send the port's packets elsewhere, read while the tables are
  const forwarding = forwardsOf(os, target.protocol, target.port);
  let facts: SystemFacts;
  let resolved: ResolvedRequest;
  try {
    facts = os.readSystemFacts();
    resolved = resolveRequest(request, facts, os.rules);
  } catch (error) {
    await Promise.all([pending(), forwarding.catch(() => undefined)]);
    throw error;
  }
  // made while the kernel still works on the dumps
  const warnings = portWarnings(os, resolved, facts);
  let decided: Prediction;
  try {
    decided = os.readsTables ? await decide(os, resolved, facts, { listening, everything }, options.owners !== false) : os.rules.predict(resolved, [], facts);
  } catch (error) {
    await Promise.all([pending(), forwarding.catch(() => undefined)]);
    throw error;
  }
  return settle(os, withForwards(withWarnings(decided, warnings), resolved, await forwarding), resolved, options);
}

/** The forwards of a port, where this backend reads tables (the probing one reads nothing to say). */
function forwardsOf(os: Platform, protocol: ResolvedRequest['protocol'], port: number | undefined): Promise<ForwardsReading> {
  return os.readsTables && port !== 0 ? readForwardsFor(os, protocol, port) : Promise.resolve(null);
}

/** The prediction, or a trial bind's answer where it is unknown and a probe was asked for (or the platform has no tables). */
async function settle(os: Platform, judged: Prediction, request: ResolvedRequest, options: PredictOptions): Promise<Prediction> {
  const probe = options.probe === true || !os.readsTables;
  if (!probe || judged.verdict !== 'unknown') return judged;
  if (os.netns !== null)
    return {
      ...judged,
      assumptions: [...judged.assumptions, `not probed: a trial bind would be made in this process's network namespace, not in ${os.netns}`],
    };
  return probedPrediction(request, os.rules.defaults, judged, os.readsTables ? `the tables alone could not tell: ${judged.reason}` : judged.reason);
}

async function decide(
  os: Platform,
  resolved: ResolvedRequest,
  facts: SystemFacts,
  dumps: { listening: Promise<SocketRecord[]> | null; everything: Promise<SocketRecord[]> | null },
  named: boolean,
): Promise<Prediction> {
  const { listening, everything } = dumps;
  // 1. Listeners only: the kernel looks at its small listening hash. A listener in the way that
  //    no option of ours can share with decides alone, whatever else is on the port.
  if (listening !== null) {
    const listeners = await listening;
    const quick = os.rules.predict(resolved, listeners, facts);
    if (quick.verdict === 'in-use') return named ? withOwners(os, resolved, quick, listeners, facts) : quick;
    if (quick.verdict === 'denied' || quick.verdict === 'unavailable') return quick;
  }

  // 2. Every socket on the port, in every state, and the options of those we might share with.
  const sockets = resolved.port === 0 ? [] : await (everything ?? listSockets(os, { port: resolved.port, protocol: resolved.protocol }));
  const sharing = resolved.reuseAddr || resolved.reusePort;
  const asked = sockets.filter((socket) => mayMatter(os, resolved, socket));
  const owned = asked.length > 0 && (sharing || named || os.rules.needsOwners) ? await os.findOwners(asked, { scan: 'first', socketOptions: sharing }) : [];
  return os.rules.predict(resolved, withOwned(sockets, ownedBy(asked, owned)), facts);
}

// Below this many sockets of the protocol in the namespace, an all-states dump of a port costs a
// few milliseconds, most of it the kernel's walk of its empty hash buckets.
const FEW_SOCKETS = 4096;

/** Whether the backend's counters show so few sockets that a dump of every state is cheap; false when they do not say. */
function fewSockets(os: Platform, protocol: ResolvedRequest['protocol']): boolean {
  const count = os.countSockets?.(protocol) ?? null;
  return count !== null && count < FEW_SOCKETS;
}

async function listSockets(os: Platform, filter: TableFilter): Promise<SocketRecord[]> {
  return (await os.readTables(filter, 'auto')).sockets;
}

/** The backend for the options' network namespace (this process's own without one). */
function backendFor(options: PredictOptions): Platform {
  return platformIn(options.netns);
}

/** Array.isArray without its narrowing, which would make a typed array `any[]`. */
function isList(value: unknown): boolean {
  return Array.isArray(value);
}

/** An options object whose flags are booleans where given: ERR_INVALID_ARGUMENT otherwise (`probe: 'yes'` is no silent false). */
function checkOptions(options: unknown, flags: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw new PortclashError('ERR_INVALID_ARGUMENT', 'the options must be an object like { owners: false }');
  for (const flag of flags) {
    const value = (options as Record<string, unknown>)[flag];
    if (value !== undefined && typeof value !== 'boolean')
      throw new PortclashError('ERR_INVALID_ARGUMENT', `${flag} must be a boolean, got ${JSON.stringify(value)}`);
  }
}

/** Each socket the owner scan was asked about, with its answer: findOwners answers in order, one for each. */
function ownedBy(asked: readonly SocketRecord[], owned: readonly OwnedSocket[]): Map<SocketRecord, OwnedSocket> {
  const byRecord = new Map<SocketRecord, OwnedSocket>();
  asked.forEach((socket, index) => {
    const found = owned[index];
    if (found !== undefined) byRecord.set(socket, found);
  });
  return byRecord;
}

/** The sockets, each replaced by its owned record where the owner scan looked at it. */
function withOwned(sockets: readonly SocketRecord[], owned: ReadonlyMap<SocketRecord, OwnedSocket>): Existing[] {
  return sockets.map((socket) => owned.get(socket) ?? socket);
}

/** A socket whose owner or options the verdict may turn on: a process must hold it, and the rules must care. */
function mayMatter(os: Platform, request: ResolvedRequest, socket: SocketRecord): boolean {
  return !socket.kernelOnly && os.rules.mayMatter(request, socket);
}

// Beyond this many ports, one listing of the whole table beats a kernel query per port.
const BATCH_THRESHOLD = 8;

/**
 * predictBind for several requests at once, in their order. Many ports share one reading of the
 * socket table and one owner scan, so `check 8000-9000` costs about what one full listing does.
 */
export async function predictBinds(requests: readonly BindRequest[], options: PredictOptions = {}): Promise<Prediction[]> {
  if (!isList(requests)) throw new PortclashError('ERR_INVALID_ARGUMENT', 'predictBinds takes an array of requests like [{ port: 3000 }]');
  checkOptions(options, ['owners', 'probe']);
  const os = backendFor(options);
  // without tables, each port is a trial bind of its own: nothing to share
  if (requests.length <= BATCH_THRESHOLD || !os.readsTables) {
    const predictions: Prediction[] = [];
    for (const request of requests) predictions.push(await predictBind(request, options));
    return predictions;
  }
  // `check 8000-9000 --host localhost` asks the resolver once, not a thousand times
  const addresses = new Map<string, Promise<string>>();
  const addressed = await Promise.all(requests.map((request) => withHostAddress(request, addresses)));
  const facts = os.readSystemFacts();
  const resolved = addressed.map((request) => resolveRequest(request, facts, os.rules));
  const protocols = [...new Set(resolved.map((request) => request.protocol))];
  const table = (await Promise.all(protocols.map((protocol) => listSockets(os, { protocol })))).flat();
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
  const asked = new Set<SocketRecord>();
  let sharing = false;
  for (const request of resolved) {
    const shares = request.reuseAddr || request.reusePort;
    if (!shares && !named && !os.rules.needsOwners) continue;
    sharing ||= shares;
    for (const socket of onPort(request)) if (mayMatter(os, request, socket)) asked.add(socket);
  }
  const scanned = [...asked];
  const owned = ownedBy(scanned, scanned.length === 0 ? [] : await os.findOwners(scanned, { scan: 'first', socketOptions: sharing }));
  // Options read for one request's sake are facts for all: a request that shares nothing never looks at them.
  // one reading of the NAT rules per protocol; a rule that could not be read is told for every port
  const forwards = new Map(await Promise.all(protocols.map(async (protocol) => [protocol, await forwardsOf(os, protocol, undefined)] as const)));
  const judged = resolved.map((request) =>
    withForwards(
      withWarnings(os.rules.predict(request, withOwned(onPort(request), owned), facts), portWarnings(os, request, facts)),
      request,
      forwards.get(request.protocol) ?? null,
    ),
  );
  // one trial bind at a time: each holds its port for an instant only
  const settled: Prediction[] = [];
  for (const [index, prediction] of judged.entries()) settled.push(await settle(os, prediction, resolved[index]!, options));
  return settled;
}

/** The prediction again, with the owners of its conflicts named in the reason and the records. */
async function withOwners(os: Platform, request: ResolvedRequest, prediction: Prediction, sockets: SocketRecord[], facts: SystemFacts): Promise<Prediction> {
  const { conflicts } = prediction;
  return os.rules.predict(request, withOwned(sockets, ownedBy(conflicts, await os.findOwners(conflicts, { scan: 'first' }))), facts);
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
  if (!isList(requests))
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'assertPortsFree takes an array of ports or requests like [3000, { port: 5353, protocol: "udp" }]');
  checkOptions(options, ['failOnUnknown']);
  const predictions = await predictBinds(requests.map((request) => (typeof request === 'number' ? { port: request } : request)));
  for (const prediction of predictions) {
    const code =
      prediction.verdict === 'in-use'
        ? 'ERR_PORT_IN_USE'
        : prediction.verdict === 'denied'
          ? 'ERR_PORT_DENIED'
          : prediction.verdict === 'unavailable'
            ? 'ERR_ADDRESS_UNAVAILABLE'
            : prediction.verdict === 'unknown' && options.failOnUnknown === true
              ? 'ERR_PORT_UNKNOWN'
              : null;
    if (code !== null) throw new PortNotFreeError(code, prediction);
  }
  return predictions;
}
