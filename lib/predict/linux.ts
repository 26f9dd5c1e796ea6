// Linux's bind() and listen() rules as pure functions: a request, the sockets on its port, facts → verdict.
// The sentences each rule gives are in linux-reasons.ts.
// Sources: net/ipv4/af_inet.c __inet_bind, net/ipv6/af_inet6.c __inet6_bind, inet_connection_sock.c
// inet_bind_conflict, net/ipv4/udp.c udp_lib_lport_inuse; checked case by case in docs/bind-rules.md
// and by the differential oracle in test/oracle.test.ts.
import { inPrefix, ipv4Number, type LinuxFacts } from '../linux/facts.js';
import { inRanges } from '../ranges.js';
import type { BindRules, Existing } from '../platform.js';
import { factsOf } from './facts.js';
import type { SocketRecord } from '../records.js';
import { withPolicy } from './linux-policy.js';
import { prediction } from './prediction.js';
import * as say from './linux-reasons.js';
import type { BindErrno, Prediction, ResolvedRequest, Verdict } from './types.js';

/** true, false, or not knowable from what can be seen. */
type Maybe = boolean | 'unknown';

/**
 * The addresses a socket receives on, per family: `any`, one address, or none. An IPv6 `::` socket
 * receives IPv4 too unless IPV6_V6ONLY; a v4-mapped address is an IPv4 address.
 */
interface AddressSet {
  v4: 'any' | number | null | 'unknown';
  /** 'any' for ::, else the one address */
  v6: string | null;
}

export function addressSet(family: 'IPv4' | 'IPv6', address: string, ipv6Only: boolean | undefined): AddressSet {
  if (family === 'IPv4') return { v4: address === '0.0.0.0' ? 'any' : ipv4Number(address), v6: null };
  if (address === '::') return { v6: 'any', v4: ipv6Only === true ? null : ipv6Only === false ? 'any' : 'unknown' };
  if (address.startsWith('::ffff:') && address.includes('.')) {
    const ipv4 = address.slice('::ffff:'.length);
    return { v4: ipv4 === '0.0.0.0' ? 'any' : ipv4Number(ipv4), v6: null };
  }
  return { v4: null, v6: address };
}

/** Whether two sockets' addresses overlap (inet_rcv_saddr_equal, ipv6_rcv_saddr_equal). */
export function overlaps(a: AddressSet, b: AddressSet): Maybe {
  const v6 = a.v6 !== null && b.v6 !== null && (a.v6 === 'any' || b.v6 === 'any' || a.v6 === b.v6);
  if (v6) return true;
  if (a.v4 === null || b.v4 === null) return false;
  const unknown = a.v4 === 'unknown' || b.v4 === 'unknown';
  if (a.v4 === 'any' || b.v4 === 'any' || a.v4 === b.v4) return unknown ? 'unknown' : true;
  return unknown ? 'unknown' : false;
}

function and(...values: Maybe[]): Maybe {
  if (values.includes(false)) return false;
  return values.includes('unknown') ? 'unknown' : true;
}

function or(...values: Maybe[]): Maybe {
  if (values.includes(true)) return true;
  return values.includes('unknown') ? 'unknown' : false;
}

function not(value: Maybe): Maybe {
  return value === 'unknown' ? 'unknown' : !value;
}

function known(value: boolean | undefined): Maybe {
  return value === undefined ? 'unknown' : value;
}

/** The request's own address set: a specific IPv6 address turns IPV6_V6ONLY on by itself. */
export function requestAddressSet(request: ResolvedRequest): AddressSet {
  return addressSet(request.family, request.host, request.ipv6Only);
}

/** Whether `existing` keeps `request` from binding (and listening), sockets' addresses aside. */
function blocks(request: ResolvedRequest, existing: Existing): Maybe {
  const reuseAddr = known('reuseAddr' in existing ? existing.reuseAddr : undefined);
  const reusePort = known('reusePort' in existing ? existing.reusePort : undefined);
  if (request.protocol === 'tcp') {
    // inet_bind_conflict: shared through SO_REUSEADDR unless the other listens, or through
    // SO_REUSEPORT with the same uid (a TIME_WAIT shares with anyone).
    const timeWait = existing.state === 'TIME_WAIT';
    const shared = or(
      and(request.reuseAddr, reuseAddr, existing.state !== 'LISTEN'),
      and(request.reusePort, reusePort, timeWait || existing.uid === request.uid),
    );
    return not(shared);
  }
  // udp_lib_lport_inuse: SO_REUSEADDR on both, or SO_REUSEPORT on both with the same uid.
  return not(or(and(request.reuseAddr, reuseAddr), and(request.reusePort, reusePort, existing.uid === request.uid)));
}

/** Sockets that take part in port conflicts: request sockets (NEW_SYN_RECV) are not bound. */
function inBindTable(existing: Existing): boolean {
  return existing.state !== 'NEW_SYN_RECV';
}

