// Linux's bind() and listen() rules as pure functions: a request, the sockets on its port, facts → verdict.
// Sources: net/ipv4/af_inet.c __inet_bind, net/ipv6/af_inet6.c __inet6_bind, inet_connection_sock.c
// inet_bind_conflict, net/ipv4/udp.c udp_lib_lport_inuse; checked case by case in docs/bind-rules.md
// and by the differential oracle in test/oracle.test.ts.
import { formatEndpoint, formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../address.js';
import { inPrefix, ipv4Number, type SystemFacts } from '../facts.js';
import type { OwnedSocket } from '../owners.js';
import type { SocketRecord } from '../records.js';
import type { BindErrno, Prediction, ResolvedRequest, Verdict } from './types.js';

/** A socket on the port: its record, plus owners and options when they were looked up. */
export type Existing = SocketRecord | OwnedSocket;

/** true, false, or not knowable from what can be seen. */
type Maybe = boolean | 'unknown';

/**
 * The addresses a socket receives on, per family: `any`, one address, or none. An IPv6 `::` socket
 * receives IPv4 too unless IPV6_V6ONLY; a v4-mapped address is an IPv4 address.
 */
interface AddressSet {
  v4: 'any' | number | null | 'unknown';
  v6: 'any' | string | null;
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
export function predictLinux(request: ResolvedRequest, sockets: readonly Existing[], facts: SystemFacts): Prediction {
  return withPolicy(predictByRules(request, sockets, facts), request, facts);
}

/** The kernel's own checks: privilege, address, then the sockets on the port. */
function predictByRules(request: ResolvedRequest, sockets: readonly Existing[], facts: SystemFacts): Prediction {
  const assumptions: string[] = [];
  const result = (verdict: Verdict, errno: BindErrno | null, reason: string, conflicts: Existing[] = []): Prediction => ({
    port: request.port,
    host: request.host,
    protocol: request.protocol,
    verdict,
    errno,
    reason,
    conflicts,
    assumptions,
    warnings: [],
  });

  // The order of checks differs: IPv4 looks at the address first, IPv6 at the port's privilege.
  const privilege = checkPrivilege(request, facts);
  const address = checkAddress(request, facts);
  const steps = request.family === 'IPv6' ? [privilege, address] : [address, privilege];
  for (const step of steps) {
    if (step === null) continue;
    if (step.verdict === 'unknown') {
      assumptions.push(...step.assumptions);
      return result('unknown', null, step.reason);
    }
    return result(step.verdict, step.errno, step.reason);
  }

  if (request.port === 0) return result('free', null, `port 0 asks the kernel for any free port of ${facts.ephemeralRange.join('–')}`);

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
      (item) => item.overlap !== false && item.existing.uid === request.uid && known('reusePort' in item.existing ? item.existing.reusePort : undefined) !== false && item.existing.state !== 'TIME_WAIT',
    );
    if (partner !== undefined) {
      // a partner whose SO_REUSEPORT could not be read may not share at all: say why it is unknown too
      const sharesSurely = known('reusePort' in partner.existing ? partner.existing.reusePort : undefined) === true;
      if (!sharesSurely) assumptions.push(uncertainty(request, { ...partner, overlap: true }));
      assumptions.push(
        `SO_REUSEPORT: ${describe(partner.existing)} ${sharesSurely ? 'shares' : 'may share'} the port with this uid through SO_REUSEPORT, so whether the bind passes depends on the order in which the sockets on port ${request.port} were bound, which cannot be seen: ` +
          `in some orders it succeeds, in others ${conflicts.length > 0 ? describe(conflicts[0]!.existing) : 'another socket'} makes it fail with EADDRINUSE`,
      );
      return result('unknown', null, `the SO_REUSEPORT outcome on port ${request.port} depends on the order earlier sockets were bound`, [
        ...conflicts.map((item) => item.existing),
        partner.existing,
      ]);
    }
  }

  if (conflicts.length > 0) {
    return result('in-use', 'EADDRINUSE', conflictReason(request, conflicts[0]!.existing), conflicts.map((item) => item.existing));
  }
  if (uncertain.length > 0) {
    for (const item of uncertain) assumptions.push(uncertainty(request, item));
    return result('unknown', null, `whether ${describe(uncertain[0]!.existing)} is in the way depends on facts that cannot be seen`, uncertain.map((item) => item.existing));
  }

  // Nothing is in the way among the sockets that can be seen.
  if (request.protocol === 'tcp' && !facts.boundSocketsVisible) {
    assumptions.push(
      `TCP sockets bound to port ${request.port} without listening cannot be seen on this kernel (Linux < 6.8) or through /proc: if there is one, the bind may fail with EADDRINUSE; if not, it succeeds`,
    );
    return result('unknown', null, 'no socket that can be seen is in the way, but bound-only TCP sockets are invisible here');
  }
  return result(
    'free',
    null,
    judged.length === 0
      ? `no socket uses ${request.protocol} port ${request.port}`
      : `no socket on ${request.protocol} port ${request.port} overlaps ${formatEndpoint(request.family, request.host, request.port)} or refuses to share it`,
  );
}

