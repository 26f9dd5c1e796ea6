// Windows' bind() and listen() rules as pure functions: a request, the sockets on its port, facts → verdict.
// The sentences each rule gives are in win32-reasons.ts; docs/bind-rules-windows.md is the account of
// these rules with every source. None of it could be checked against a real Windows bind here (wine
// follows Linux's rules): the tables and cases are Microsoft's and the cited threads', tested as tables.
import { PortclashError } from '../errors.js';
import type { BindRules, Existing } from '../platform.js';
import { factsOf } from './facts.js';
import type { Family, SocketRecord } from '../records.js';
import type { Win32Facts } from '../win32/facts.js';
import type { ExcludedRange } from '../win32/netsh.js';
import type { BindErrno, Prediction, ResolvedRequest, Verdict } from './types.js';
import { prediction } from './prediction.js';
import * as say from './win32-reasons.js';

/** A bind's sharing option: D none, R SO_REUSEADDR, X SO_EXCLUSIVEADDRUSE. */
export type SharingOption = 'D' | 'R' | 'X';
/** W the wildcard address (0.0.0.0, ::), S one specific address. */
export type AddressKind = 'W' | 'S';
export type BindKey = `${SharingOption}${AddressKind}`;
/** ok: the second bind succeeds; inuse: WSAEADDRINUSE (10048); access: WSAEACCES (10013). */
export type Outcome = 'ok' | 'inuse' | 'access';
/** first bind → second bind → outcome. */
export type BindTable = Record<BindKey, Record<BindKey, Outcome>>;

export const BIND_KEYS: readonly BindKey[] = ['DW', 'DS', 'RW', 'RS', 'XW', 'XS'];

function row<T>(...cells: T[]): Record<BindKey, T> {
  return Object.fromEntries(BIND_KEYS.map((key, index) => [key, cells[index]!])) as Record<BindKey, T>;
}

// Microsoft, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"
// (learn.microsoft.com/windows/win32/winsock/using-so-reuseaddr-and-so-exclusiveaddruse), the two
// tables for Windows Server 2003 and later ("enhanced socket security"), cell by cell in the page's
// order. Rows: the first bind; columns: the second bind, DW DS RW RS XW XS.
export const WINSOCK_SAME_USER: BindTable = {
  DW: row('inuse', 'ok', 'access', 'ok', 'inuse', 'ok'),
  DS: row('ok', 'inuse', 'ok', 'access', 'inuse', 'inuse'),
  RW: row('inuse', 'ok', 'ok', 'ok', 'inuse', 'ok'),
  RS: row('ok', 'inuse', 'ok', 'ok', 'inuse', 'inuse'),
  XW: row('inuse', 'access', 'access', 'access', 'inuse', 'access'),
  XS: row('ok', 'inuse', 'ok', 'access', 'inuse', 'inuse'),
};
// The same page, "when the socket bind calls are made under different user accounts".
export const WINSOCK_OTHER_USER: BindTable = {
  DW: row('inuse', 'access', 'access', 'access', 'inuse', 'access'),
  DS: row('ok', 'inuse', 'ok', 'access', 'inuse', 'inuse'),
  RW: row('inuse', 'access', 'ok', 'ok', 'inuse', 'access'),
  RS: row('ok', 'inuse', 'ok', 'ok', 'inuse', 'inuse'),
  XW: row('inuse', 'access', 'access', 'access', 'inuse', 'access'),
  XS: row('ok', 'inuse', 'ok', 'access', 'inuse', 'inuse'),
};

/** `check`: an access check of the second socket's owner against the first socket's security descriptor. */
export type WskCell = Outcome | 'check';

// Microsoft, "Sharing Transport Addresses" (learn.microsoft.com/windows-hardware/drivers/network/
// sharing-transport-addresses), the same matrix for kernel-mode (WSK) sockets, kept in that page's
// own orientation: rows the second bind, columns the first, DW DS RW RS XW XS. It disagrees with the
// Winsock page on one cell, first RS × second DS (DENIED here, INUSE there): tableCell gives both.
export const WSK_SECOND_BY_FIRST: Record<BindKey, Record<BindKey, WskCell>> = {
  DW: row<WskCell>('inuse', 'ok', 'inuse', 'ok', 'inuse', 'ok'),
  DS: row<WskCell>('check', 'inuse', 'check', 'access', 'access', 'inuse'),
  RW: row<WskCell>('access', 'ok', 'ok', 'ok', 'access', 'ok'),
  RS: row<WskCell>('check', 'access', 'ok', 'ok', 'access', 'access'),
  XW: row<WskCell>('inuse', 'inuse', 'inuse', 'inuse', 'inuse', 'inuse'),
  XS: row<WskCell>('check', 'inuse', 'check', 'inuse', 'access', 'inuse'),
};

