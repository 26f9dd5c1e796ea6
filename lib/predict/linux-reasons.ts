// The English of Linux's verdicts: the sentence for each rule in predict/linux.ts, kept apart from the rules.
import { formatEndpoint, formatIPv4 } from '../address.js';
import type { LinuxFacts } from '../linux/facts.js';
import type { Existing } from '../platform.js';
import type { ResolvedRequest } from './types.js';

/** `0.0.0.0:8080 (LISTEN, held by node server.js, pid 4121)` */
export function describe(existing: Existing): string {
  const where = existing.remotePort === 0 ? '' : ` → ${formatEndpoint(existing.family, existing.remoteAddress, existing.remotePort)}`;
  const owner = 'owner' in existing && existing.owner !== null ? `, held by ${existing.owner.name ?? '?'} (pid ${existing.owner.pid})` : '';
  return `${formatEndpoint(existing.family, existing.localAddress, existing.localPort)}${where} (${existing.state}${owner})`;
}

export function portZero(facts: LinuxFacts): string {
  return facts.sysctlsUnread === null
    ? `port 0 asks the kernel for any free port of ${facts.ephemeralRange.join('–')}`
    : 'port 0 asks the kernel for any free port of its ephemeral range (which could not be read)';
}

/** A check that cannot be decided, before a socket that fails the bind whatever it decides. */
export function failsEitherWay(open: string, inUse: string): string {
  return `${open}; the bind fails either way, with that error or with EADDRINUSE: ${inUse}`;
}

export function nothingInTheWay(request: ResolvedRequest, onPort: number): string {
  return onPort === 0
    ? `no socket uses ${request.protocol} port ${request.port}`
    : `no socket on ${request.protocol} port ${request.port} overlaps ${formatEndpoint(request.family, request.host, request.port)} or refuses to share it`;
}

export const boundSocketsUnseen = {
  reason: 'no socket that can be seen is in the way, but bound-only TCP sockets are invisible here',
  assumption: (request: ResolvedRequest) =>
    `TCP sockets bound to port ${request.port} without listening cannot be seen on this kernel (Linux < 6.8) or through /proc: if there is one, the bind may fail with EADDRINUSE; if not, it succeeds`,
};

export const reusePortOrder = {
  reason: (request: ResolvedRequest) => `the SO_REUSEPORT outcome on port ${request.port} depends on the order earlier sockets were bound`,
  assumption: (request: ResolvedRequest, partner: Existing, sharesSurely: boolean, conflict: Existing | undefined) =>
    `SO_REUSEPORT: ${describe(partner)} ${sharesSurely ? 'shares' : 'may share'} the port with this uid through SO_REUSEPORT, so whether the bind passes depends on the order in which the sockets on port ${request.port} were bound, which cannot be seen: ` +
    `in some orders it succeeds, in others ${conflict !== undefined ? describe(conflict) : 'another socket'} makes it fail with EADDRINUSE`,
};

export function mayBeInTheWay(existing: Existing): string {
  return `whether ${describe(existing)} is in the way depends on facts that cannot be seen`;
}