interface Step {
  verdict: Verdict;
  errno: BindErrno | null;
  reason: string;
  assumptions: string[];
}

/**
 * What no socket table shows. A security module confining this process may refuse a bind the
 * tables allow. cgroup-BPF programs on socket(), bind() and post-bind may refuse it (EPERM),
 * rewrite its address or port, or waive the privilege check (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE):
 * where they run, `free` and `denied` become unknown, and other verdicts say what they assume.
 * Where they cannot be counted (no CAP_NET_ADMIN), the verdict stands on a stated assumption.
 */
function withPolicy(prediction: Prediction, request: ResolvedRequest, facts: SystemFacts): Prediction {
  const unknown = (reason: string, assumption: string): Prediction => ({
    ...prediction,
    verdict: 'unknown',
    errno: null,
    reason,
    assumptions: [...prediction.assumptions, assumption],
  });
  if (facts.confinement !== null && prediction.verdict === 'free') {
    return unknown(
      'no socket is in the way, but a security policy confines this process',
      `this process runs confined by a security module (${facts.confinement}), whose policy may refuse the bind: if it allows it, the bind succeeds`,
    );
  }

  const hooks = facts.bindHooks;
  const where = hooks.cgroup === null ? "this process's cgroup" : `cgroup ${hooks.cgroup}`;
  const programs = request.family === 'IPv6' ? hooks.ipv6 : hooks.ipv4;
  if (programs === 0) return prediction;
  if (programs === null) {
    if (prediction.verdict !== 'free' && prediction.verdict !== 'denied') return prediction;
    const assumption = `cgroup-BPF programs on socket() and bind() in ${where} could not be counted (${hooks.unseen ?? 'unknown reason'}): assumed that none ${prediction.verdict === 'free' ? 'refuses the bind' : 'waives the privilege check'}`;
    return { ...prediction, assumptions: [...prediction.assumptions, assumption] };
  }
  const judge = `${programs} cgroup-BPF program${programs === 1 ? '' : 's'} judge${programs === 1 ? 's' : ''} socket() and bind() in ${where}`;
  const attached = `cgroup-BPF programs attached to ${where} or its ancestors (${programs} for ${request.family})`;
  if (prediction.verdict === 'free') {
    return unknown(
      `no socket is in the way, but ${judge}`,
      `${attached} may refuse the bind with EPERM or rewrite its address or port, as systemd's SocketBindDeny= does: if they let it through unchanged, the bind succeeds`,
    );
  }
  if (prediction.verdict === 'denied') {
    return unknown(
      `${prediction.reason}, but ${judge}`,
      `${attached} may waive the privilege check for this bind (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE): if none does, EACCES`,
    );
  }
  return {
    ...prediction,
    assumptions: [...prediction.assumptions, `${attached} may rewrite the bind's address or port: assumed that they do not`],
  };
}