export type TableSource = 'winsock' | 'wsk';

/**
 * What each of Microsoft's two pages gives for `second` bound over `first`. The WSK page's access
 * check is settled as the Winsock page settles it for user-mode sockets: granted to the same
 * account ("the only exception … the same user account"), refused to another.
 */
export function tableCell(first: BindKey, second: BindKey, sameUser: boolean): Record<TableSource, Outcome> {
  const winsock = (sameUser ? WINSOCK_SAME_USER : WINSOCK_OTHER_USER)[first][second];
  const wsk = WSK_SECOND_BY_FIRST[second][first];
  return { winsock, wsk: wsk === 'check' ? (sameUser ? 'ok' : 'access') : wsk };
}

/**
 * What Node (libuv) sets on the sockets it binds on Windows, which a request's defaults follow.
 * Sources: libuv src/win/tcp.c uv__tcp_try_bind and src/win/udp.c uv__udp_maybe_bind (1.46, which
 * Node 20 ships, and current), Node 20 lib/net.js createServerHandle/setupListenHandle.
 */
export const nodeDefaults = {
  tcp: {
    // "Unlike on Unix, here we don't set SO_REUSEADDR … SO_EXCLUSIVEADDRUSE is also not good here"
    // (tcp.c, citing joyent/libuv#1360): neither option, where libuv on Unix sets SO_REUSEADDR
    reuseAddr: false,
    exclusiveAddrUse: false,
    // IPV6_V6ONLY is set to (flags & UV_TCP_IPV6ONLY): off unless ipv6Only, so `::` is dual-stack
    ipv6Only: false,
    // WSAEADDRINUSE from bind() is kept in handle->delayed_error and reported by listen() (two
    // handles bind 127.0.0.1:P, the second listen() gives UV_EADDRINUSE: nodejs/node#64869); any
    // other bind error is returned at once, and Node's listen(port) without a host then retries
    // on 0.0.0.0 (createServerHandle: "Fallback to ipv4"). listen() checks nothing of its own:
    // two SO_REUSEADDR servers on one address both listen (cpp-netlib/cpp-netlib#16).
    addressInUseReportedBy: 'listen',
  },
  udp: {
    // SO_REUSEADDR only with UV_UDP_REUSEADDR, i.e. dgram's reuseAddr: true
    reuseAddr: false,
    exclusiveAddrUse: false,
    // "On windows IPV6ONLY is on by default. If the user doesn't specify it libuv turns it off."
    ipv6Only: false,
    addressInUseReportedBy: 'bind',
  },
  // "There is no SO_REUSEPORT on Windows": libuv ≥ 1.49 refuses UV_TCP_REUSEPORT and
  // UV_UDP_REUSEPORT (ERROR_NOT_SUPPORTED, UV_ENOTSUP); Node 20 has no reusePort option at all
  reusePort: 'unsupported',
} as const;

/**
 * A request as Windows' rules take it; `hostDefaulted` matters here: Node's listen(port) binds `::`
 * and, when that fails at once (EACCES), binds 0.0.0.0 instead (lib/net.js createServerHandle).
 */
export type Win32Request = ResolvedRequest;

/** Refuses what cannot be asked of Windows: SO_REUSEPORT does not exist there. */
export function checkWin32Request(request: ResolvedRequest): void {
  if (request.reusePort) throw new PortclashError('ERR_INVALID_ARGUMENT', say.reusePortUnsupported);
}

/** Per stack, what a socket holds: `*` for the stack's wildcard, else its address. */
type Stack = 'v4' | 'v6';
type Footprint = Partial<Record<Stack, string>>;
const STACKS: readonly Stack[] = ['v4', 'v6'];
const WILDCARD = '*';