export function conflictReason(request: ResolvedRequest, existing: Existing): string {
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
  if (!request.reuseAddr)
    return request.reusePort ? 'this bind sets SO_REUSEPORT but not SO_REUSEADDR' : 'this bind sets neither SO_REUSEADDR nor SO_REUSEPORT';
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

/** Why IPV6_V6ONLY of `existing` decides, and cannot be seen. */
export function ipv6OnlyUnseen(request: ResolvedRequest, existing: Existing): string {
  return `whether ${describe(existing)} has IPV6_V6ONLY cannot be seen (only sock_diag shows it): without it, it overlaps ${formatEndpoint(request.family, request.host, request.port)}; with it, it does not`;
}

/**
 * Why the sharing options of `existing` decide, and cannot be seen: a TIME_WAIT socket shows
 * none, or the owner scan left them unread on purpose (its `optionsUnread`), or reading needs rights.
 */
export function optionsUnseen(request: ResolvedRequest, existing: Existing): string {
  const them = describe(existing);
  const unread = 'optionsUnread' in existing ? existing.optionsUnread : undefined;
  const timeWait = existing.state === 'TIME_WAIT';
  const flag = request.reusePort && !request.reuseAddr ? 'SO_REUSEPORT' : request.reusePort ? 'SO_REUSEADDR and SO_REUSEPORT' : 'SO_REUSEADDR';
  const where = timeWait
    ? 'a TIME_WAIT socket keeps the options of the socket it came from, and no interface shows them'
    : unread !== undefined && !unread.includes('ptrace rights')
      ? `portclash does not read them: ${unread}`
      : `reading them needs ptrace rights over its owner${existing.uid !== request.uid || process.getuid?.() !== 0 ? ' (try sudo)' : ''}`;
  return `the ${flag} of ${them} cannot be seen (${where}): if it set ${flag.includes(' and ') ? 'them' : 'it'}${timeWait && flag !== 'SO_REUSEPORT' ? ' (Node servers do)' : ''}, the bind succeeds; if not, EADDRINUSE`;
}

export const privilege = {
  unclear: (request: ResolvedRequest, facts: LinuxFacts) =>
    `port ${request.port} is below ip_unprivileged_port_start (${facts.unprivilegedPortStart}) and it is unclear whether this process has CAP_NET_BIND_SERVICE in the user namespace that owns its network namespace`,
  unclearAssumption: `CAP_NET_BIND_SERVICE in the network namespace's owning user namespace: present → the privilege check passes; absent → EACCES`,
  denied: (request: ResolvedRequest, facts: LinuxFacts) =>
    `port ${request.port} is below net.ipv4.ip_unprivileged_port_start (${facts.unprivilegedPortStart}) and this process lacks CAP_NET_BIND_SERVICE in the user namespace that owns its network namespace`,
  unread: (request: ResolvedRequest, unread: string) =>
    `whether port ${request.port} needs CAP_NET_BIND_SERVICE cannot be told: ${unread}, net.ipv4.ip_unprivileged_port_start among them`,
  unreadAssumption:
    'net.ipv4.ip_unprivileged_port_start of that namespace (containers often set it to 0): at or below the port → no privilege is needed; above it → EACCES without CAP_NET_BIND_SERVICE there',
};

export const address = {
  notLocalIPv4: (address: number) =>
    `${formatIPv4(Uint8Array.of(address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255))} is not an address of this host (not in the local routing table) and net.ipv4.ip_nonlocal_bind is 0`,
  notAssignedIPv6: (address: string) => `${address} is not assigned to any interface and net.ipv6.ip_nonlocal_bind is 0`,
  tentativeIPv6: (address: string) => `${address} is still tentative (duplicate address detection has not finished) and cannot be bound yet`,
  unread: (reason: string, unread: string) =>
    `${reason.replace(/ and net\.ipv[46]\.ip_nonlocal_bind is 0$/, '')}, and whether ip_nonlocal_bind lets it bind anyway cannot be told: ${unread}`,
  unreadAssumption: 'net.ipv4.ip_nonlocal_bind / net.ipv6.ip_nonlocal_bind of that namespace: 1 → the address binds; 0 → EADDRNOTAVAIL',
};

export const policy = {
  confined: {
    reason: 'no socket is in the way, but a security policy confines this process',
    assumption: (confinement: string) =>
      `this process runs confined by a security module (${confinement}), whose policy may refuse the bind: if it allows it, the bind succeeds`,
  },
  where: (cgroup: string | null) => (cgroup === null ? "this process's cgroup" : `cgroup ${cgroup}`),
  freeBut: (judge: string) => `no socket is in the way, but ${judge}`,
  deniedBut: (reason: string, judge: string) => `${reason}, but ${judge}`,
  uncounted: (where: string, unseen: string | undefined, free: boolean) =>
    `cgroup-BPF programs on socket() and bind() in ${where} could not be counted (${unseen ?? 'unknown reason'}): assumed that none ${free ? 'refuses the bind' : 'waives the privilege check'}`,
  judge: (programs: number, where: string) =>
    `${programs} cgroup-BPF program${programs === 1 ? '' : 's'} judge${programs === 1 ? 's' : ''} socket() and bind() in ${where}`,
  attached: (where: string, programs: number, family: string) => `cgroup-BPF programs attached to ${where} or its ancestors (${programs} for ${family})`,
  mayRefuse: (attached: string) =>
    `${attached} may refuse the bind with EPERM or rewrite its address or port, as systemd's SocketBindDeny= does: if they let it through unchanged, the bind succeeds`,
  mayWaive: (attached: string) => `${attached} may waive the privilege check for this bind (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE): if none does, EACCES`,
  mayRewrite: (attached: string) => `${attached} may rewrite the bind's address or port: assumed that they do not`,
};

export const warning = {
  ephemeral: (port: number, low: number, high: number) =>
    `${port} lies inside the ephemeral range ${low}–${high}: an outgoing connection can take it between this check and your bind. ` +
    `Use a port outside it, or reserve it (sysctl -w net.ipv4.ip_local_reserved_ports=${port}).`,
  sysctlsUnread: (unread: string) => `${unread}: its ephemeral and reserved port ranges are unknown`,
  privileged: (port: number, facts: LinuxFacts) =>
    `${port} is privileged (below net.ipv4.ip_unprivileged_port_start, ${facts.unprivilegedPortStart}): this process may bind it, ` +
    'a process without CAP_NET_BIND_SERVICE may not.',
};