interface Judged {
  existing: Existing;
  overlap: Maybe;
  blocks: Maybe;
}

/** Predicts a bind (+listen) from the sockets already on its port and protocol. */
export function predictLinux(request: ResolvedRequest, sockets: readonly Existing[], facts: LinuxFacts): Prediction {
  return withPolicy(predictByRules(request, sockets, facts), request, facts);
}

/**
 * Whether the verdict may turn on a socket's owner or options: one whose address may overlap the
 * request's. A TIME_WAIT socket keeps its options out of every interface, so none are looked up.
 */
export function mayMatter(request: ResolvedRequest, socket: SocketRecord): boolean {
  return socket.state !== 'TIME_WAIT' && overlaps(requestAddressSet(request), addressSet(socket.family, socket.localAddress, socket.ipv6Only)) !== false;
}

/** Worth knowing about the port beyond the verdict: connect() may take it first, or it needs privilege. */
export function linuxWarnings(request: ResolvedRequest, facts: LinuxFacts): string[] {
  const warnings: string[] = [];
  const { port } = request;
  if (facts.sysctlsUnread !== null) return [say.warning.sysctlsUnread(facts.sysctlsUnread)];
  const [low, high] = facts.ephemeralRange;
  if (port >= low && port <= high && !inRanges(port, facts.reservedPorts)) warnings.push(say.warning.ephemeral(port, low, high));
  if (port < facts.unprivilegedPortStart && facts.canBindPrivileged === true) warnings.push(say.warning.privileged(port, facts));
  return warnings;
}

export const LINUX_RULES: BindRules = {
  // libuv sets SO_REUSEADDR on every TCP socket it binds on Unix; dgram only when asked
  defaults: { reuseAddr: { tcp: true, udp: false } },
  check: () => undefined,
  listenersFirst: true,
  needsOwners: false,
  predict: (request, sockets, facts) => predictLinux(request, sockets, factsOf(facts, 'linux')),
  mayMatter,
  warnings: (request, facts) => linuxWarnings(request, factsOf(facts, 'linux')),
};

/** The kernel's own checks: privilege, address, then the sockets on the port. */
function predictByRules(request: ResolvedRequest, sockets: readonly Existing[], facts: LinuxFacts): Prediction {
  const assumptions: string[] = [];
  const result = (verdict: Verdict, errno: BindErrno | null, reason: string, conflicts: Existing[] = []): Prediction =>
    prediction(request, verdict, errno, reason, { conflicts, assumptions });

  // The order of checks differs: IPv4 looks at the address first, IPv6 at the port's privilege.
  const privilege = checkPrivilege(request, facts);
  const address = checkAddress(request, facts);
  const steps = request.family === 'IPv6' ? [privilege, address] : [address, privilege];
  for (const step of steps) {
    if (step === null) continue;
    if (step.verdict === 'unknown') {
      assumptions.push(...step.assumptions);
      // a sysctl that could not be read leaves the check open; a socket in the way fails the bind either way
      const held = facts.sysctlsUnread === null ? null : judgeSockets(request, sockets, facts, []);
      if (held?.verdict === 'in-use') return result('unknown', null, say.failsEitherWay(step.reason, held.reason), held.conflicts);
      return result('unknown', null, step.reason);
    }
    return result(step.verdict, step.errno, step.reason);
  }
  return judgeSockets(request, sockets, facts, assumptions);
}

/** The sockets on the port: whether one is in the way, may be, or none is. */
function judgeSockets(request: ResolvedRequest, sockets: readonly Existing[], facts: LinuxFacts, assumptions: string[]): Prediction {
  const result = (verdict: Verdict, errno: BindErrno | null, reason: string, conflicts: Existing[] = []): Prediction =>
    prediction(request, verdict, errno, reason, { conflicts, assumptions });
  if (request.port === 0) return result('free', null, say.portZero(facts));

  const mine = requestAddressSet(request);
  const judged: Judged[] = sockets
    .filter((existing) => existing.protocol === request.protocol && existing.localPort === request.port && inBindTable(existing))
    .map((existing) => {
      const overlap = overlaps(mine, addressSet(existing.family, existing.localAddress, existing.ipv6Only));
      return { existing, overlap, blocks: overlap === false ? false : blocks(request, existing) };
    });
  const conflicts = judged.filter((item) => item.overlap === true && item.blocks === true);
  const uncertain = judged.filter((item) => and(item.overlap, item.blocks) === 'unknown');

  // SO_REUSEPORT binds can pass the kernel's fast path without the checks above, depending on
  // the order in which earlier sockets joined the port (sk_reuseport_match, and UDP's first
  // overlapping socket): when such a socket of ours is there, the rules cannot decide.
  if (request.reusePort && (conflicts.length > 0 || uncertain.length > 0)) {
    const partner = judged.find(
      (item) =>
        item.overlap !== false &&
        item.existing.uid === request.uid &&
        known('reusePort' in item.existing ? item.existing.reusePort : undefined) !== false &&
        item.existing.state !== 'TIME_WAIT',
    );
    if (partner !== undefined) {
      // a partner whose SO_REUSEPORT could not be read may not share at all: say why it is unknown too
      const sharesSurely = known('reusePort' in partner.existing ? partner.existing.reusePort : undefined) === true;
      if (!sharesSurely) assumptions.push(uncertainty(request, { ...partner, overlap: true }));
      assumptions.push(say.reusePortOrder.assumption(request, partner.existing, sharesSurely, conflicts[0]?.existing));
      return result('unknown', null, say.reusePortOrder.reason(request), [...conflicts.map((item) => item.existing), partner.existing]);
    }
  }

  if (conflicts.length > 0) {
    return result(
      'in-use',
      'EADDRINUSE',
      say.conflictReason(request, conflicts[0]!.existing),
      conflicts.map((item) => item.existing),
    );
  }
  if (uncertain.length > 0) {
    for (const item of uncertain) assumptions.push(uncertainty(request, item));
    return result(
      'unknown',
      null,
      say.mayBeInTheWay(uncertain[0]!.existing),
      uncertain.map((item) => item.existing),
    );
  }

  // Nothing is in the way among the sockets that can be seen.
  if (request.protocol === 'tcp' && !facts.boundSocketsVisible) {
    assumptions.push(say.boundSocketsUnseen.assumption(request));
    return result('unknown', null, say.boundSocketsUnseen.reason);
  }
  return result('free', null, say.nothingInTheWay(request, judged.length));
}