function v4Mapped(address: string): string | null {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : null;
}

/** Where an address sits: IPv4 (and v4-mapped) on the IPv4 stack, the rest on IPv6's. */
function footprint(family: Family, address: string): Footprint {
  const ipv4 = family === 'IPv4' ? address : v4Mapped(address);
  if (ipv4 !== null) return { v4: ipv4 === '0.0.0.0' ? WILDCARD : ipv4 };
  return { v6: address === '::' ? WILDCARD : address };
}

/**
 * The request's own footprint: a dual-stack `::` bind "is reserved on both the IPv4 and IPv6
 * networking stacks" and its checks "must succeed on both" (Microsoft, the same page, dual stack).
 */
function requestFootprint(request: ResolvedRequest): Footprint {
  const mine = footprint(request.family, request.host);
  if (request.family === 'IPv6' && request.host === '::' && !request.ipv6Only) mine.v4 = WILDCARD;
  return mine;
}

function familiesOf(footprint: Footprint): Family[] {
  return STACKS.filter((stack) => footprint[stack] !== undefined).map((stack) => (stack === 'v4' ? 'IPv4' : 'IPv6'));
}

/**
 * How a socket takes part in the check. `bound`: LISTEN (or BOUND), and every UDP socket: it holds
 * the address shown. `connection`: a TCP connection no listener on the port accounts for; what it
 * holds cannot be seen (an outgoing connection that was not bound is bound at connect(), maybe on the wildcard:
 * WSAEADDRINUSE "could be delayed until [connect] if the bind was to a partially wildcard address",
 * Microsoft, Windows Sockets Error Codes).
 * `timewait`: libuv says Windows does not check them (joyent/libuv#1360), joyent/libuv#1379 saw
 * binds fail over them on Windows 8, Microsoft documents only SO_EXCLUSIVEADDRUSE's.
 */
export type SocketKind = 'bound' | 'connection' | 'timewait';

/** What decides a socket's part, beyond the sharing option, the account and the page. */
type Origin = 'shown' | 'own' | 'wildcard' | 'none' | 'checked' | 'unchecked';
const ORIGINS: Record<SocketKind, readonly Origin[]> = {
  bound: ['shown'],
  connection: ['own', 'wildcard', 'none'],
  timewait: ['checked', 'unchecked'],
};

export type UserRelation = 'same' | 'other';

export interface Scenario {
  origin: Origin;
  option: SharingOption;
  user: UserRelation;
  source: TableSource;
  outcome: Outcome;
}

export type Dimension = 'origin' | 'option' | 'user' | 'source';
const DIMENSIONS: readonly Dimension[] = ['origin', 'option', 'user', 'source'];

export interface Judged {
  existing: Existing;
  kind: SocketKind;
  scenarios: Scenario[];
  outcomes: ReadonlySet<Outcome>;
  /** The dimensions the outcome turns on: what would have to be seen to decide. */
  varies: Dimension[];
  /** Why the account is not known, when it is not. */
  userUnknown?: string;
  /** The account check the outcome turned on, when it is known. */
  user?: UserRelation;
}

function theirFootprint(existing: Existing, origin: Origin): Footprint {
  if (origin === 'none' || origin === 'unchecked') return {};
  const shown = footprint(existing.family, existing.localAddress);
  if (origin !== 'wildcard') {
    // a `::` socket known to be dual-stack (never from IP Helper, which does not say) holds IPv4 too
    if (shown.v6 === WILDCARD && existing.ipv6Only === false) shown.v4 = WILDCARD;
    return shown;
  }
  // the implicit bind of connect() is on the wildcard of the socket's family; a v4-mapped local
  // address is a dual-stack IPv6 socket's, which holds both stacks
  if (existing.family === 'IPv4') return { v4: WILDCARD };
  return v4Mapped(existing.localAddress) === null ? { v6: WILDCARD } : { v4: WILDCARD, v6: WILDCARD };
}