/** EACCES: ports below ip_unprivileged_port_start need CAP_NET_BIND_SERVICE where the netns lives. */
function checkPrivilege(request: ResolvedRequest, facts: SystemFacts): Step | null {
  if (request.port === 0 || request.port >= facts.unprivilegedPortStart) return null;
  if (facts.canBindPrivileged === true) return null;
  if (facts.canBindPrivileged === null) {
    return {
      verdict: 'unknown',
      errno: null,
      reason: `port ${request.port} is below ip_unprivileged_port_start (${facts.unprivilegedPortStart}) and it is unclear whether this process has CAP_NET_BIND_SERVICE in the user namespace that owns its network namespace`,
      assumptions: [`CAP_NET_BIND_SERVICE in the network namespace's owning user namespace: present → the privilege check passes; absent → EACCES`],
    };
  }
  return {
    verdict: 'denied',
    errno: 'EACCES',
    reason: `port ${request.port} is below net.ipv4.ip_unprivileged_port_start (${facts.unprivilegedPortStart}) and this process lacks CAP_NET_BIND_SERVICE in the user namespace that owns its network namespace`,
    assumptions: [],
  };
}

/** EADDRNOTAVAIL: the address must be local (or the wildcard), unless ip_nonlocal_bind. */
function checkAddress(request: ResolvedRequest, facts: SystemFacts): Step | null {
  const unavailable = (reason: string): Step => ({ verdict: 'unavailable', errno: 'EADDRNOTAVAIL', reason, assumptions: [] });
  const set = requestAddressSet(request);
  if (typeof set.v4 === 'number') {
    if (facts.nonlocalBindIPv4 || isLocalIPv4(set.v4, facts)) return null;
    return unavailable(`${formatIPv4(Uint8Array.of(set.v4 >>> 24, (set.v4 >>> 16) & 255, (set.v4 >>> 8) & 255, set.v4 & 255))} is not an address of this host (not in the local routing table) and net.ipv4.ip_nonlocal_bind is 0`);
  }
  if (typeof set.v6 === 'string' && set.v6 !== 'any') {
    if (facts.nonlocalBindIPv6 || set.v6.startsWith('ff')) return null;
    const assigned = facts.ipv6Addresses.find((address) => address.address === set.v6);
    if (assigned === undefined) return unavailable(`${set.v6} is not assigned to any interface and net.ipv6.ip_nonlocal_bind is 0`);
    if (assigned.tentative) return unavailable(`${set.v6} is still tentative (duplicate address detection has not finished) and cannot be bound yet`);
  }
  return null;
}

function isLocalIPv4(address: number, facts: SystemFacts): boolean {
  // 224.0.0.0/4 multicast and 255.255.255.255 are accepted like local addresses
  if (address >= 0xe0000000 && address < 0xf0000000) return true;
  if (address === 0xffffffff) return true;
  if (!facts.ipv4LocalTablePresent) return true;
  return [...facts.ipv4Local, ...facts.ipv4Broadcast].some((prefix) => inPrefix(address, prefix));
}

/** Parses and checks a request's host: an IP address, no zone; what bind() would refuse with EINVAL. */
export function parseHost(host: string): { family: 'IPv4' | 'IPv6'; canonical: string } | { error: string } {
  const ipv4 = parseIPv4(host);
  if (ipv4 !== null) return { family: 'IPv4', canonical: formatIPv4(ipv4) };
  const ipv6 = parseIPv6(host);
  if (ipv6 === null) return { error: `${JSON.stringify(host)} is not an IPv4 or IPv6 address` };
  return { family: 'IPv6', canonical: formatIPv6(ipv6) };
}

function conflictReason(request: ResolvedRequest, existing: Existing): string {
  return `${overlapWords(request, existing)}${describe(existing)}; ${sharingFails(request, existing)}`;
}