interface Step {
  verdict: Verdict;
  errno: BindErrno | null;
  reason: string;
  assumptions: string[];
}

/** EACCES: ports below ip_unprivileged_port_start need CAP_NET_BIND_SERVICE where the netns lives. */
function checkPrivilege(request: ResolvedRequest, facts: LinuxFacts): Step | null {
  if (request.port === 0 || facts.canBindPrivileged === true) return null;
  // unread, ip_unprivileged_port_start may be anything from 0 to 65536: any port may need privilege
  if (facts.sysctlsUnread !== null) {
    return { verdict: 'unknown', errno: null, reason: say.privilege.unread(request, facts.sysctlsUnread), assumptions: [say.privilege.unreadAssumption] };
  }
  if (request.port >= facts.unprivilegedPortStart) return null;
  if (facts.canBindPrivileged === null) {
    return {
      verdict: 'unknown',
      errno: null,
      reason: say.privilege.unclear(request, facts),
      assumptions: [say.privilege.unclearAssumption],
    };
  }
  return {
    verdict: 'denied',
    errno: 'EACCES',
    reason: say.privilege.denied(request, facts),
    assumptions: [],
  };
}

/** EADDRNOTAVAIL: the address must be local (or the wildcard), unless ip_nonlocal_bind. */
function checkAddress(request: ResolvedRequest, facts: LinuxFacts): Step | null {
  const unavailable = (reason: string): Step => ({ verdict: 'unavailable', errno: 'EADDRNOTAVAIL', reason, assumptions: [] });
  // unread, ip_nonlocal_bind may let an address that is not local bind after all
  const unavailableUnless = (reason: string): Step =>
    facts.sysctlsUnread === null
      ? unavailable(reason)
      : { verdict: 'unknown', errno: null, reason: say.address.unread(reason, facts.sysctlsUnread), assumptions: [say.address.unreadAssumption] };
  const set = requestAddressSet(request);
  if (typeof set.v4 === 'number') {
    if (facts.nonlocalBindIPv4 || isLocalIPv4(set.v4, facts)) return null;
    return unavailableUnless(say.address.notLocalIPv4(set.v4));
  }
  if (typeof set.v6 === 'string' && set.v6 !== 'any') {
    if (facts.nonlocalBindIPv6 || set.v6.startsWith('ff')) return null;
    const assigned = facts.ipv6Addresses.find((address) => address.address === set.v6);
    if (assigned === undefined) return unavailableUnless(say.address.notAssignedIPv6(set.v6));
    if (assigned.tentative) return unavailableUnless(say.address.tentativeIPv6(set.v6));
  }
  return null;
}

function isLocalIPv4(address: number, facts: LinuxFacts): boolean {
  // 224.0.0.0/4 multicast and 255.255.255.255 are accepted like local addresses
  if (address >= 0xe0000000 && address < 0xf0000000) return true;
  if (address === 0xffffffff) return true;
  if (!facts.ipv4LocalTablePresent) return true;
  return [...facts.ipv4Local, ...facts.ipv4Broadcast].some((prefix) => inPrefix(address, prefix));
}

/** Why a socket that may be in the way cannot be judged: an unseen IPV6_V6ONLY, or unseen sharing options. */
function uncertainty(request: ResolvedRequest, item: Judged): string {
  return item.overlap === 'unknown' ? say.ipv6OnlyUnseen(request, item.existing) : say.optionsUnseen(request, item.existing);
}