/** The outcome of the request over one socket in one scenario: the first stack that refuses decides. */
function outcomeOver(mine: Footprint, theirs: Footprint, requestOption: SharingOption, option: SharingOption, sameUser: boolean, source: TableSource): Outcome {
  for (const stack of STACKS) {
    const own = mine[stack];
    const other = theirs[stack];
    if (own === undefined || other === undefined) continue;
    // "When two sockets are bound to the same port number but on different explicit interfaces, there is no conflict."
    if (own !== WILDCARD && other !== WILDCARD && own !== other) continue;
    const first: BindKey = `${option}${other === WILDCARD ? 'W' : 'S'}`;
    const second: BindKey = `${requestOption}${own === WILDCARD ? 'W' : 'S'}`;
    const outcome = tableCell(first, second, sameUser)[source];
    if (outcome !== 'ok') return outcome;
  }
  return 'ok';
}

/** Every case the socket may be in, and what the request's bind gives in each. */
export function judge(request: ResolvedRequest, existing: Existing, kind: SocketKind, users: readonly UserRelation[]): Omit<Judged, 'userUnknown' | 'user'> {
  const mine = requestFootprint(request);
  const requestOption: SharingOption = request.reuseAddr ? 'R' : 'D';
  // the other socket's options are never in IP Helper's rows; an owner scan may have read SO_REUSEADDR
  const reuseAddr = 'reuseAddr' in existing ? existing.reuseAddr : undefined;
  const options: SharingOption[] = reuseAddr === true ? ['R'] : reuseAddr === false ? ['D', 'X'] : ['D', 'R', 'X'];
  const scenarios: Scenario[] = [];
  for (const origin of ORIGINS[kind]) {
    const theirs = theirFootprint(existing, origin);
    for (const option of options) {
      for (const user of users) {
        for (const source of ['winsock', 'wsk'] as const) {
          scenarios.push({ origin, option, user, source, outcome: outcomeOver(mine, theirs, requestOption, option, user === 'same', source) });
        }
      }
    }
  }
  return {
    existing,
    kind,
    scenarios,
    outcomes: new Set(scenarios.map((scenario) => scenario.outcome)),
    varies: DIMENSIONS.filter((dimension) => turnsOn(scenarios, dimension)),
  };
}

/** Whether changing `dimension` alone changes an outcome. */
function turnsOn(scenarios: readonly Scenario[], dimension: Dimension): boolean {
  const byRest = new Map<string, Set<Outcome>>();
  for (const scenario of scenarios) {
    const rest = DIMENSIONS.filter((other) => other !== dimension)
      .map((other) => scenario[other])
      .join(' ');
    const outcomes = byRest.get(rest) ?? new Set<Outcome>();
    outcomes.add(scenario.outcome);
    byRest.set(rest, outcomes);
  }
  return [...byRest.values()].some((outcomes) => outcomes.size > 1);
}

/**
 * Whether the socket's owner and this process share an account, which the tables ask. The System
 * process (pid 4: http.sys and other drivers) holds kernel-mode sockets, checked against their own
 * security descriptor ("Sharing Transport Addresses"); a user's specific bind over http.sys's
 * wildcard on port 80 gets WSAEACCES (WPN-XM/WPN-XM#493).
 */
function userRelation(existing: Existing, facts: Win32Facts): { relation: UserRelation } | { unknown: string } {
  const ownerPid = 'owner' in existing && existing.owner !== null ? existing.owner.pid : existing.ownerPid;
  if (ownerPid === 4) {
    if (facts.user === null) return { unknown: say.user.selfUnknown };
    return /\\SYSTEM$/i.test(facts.user) ? { unknown: say.user.kernelSocket } : { relation: 'other' };
  }
  if (existing.state === 'TIME_WAIT' || existing.kernelOnly) return { unknown: say.user.noProcess };
  if (!('owners' in existing)) return { unknown: say.user.notLookedUp };
  if (existing.owners.length === 0) return { unknown: say.user.ownerUnknown(existing.ownerUnknown) };
  const users = existing.owners.map((owner) => owner.user);
  const missing = existing.owners.find((owner) => owner.user === null);
  if (missing !== undefined) return { unknown: say.user.accountUnread(missing.pid) };
  if (facts.user === null) return { unknown: say.user.selfUnknown };
  const mine = facts.user.toLowerCase();
  const same = users.filter((user) => user!.toLowerCase() === mine).length;
  if (same === users.length) return { relation: 'same' };
  if (same === 0) return { relation: 'other' };
  return { unknown: say.user.mixedOwners };
}