/** The first rule, in the kernel's order, that keeps the two sockets from sharing the port. */
function sharingFails(request: ResolvedRequest, existing: Existing): string {
  const reuseAddr = 'reuseAddr' in existing ? existing.reuseAddr : undefined;
  const reusePort = 'reusePort' in existing ? existing.reusePort : undefined;
  const listening = request.protocol === 'tcp' && existing.state === 'LISTEN';
  // SO_REUSEPORT is the only way left when the other socket listens (TCP); say why it fails
  if (request.reusePort) {
    if (reusePort === false) return `it does not set SO_REUSEPORT${listening ? ', and a listening socket shares only through SO_REUSEPORT' : ''}`;
    if (reusePort === true && existing.uid !== request.uid && existing.state !== 'TIME_WAIT') {
      return `SO_REUSEPORT shares only between sockets of the same uid (it has uid ${existing.uid}, this bind ${request.uid})`;
    }
  }
  if (listening) return request.reusePort ? 'a listening socket shares only through SO_REUSEPORT' : 'a listening socket is never shared through SO_REUSEADDR';
  if (!request.reuseAddr) return request.reusePort ? 'this bind sets SO_REUSEPORT but not SO_REUSEADDR' : 'this bind sets neither SO_REUSEADDR nor SO_REUSEPORT';
  if (reuseAddr === false) return 'it does not set SO_REUSEADDR';
  return 'neither SO_REUSEADDR nor SO_REUSEPORT lets them share';
}

function overlapWords(request: ResolvedRequest, existing: Existing): string {
  const mine = formatEndpoint(request.family, request.host, request.port);
  if (request.family === 'IPv6' && request.host === '::' && !request.ipv6Only && existing.family === 'IPv4') {
    return `\`::\` without IPV6_V6ONLY also receives IPv4, so ${mine} overlaps `;
  }
  if (existing.family === 'IPv6' && existing.localAddress === '::' && existing.ipv6Only === false && request.family === 'IPv4') {
    return `a \`::\` socket without IPV6_V6ONLY also receives IPv4, so ${mine} overlaps `;
  }
  const wildcard = (address: string) => address === '0.0.0.0' || address === '::';
  if (wildcard(request.host) && !wildcard(existing.localAddress)) return `${mine} covers every address, including that of `;
  if (!wildcard(request.host) && wildcard(existing.localAddress)) return `${mine} lies inside the wildcard of `;
  return `${mine} is the same address as `;
}

function uncertainty(request: ResolvedRequest, item: Judged): string {
  const them = describe(item.existing);
  if (item.overlap === 'unknown') {
    return `whether ${them} has IPV6_V6ONLY cannot be seen (only sock_diag shows it): without it, it overlaps ${formatEndpoint(request.family, request.host, request.port)}; with it, it does not`;
  }
  const timeWait = item.existing.state === 'TIME_WAIT';
  const flag = request.reusePort && !request.reuseAddr ? 'SO_REUSEPORT' : request.reusePort ? 'SO_REUSEADDR and SO_REUSEPORT' : 'SO_REUSEADDR';
  const unread = 'optionsUnread' in item.existing ? item.existing.optionsUnread : undefined;
  const where = timeWait
    ? 'a TIME_WAIT socket keeps the options of the socket it came from, and no interface shows them'
    : unread !== undefined && !unread.includes('ptrace rights')
      ? `portclash does not read them: ${unread}`
      : `reading them needs ptrace rights over its owner${item.existing.uid !== request.uid || process.getuid?.() !== 0 ? ' (try sudo)' : ''}`;
  return `the ${flag} of ${them} cannot be seen (${where}): if it set ${flag.includes(' and ') ? 'them' : 'it'}${timeWait && flag !== 'SO_REUSEPORT' ? ' (Node servers do)' : ''}, the bind succeeds; if not, EADDRINUSE`;
}

/** `0.0.0.0:8080 (LISTEN, held by node server.js, pid 4121)` */
export function describe(existing: Existing): string {
  const where = existing.remotePort === 0 ? '' : ` → ${formatEndpoint(existing.family, existing.remoteAddress, existing.remotePort)}`;
  const owner = 'owner' in existing && existing.owner !== null ? `, held by ${existing.owner.name ?? '?'} (pid ${existing.owner.pid})` : '';
  return `${formatEndpoint(existing.family, existing.localAddress, existing.localPort)}${where} (${existing.state}${owner})`;
}