/** How a socket of the request's protocol and port takes part, or null when it does not. */
function kindOf(existing: Existing, onPort: readonly Existing[]): SocketKind | null {
  if (existing.protocol === 'udp') return 'bound';
  if (existing.state === 'LISTEN' || existing.state === 'BOUND') return 'bound';
  if (existing.state === 'TIME_WAIT') return 'timewait';
  // an accepted connection never called bind(): while its listener is there, the listener's cell decides
  return onPort.some((listener) => acceptedBy(existing, listener)) ? null : 'connection';
}

/** Whether `listener` is on the port and covers the connection's local address (docs: accepted connections). */
function acceptedBy(connection: Existing, listener: Existing): boolean {
  if (listener.protocol !== 'tcp' || listener.state !== 'LISTEN' || listener.localPort !== connection.localPort) return false;
  const local = footprint(connection.family, connection.localAddress);
  const held = footprint(listener.family, listener.localAddress);
  // a dual-stack listener's IPv4 connections show v4-mapped addresses (Microsoft, "Dual-Stack Sockets")
  if (listener.localAddress === '::' && v4Mapped(connection.localAddress) !== null) return true;
  return STACKS.some((stack) => local[stack] !== undefined && (held[stack] === WILDCARD || held[stack] === local[stack]));
}

interface Step {
  verdict: Verdict;
  errno: BindErrno | null;
  reason: string;
  assumptions: string[];
}

/**
 * WSAEADDRNOTAVAIL: a specific address must be one of this host's. Those of adapters that are
 * down are not in the list (facts.localAddresses), which the verdict says; 127.x other than the
 * loopback's own addresses, multicast and broadcast are not covered by the sources: unknown.
 */
function checkAddress(request: ResolvedRequest, facts: Win32Facts): Step | null {
  if (request.family === 'IPv6' && !facts.ipv6Enabled)
    return { verdict: 'unknown', errno: null, reason: say.address.noIPv6, assumptions: [say.address.noIPv6Assumption] };
  const mine = footprint(request.family, request.host);
  const ipv4 = mine.v4;
  if (ipv4 !== undefined && ipv4 !== WILDCARD && !facts.localAddresses.IPv4.includes(ipv4)) {
    const first = Number(ipv4.split('.')[0]);
    if (first >= 224 || ipv4 === '255.255.255.255') return unclear(say.address.multicast(ipv4));
    if (first === 127) return unclear(say.address.loopbackRange(ipv4));
    return {
      verdict: 'unavailable',
      errno: 'EADDRNOTAVAIL',
      reason: say.address.notLocal(ipv4, facts.localAddresses.IPv4),
      assumptions: [say.address.downAdapters(ipv4)],
    };
  }
  const ipv6 = mine.v6;
  if (ipv6 !== undefined && ipv6 !== WILDCARD && !facts.localAddresses.IPv6.includes(ipv6)) {
    if (ipv6.startsWith('ff')) return unclear(say.address.multicast(ipv6));
    return {
      verdict: 'unavailable',
      errno: 'EADDRNOTAVAIL',
      reason: say.address.notLocal(ipv6, facts.localAddresses.IPv6),
      assumptions: [say.address.downAdapters(ipv6)],
    };
  }
  return null;
}

function unclear(why: { reason: string; assumption: string }): Step {
  return { verdict: 'unknown', errno: null, reason: why.reason, assumptions: [why.assumption] };
}

type Exclusion =
  | { kind: 'none'; unread: string[] }
  | { kind: 'denied'; family: Family; range: ExcludedRange }
  /** A dual-stack `::` bind whose port only IPv6 excludes: Node's listen(port) may retry on 0.0.0.0. */
  | { kind: 'ipv6-only'; range: ExcludedRange };

/**
 * Excluded port ranges (netsh … show excludedportrange): a reservation refuses every bind in it
 * with WSAEACCES (nodejs/node#35637, docker/for-win#3171, microsoft/WSL#5306); an administered
 * exclusion (`*`) keeps the ports from dynamic use only (KB 3039044 binds one; sql-docs#8145).
 * Ranges are per protocol and family; a dual-stack bind meets both families' (inferred from the
 * dual-stack sentence of "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE").
 */
function checkExclusion(request: ResolvedRequest, facts: Win32Facts): Exclusion {
  const families = familiesOf(requestFootprint(request));
  const unread: string[] = [];
  const hits = new Map<Family, ExcludedRange>();
  for (const family of families) {
    const ranges = facts.excluded[request.protocol][family];
    if (ranges === null) {
      unread.push(say.excluded.unread(request, family, facts.excludedUnread[request.protocol][family]));
      continue;
    }
    const hit = ranges.find((range) => !range.administered && request.port >= range.start && request.port <= range.end);
    if (hit !== undefined) hits.set(family, hit);
  }
  const ipv4 = hits.get('IPv4');
  if (ipv4 !== undefined) return { kind: 'denied', family: 'IPv4', range: ipv4 };
  const ipv6 = hits.get('IPv6');
  if (ipv6 !== undefined) return families.length === 2 ? { kind: 'ipv6-only', range: ipv6 } : { kind: 'denied', family: 'IPv6', range: ipv6 };
  return { kind: 'none', unread };
}

/** Predicts a bind (+listen) from the sockets on its port, the excluded ranges and the addresses. */
export function predictWin32(request: Win32Request, sockets: readonly Existing[], facts: Win32Facts): Prediction {
  checkWin32Request(request);
  const assumptions: string[] = [];
  const warnings: string[] = [];
  const result = (verdict: Verdict, errno: BindErrno | null, reason: string, conflicts: Existing[] = []): Prediction =>
    prediction(request, verdict, errno, reason, { conflicts, assumptions, warnings });

  const address = checkAddress(request, facts);
  if (address !== null) {
    assumptions.push(...address.assumptions);
    return result(address.verdict, address.errno, address.reason);
  }
  // No privileged ports: Windows lets any account bind below 1024 (MicrosoftDocs/sdk-api#1356).
  if (request.port === 0) return result('free', null, say.portZero(dynamicRange(request, facts)));

  const exclusion = checkExclusion(request, facts);
  if (exclusion.kind === 'denied') return result('denied', 'EACCES', say.excluded.denied(request, exclusion.family, exclusion.range));
  if (exclusion.kind === 'ipv6-only') return withIPv4Retry(request, sockets, facts, exclusion.range);

  const onPort = sockets.filter((existing) => existing.protocol === request.protocol && existing.localPort === request.port);
  const judged: Judged[] = [];
  for (const existing of onPort) {
    const kind = kindOf(existing, onPort);
    if (kind === null) continue;
    const user = userRelation(existing, facts);
    const users: UserRelation[] = 'relation' in user ? [user.relation] : ['same', 'other'];
    judged.push({ ...judge(request, existing, kind, users), ...('unknown' in user ? { userUnknown: user.unknown } : { user: user.relation }) });
    const v6only = assumedV6Only(request, existing, onPort, kind, users);
    if (v6only !== null) assumptions.push(v6only);
  }

  const failing = judged.filter((item) => [...item.outcomes].some((outcome) => outcome !== 'ok'));
  const mayBeFree = judged.every((item) => item.outcomes.has('ok'));
  const errnos = new Set(failing.flatMap((item) => [...item.outcomes].filter((outcome) => outcome !== 'ok')));
  if (!mayBeFree && errnos.size === 1) {
    const outcome = [...errnos][0]!;
    const certain = failing.filter((item) => item.outcomes.size === 1);
    if (inRange(request.port, dynamicRange(request, facts))) assumptions.push(say.portScalability(request, certain[0]!.existing));
    const reason = say.conflict(request, certain[0]!, outcome, overlapOf(request, certain[0]!.existing));
    return outcome === 'inuse'
      ? result(
          'in-use',
          'EADDRINUSE',
          reason,
          failing.map((item) => item.existing),
        )
      : result(
          'denied',
          'EACCES',
          reason,
          failing.map((item) => item.existing),
        );
  }

  // The bind fails whatever cannot be seen, but which error it gives turns on it: in use, with
  // no errno, and the cases spelled out.
  if (!mayBeFree) {
    for (const item of failing) assumptions.push(item.outcomes.size === 1 ? say.certainly(request, item) : say.uncertain(request, item));
    if (failing.length > 1) assumptions.push(say.checkOrder);
    return result(
      'in-use',
      null,
      say.failsEitherWay(request, [...errnos]),
      failing.map((item) => item.existing),
    );
  }

  // From here the bind may succeed, or what decides cannot be seen. TCP sockets bound without
  // listening or connecting are in no table IP Helper gives: a verdict from the others rests on
  // the stated assumption that there is none, as no reading could tell.
  warnings.push(...sharingWarnings(request, judged));
  const boundUnseen = request.protocol === 'tcp' && !facts.boundSocketsVisible ? [say.boundSocketsAssumed(request)] : [];
  if (failing.length > 0) {
    for (const item of failing) assumptions.push(item.outcomes.size === 1 ? say.certainly(request, item) : say.uncertain(request, item));
    if (failing.length > 1) assumptions.push(say.checkOrder);
    assumptions.push(...exclusion.unread, ...boundUnseen);
    return result(
      'unknown',
      null,
      say.mayBeInTheWay(failing[0]!),
      failing.map((item) => item.existing),
    );
  }
  if (exclusion.unread.length > 0) {
    assumptions.push(...exclusion.unread, ...boundUnseen);
    return result('unknown', null, say.excluded.unreadReason(request));
  }
  assumptions.push(...boundUnseen);
  return result('free', null, say.nothingInTheWay(request, onPort.length));
}

/** Where connect() and port 0 take the request's protocol's ports from. */
function dynamicRange(request: ResolvedRequest, facts: Win32Facts): [number, number] {
  return request.protocol === 'tcp' ? facts.ephemeralRange : facts.udpEphemeralRange;
}

function inRange(port: number, [low, high]: readonly [number, number]): boolean {
  return port >= low && port <= high;
}

/**
 * A `::` socket whose IPV6_V6ONLY IP Helper does not show is judged on IPv6 only: a dual-stack
 * socket also shows in the IPv4 table as 0.0.0.0 (nodejs/node#9390), and that row is judged on
 * its own. Where there is no such row and taking IPv4 would change the outcome, say it is assumed.
 */
function assumedV6Only(
  request: ResolvedRequest,
  existing: Existing,
  onPort: readonly Existing[],
  kind: SocketKind,
  users: readonly UserRelation[],
): string | null {
  if (kind !== 'bound' || existing.family !== 'IPv6' || existing.localAddress !== '::' || existing.ipv6Only !== undefined) return null;
  if (requestFootprint(request).v4 === undefined) return null;
  const pid = existing.ownerPid ?? ('owner' in existing ? existing.owner?.pid : undefined);
  const twin = onPort.some(
    (other) =>
      other.family === 'IPv4' &&
      other.localAddress === '0.0.0.0' &&
      (pid === undefined || (other.ownerPid ?? ('owner' in other ? other.owner?.pid : undefined)) === pid),
  );
  if (twin) return null;
  const asDual = judge(request, { ...existing, ipv6Only: false }, kind, users);
  const asShown = judge(request, existing, kind, users);
  const same = asDual.outcomes.size === asShown.outcomes.size && [...asDual.outcomes].every((outcome) => asShown.outcomes.has(outcome));
  return same ? null : say.assumedV6Only(request, existing);
}

/**
 * Node's listen(port) binds `::` first and, when that fails at once, 0.0.0.0 (lib/net.js,
 * createServerHandle "Fallback to ipv4"); a port that only IPv6 excludes makes `::` fail with
 * EACCES. Whether the host was left out decides which bind happens.
 */
function withIPv4Retry(request: Win32Request, sockets: readonly Existing[], facts: Win32Facts, range: ExcludedRange): Prediction {
  const denied = say.excluded.denied(request, 'IPv6', range);
  // dgram has no such retry, and a host given as `::` is bound as given
  if (request.protocol === 'udp' || request.hostDefaulted === false) return prediction(request, 'denied', 'EACCES', denied);
  const retry = predictWin32({ ...request, host: '0.0.0.0', family: 'IPv4', ipv6Only: false, hostDefaulted: false }, sockets, facts);
  if (request.hostDefaulted === true) return { ...retry, assumptions: [say.retry.taken(request, range), ...retry.assumptions] };
  if (retry.verdict === 'denied') return { ...retry, reason: `${denied}; ${say.retry.alsoDenied(retry.reason)}` };
  return {
    ...retry,
    verdict: 'unknown',
    errno: null,
    reason: say.retry.reason(request, retry),
    assumptions: [say.retry.either(request, range, retry), ...retry.assumptions],
  };
}

/** Where the request meets a socket as it is shown: the first stack both are on, and how. */
function overlapOf(request: ResolvedRequest, existing: Existing): say.Overlap | null {
  const mine = requestFootprint(request);
  const theirs = theirFootprint(existing, 'shown');
  for (const stack of STACKS) {
    const own = mine[stack];
    const other = theirs[stack];
    if (own === undefined || other === undefined || (own !== WILDCARD && other !== WILDCARD && own !== other)) continue;
    const relation = own === WILDCARD ? (other === WILDCARD ? 'both-wildcard' : 'covers') : other === WILDCARD ? 'inside' : 'same';
    return { stack, relation };
  }
  return null;
}

/** Binds that succeed on Windows where Linux refuses them, and leave two servers on one port. */
function sharingWarnings(request: ResolvedRequest, judged: readonly Judged[]): string[] {
  const warnings: string[] = [];
  for (const item of judged) {
    if (item.kind !== 'bound' || !item.outcomes.has('ok')) continue;
    const overlap = overlapOf(request, item.existing);
    if (overlap === null) continue;
    const sure = item.outcomes.size === 1;
    if (request.reuseAddr) warnings.push(say.warning.sharedByReuseAddr(request, item.existing, sure));
    else if (overlap.relation === 'inside') warnings.push(say.warning.shadowsWildcard(request, item.existing, sure));
    else if (overlap.relation === 'covers') warnings.push(say.warning.exceptSpecific(request, item.existing, sure));
  }
  return warnings;
}

/**
 * Whether the account of this socket's owner may change the verdict: only then need the owner
 * lookup read it. A TIME_WAIT has no owner to read.
 */
export function mayMatter(request: ResolvedRequest, socket: SocketRecord): boolean {
  if (request.port === 0 || socket.protocol !== request.protocol || socket.localPort !== request.port) return false;
  if (socket.state === 'TIME_WAIT' || socket.kernelOnly) return false;
  return judge(request, socket, kindOf(socket, []) ?? 'connection', ['same', 'other']).varies.includes('user');
}

/** Whether the socket may be in the way of the request, whoever owns it: the sockets worth naming. */
export function inTheWay(request: ResolvedRequest, socket: SocketRecord): boolean {
  if (request.port === 0 || socket.protocol !== request.protocol || socket.localPort !== request.port) return false;
  const kind = kindOf(socket, []) ?? 'connection';
  return [...judge(request, socket, kind, ['same', 'other']).outcomes].some((outcome) => outcome !== 'ok');
}

/** Worth knowing about the port beyond the verdict: connect() may take it, or an administrator excluded it from dynamic use. */
export function win32Warnings(request: ResolvedRequest, facts: Win32Facts): string[] {
  if (request.port === 0) return [];
  const warnings: string[] = [];
  const administered = familiesOf(requestFootprint(request))
    .map((family) => ({
      family,
      range: facts.excluded[request.protocol][family]?.find((range) => range.administered && request.port >= range.start && request.port <= range.end),
    }))
    .find((hit) => hit.range !== undefined);
  if (administered?.range !== undefined) {
    warnings.push(say.warning.administered(request, administered.family, administered.range));
    return warnings;
  }
  const dynamic = dynamicRange(request, facts);
  if (inRange(request.port, dynamic)) warnings.push(say.warning.ephemeral(request, dynamic, facts.ephemeralUnread.length > 0));
  return warnings;
}

export const WIN32_RULES: BindRules = {
  defaults: { reuseAddr: { tcp: nodeDefaults.tcp.reuseAddr, udp: nodeDefaults.udp.reuseAddr } },
  check: checkWin32Request,
  listenersFirst: false,
  needsOwners: true,
  predict: (request, sockets, facts) => predictWin32(request, sockets, factsOf(facts, 'win32')),
  mayMatter,
  warnings: (request, facts) => win32Warnings(request, factsOf(facts, 'win32')),
};
