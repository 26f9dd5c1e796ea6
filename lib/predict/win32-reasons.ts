// The English of Windows' verdicts: the sentence for each rule in predict/win32.ts, kept apart from the rules.
import { formatEndpoint } from '../address.js';
import type { OwnerUnknownReason } from '../owners.js';
import type { Existing } from '../platform.js';
import type { Family } from '../records.js';
import type { ExcludedRange } from '../win32/netsh.js';
import type { Prediction, ResolvedRequest } from './types.js';
import type { Dimension, Judged, Outcome } from './win32.js';

const WINSOCK_PAGE = 'Microsoft, "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE"';

/** `0.0.0.0:8080 (LISTEN, held by node.exe, pid 4121, account DESKTOP-1\ada)` */
export function describe(existing: Existing): string {
  const where = existing.remotePort === 0 ? '' : ` → ${formatEndpoint(existing.family, existing.remoteAddress, existing.remotePort)}`;
  const owner = 'owner' in existing && existing.owner !== null ? existing.owner : null;
  const held =
    owner !== null
      ? `, held by ${owner.name ?? '?'} (pid ${owner.pid}${owner.user === null ? '' : `, account ${owner.user}`})`
      : existing.ownerPid !== undefined
        ? `, pid ${existing.ownerPid}`
        : '';
  return `${formatEndpoint(existing.family, existing.localAddress, existing.localPort)}${where} (${existing.state}${held})`;
}

function mine(request: ResolvedRequest): string {
  return formatEndpoint(request.family, request.host, request.port);
}

const ERRNO_WORDS: Record<Outcome, string> = {
  ok: 'it succeeds',
  inuse: 'EADDRINUSE (WSAEADDRINUSE)',
  access: 'EACCES (WSAEACCES)',
};

export const reusePortUnsupported =
  'reusePort does not exist on Windows: there is no SO_REUSEPORT, and libuv refuses the flag (ENOTSUP, src/win/tcp.c and src/win/udp.c); Node 20 has no reusePort option and ignores it. Ask without reusePort.';

export function portZero([low, high]: readonly [number, number]): string {
  return `port 0 asks Windows for any free port of its dynamic range ${low}–${high}`;
}

export function nothingInTheWay(request: ResolvedRequest, onPort: number): string {
  return onPort === 0
    ? `no socket uses ${request.protocol} port ${request.port}, and no port reservation refuses it`
    : `no socket on ${request.protocol} port ${request.port} keeps ${mine(request)} from binding, and no port reservation refuses it`;
}

export const user = {
  selfUnknown: "this process's account could not be read",
  kernelSocket: 'it is a kernel-mode socket of the System process, checked against its own security descriptor, which cannot be seen',
  noProcess: 'no process holds it, so it has no account to read',
  notLookedUp: 'its owner was not looked up',
  ownerUnknown: (why: OwnerUnknownReason | undefined) => `its owner could not be found${why === undefined ? '' : ` (${why})`}`,
  accountUnread: (pid: number) => `the account of pid ${pid} could not be read`,
  mixedOwners: 'processes of different accounts hold it, and the one whose account counts cannot be told',
};

export const address = {
  noIPv6: 'IPv6 is not available here (no interface has an IPv6 address), so the socket cannot be made',
  noIPv6Assumption:
    'without IPv6, socket(AF_INET6) fails (WSAEAFNOSUPPORT), which is none of the verdicts; if IPv6 is there after all, the bind is judged as usual',
  notLocal: (address: string, local: readonly string[]) =>
    `${address} is not an address of this host (its interfaces that are up have ${local.length === 0 ? 'none of that family' : local.join(', ')})`,
  downAdapters: (address: string) =>
    `os.networkInterfaces() lists only adapters that are up: assumed that ${address} is not the address of one that is down or disconnected, where Windows may still bind it`,
  multicast: (address: string) => ({
    reason: `${address} is a multicast or broadcast address, and the sources here do not say how Windows binds those`,
    assumption: `Windows' rules for binding ${address} are not in Microsoft's pages cited here: it may refuse it (WSAEADDRNOTAVAIL) or bind it; bind the wildcard and join the group instead`,
  }),
  loopbackRange: (address: string) => ({
    reason: `${address} is in 127.0.0.0/8 but is not an address the loopback interface lists`,
    assumption: `whether Windows binds loopback addresses other than those os.networkInterfaces() lists (127.0.0.1) is not established by the sources here: WSAEADDRNOTAVAIL if it does not, the usual checks if it does`,
  }),
};

function rangeText(range: ExcludedRange): string {
  return range.start === range.end ? `port ${range.start}` : `${range.start}–${range.end}`;
}

function netshCommand(request: ResolvedRequest, family: Family): string {
  return `netsh interface ${family === 'IPv4' ? 'ipv4' : 'ipv6'} show excludedportrange protocol=${request.protocol}`;
}

export const excluded = {
  denied: (request: ResolvedRequest, family: Family, range: ExcludedRange) =>
    `port ${request.port} lies in an excluded port range of ${family} ${request.protocol.toUpperCase()}, ${rangeText(range)} (${netshCommand(request, family)}): ` +
    'Windows refuses binds there with WSAEACCES though nothing listens; WinNAT, Hyper-V, WSL2 and Docker reserve such ranges (nodejs/node#35637, microsoft/WSL#5306)',
  unread: (request: ResolvedRequest, family: Family, why: string | null) =>
    `the excluded port ranges of ${family} ${request.protocol.toUpperCase()} could not be read (${why ?? 'no reason given'}): if one holds port ${request.port}, the bind fails with EACCES; if none does, they are not in the way`,
  unreadReason: (request: ResolvedRequest) => `no socket is in the way, but whether an excluded port range holds port ${request.port} could not be read`,
};

export function boundSocketsAssumed(request: ResolvedRequest): string {
  return `TCP sockets bound to port ${request.port} without listening or connecting cannot be seen: IP Helper's tables leave them out (netstat shows them only with -q, Get-NetTCPConnection as Bound). Assumed that none holds the wildcard or ${request.host}: if one does, the bind fails`;
}

/** Where the two sockets meet, for the sentence of a firm verdict. */
export type Overlap = { stack: 'v4' | 'v6'; relation: 'both-wildcard' | 'covers' | 'inside' | 'same' };

function overlapWords(request: ResolvedRequest, existing: Existing, overlap: Overlap | null): string {
  const them = describe(existing);
  const dual = request.family === 'IPv6' && request.host === '::' && !request.ipv6Only && overlap?.stack === 'v4';
  const prefix = dual
    ? '`::` without IPV6_V6ONLY is bound on the IPv4 stack too, and the checks must pass on both (Microsoft, dual-stack sockets); there '
    : '';
  switch (overlap?.relation) {
    case 'both-wildcard':
      return `${prefix}${mine(request)} and ${them} are both on the wildcard`;
    case 'covers':
      return `${prefix}the wildcard ${mine(request)} covers ${them}`;
    case 'inside':
      return `${mine(request)} lies inside the wildcard of ${them}`;
    case 'same':
      return `${mine(request)} is the address of ${them}`;
    case undefined:
      return `${them} holds the port`;
  }
}

function requestOption(request: ResolvedRequest): string {
  return request.reuseAddr ? 'a bind with SO_REUSEADDR' : 'a bind without SO_REUSEADDR or SO_EXCLUSIVEADDRUSE (as Node binds)';
}

/** The firm verdict over one socket: every case that could not be seen gives the same answer. */
export function conflict(request: ResolvedRequest, judged: Judged, outcome: Exclude<Outcome, 'ok'>, overlap: Overlap | null): string {
  const account = judged.user === 'other' ? ', which belongs to another account,' : judged.user === 'same' ? ', of this account,' : '';
  const whatever = judged.user === undefined ? 'whatever options and account it has' : 'whatever options it set';
  return `${overlapWords(request, judged.existing, overlap)}${account}: ${requestOption(request)} fails there with ${ERRNO_WORDS[outcome]} ${whatever} (${WINSOCK_PAGE})`;
}

const UNSEEN: Record<Dimension, (judged: Judged) => string> = {
  option: () => "its SO_REUSEADDR and SO_EXCLUSIVEADDRUSE cannot be seen (IP Helper does not show another socket's options)",
  user: (judged) => `whether it belongs to this process's account is not known (${judged.userUnknown ?? 'no reason given'})`,
  origin: (judged) =>
    judged.kind === 'timewait'
      ? "whether Windows checks a TIME_WAIT is not settled: libuv's maintainers say it does not unless SO_EXCLUSIVEADDRUSE is set (joyent/libuv#1360), binds over TIME_WAITs were seen to fail now and then on Windows 8 (joyent/libuv#1379)"
      : 'what a connection holds cannot be seen: an outgoing one may hold its port on the wildcard since its bind at connect(), an accepted one whose listener is gone only its own address, or nothing of its own',
  source: () =>
    'Microsoft\'s two pages disagree on this case: "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" gives WSAEADDRINUSE, "Sharing Transport Addresses" gives WSAEACCES',
};

/** The words for each value of each dimension, as a condition: "with SO_REUSEADDR", "if it is another account's". */
const LABELS: Record<Dimension, (value: string, existing: Existing) => string> = {
  option: (value) => ({ D: 'with no sharing option', R: 'with SO_REUSEADDR', X: 'with SO_EXCLUSIVEADDRUSE' })[value] ?? value,
  user: (value) => (value === 'same' ? "if it is this account's" : "if it is another account's"),
  origin: (value, existing) =>
    ({
      shown: 'as shown',
      own: `holding only ${formatEndpoint(existing.family, existing.localAddress, existing.localPort)}`,
      wildcard: 'holding the port on the wildcard',
      none: 'holding nothing of its own',
      checked: 'if Windows checks it',
      unchecked: 'if Windows does not check it',
    })[value] ?? value,
  source: (value) => (value === 'winsock' ? 'per the Winsock page' : 'per the WSK page'),
};

/**
 * The cases of one socket, grouped by outcome, each outcome's cases said as briefly as the
 * dimensions allow: "with no sharing option or with SO_REUSEADDR → it succeeds; with
 * SO_EXCLUSIVEADDRUSE → EACCES (WSAEACCES)".
 */
function cases(judged: Judged): string {
  const values = judged.varies.map((dimension) => [...new Set(judged.scenarios.map((scenario) => scenario[dimension]))]);
  return (['ok', 'inuse', 'access'] as const)
    .map((outcome) => {
      const tuples = judged.scenarios
        .filter((scenario) => scenario.outcome === outcome)
        .map((scenario) => judged.varies.map((dimension) => scenario[dimension]));
      return tuples.length === 0 ? null : `${conditions(judged, tuples, 0, values)} → ${ERRNO_WORDS[outcome]}`;
    })
    .filter((part): part is string => part !== null)
    .join('; ');
}

/** The tuples (values of judged.varies from `depth` on) as words: values that lead to the same cases are said together. */
function conditions(judged: Judged, tuples: readonly (readonly string[])[], depth: number, values: readonly (readonly string[])[]): string {
  if (depth === judged.varies.length) return '';
  const dimension = judged.varies[depth]!;
  const rest = (value: string) => new Set(tuples.filter((tuple) => tuple[depth] === value).map((tuple) => tuple.slice(depth + 1).join(' ')));
  const groups: { values: string[]; rest: Set<string> }[] = [];
  for (const value of values[depth]!) {
    const after = rest(value);
    if (after.size === 0) continue;
    const same = groups.find((group) => group.rest.size === after.size && [...after].every((key) => group.rest.has(key)));
    if (same === undefined) groups.push({ values: [value], rest: after });
    else same.values.push(value);
  }
  const full = values.slice(depth + 1).reduce((count, list) => count * list.length, 1);
  // a dimension that every value of leads to the same cases does not matter here
  if (groups.length === 1 && groups[0]!.values.length === values[depth]!.length) return conditions(judged, tuples, depth + 1, values);
  const label = (value: string) => LABELS[dimension](value, judged.existing);
  const parts = groups.map((group) => {
    const words = group.values.map(label).join(' or ');
    if (group.rest.size === full) return words;
    const inner = conditions(
      judged,
      tuples.filter((tuple) => group.values.includes(tuple[depth]!)),
      depth + 1,
      values,
    );
    const said = inner.includes(', or ') ? `(${inner})` : inner;
    return group.values.length > 1 ? `(${words}) ${said}` : `${words} ${said}`;
  });
  // where some values carry conditions of their own, a comma keeps them apart
  return parts.join(groups.some((group) => group.rest.size !== full) ? ', or ' : ' or ');
}

/** Why a socket may or may not be in the way, and what each case gives. */
export function uncertain(request: ResolvedRequest, judged: Judged): string {
  const unseen = judged.varies.map((dimension) => UNSEEN[dimension](judged)).join('; ');
  return `${describe(judged.existing)} on ${request.protocol} port ${request.port}: ${unseen}. So: ${cases(judged)}`;
}

export function certainly(request: ResolvedRequest, judged: Judged): string {
  const outcome = [...judged.outcomes][0]!;
  return `${describe(judged.existing)} makes ${mine(request)} fail with ${ERRNO_WORDS[outcome]} in every case that cannot be seen`;
}

export const checkOrder = "several sockets are in the way, and Microsoft does not say which one Windows checks first: the errno is the first one's";

export function mayBeInTheWay(judged: Judged): string {
  return `whether ${describe(judged.existing)} is in the way depends on what cannot be seen`;
}

export function failsEitherWay(request: ResolvedRequest, outcomes: readonly Outcome[]): string {
  return `${mine(request)} cannot bind either way, but whether with ${outcomes.map((outcome) => ERRNO_WORDS[outcome]).join(' or ')} depends on what cannot be seen`;
}

export function portScalability(request: ResolvedRequest, existing: Existing): string {
  return `assumed that ${describe(existing)} set neither SO_PORT_SCALABILITY nor SO_REUSE_UNICASTPORT, which Microsoft's tables do not cover: port ${request.port} is in the dynamic range, where sockets with those options get their ports, and nodejs/node#36021 saw Node listen on a port of that range that svchost held`;
}

export function assumedV6Only(request: ResolvedRequest, existing: Existing): string {
  return `assumed that ${describe(existing)} takes no IPv4 (IPV6_V6ONLY, Windows' default, which IP Helper does not show): no 0.0.0.0:${request.port} row of its process is in the IPv4 table, where a dual-stack socket shows too (nodejs/node#9390); if it is dual-stack after all, it is in the way of ${mine(request)}`;
}

export const retry = {
  taken: (request: ResolvedRequest, range: ExcludedRange) =>
    `Node's listen(${request.port}) without a host binds \`::\` first, which fails at once with EACCES (IPv6 excludes ${rangeText(range)}), and then binds 0.0.0.0 (lib/net.js, createServerHandle): this is the prediction for 0.0.0.0`,
  reason: (request: ResolvedRequest, retried: Prediction) =>
    retried.errno === null
      ? `whether port ${request.port} binds depends on whether the host is left out, which Node retries on 0.0.0.0 after \`::\` fails`
      : `port ${request.port} cannot be bound either way, but whether with EACCES (\`::\` given as the host) or ${retried.errno} (Node's retry on 0.0.0.0 without a host) depends on whether the host is left out`,
  either: (request: ResolvedRequest, range: ExcludedRange, retried: Prediction) =>
    `IPv6 ${request.protocol.toUpperCase()} excludes ${rangeText(range)}: a bind of \`::\` given as the host fails with EACCES; Node's listen(${request.port}) without a host then binds 0.0.0.0 (lib/net.js, createServerHandle), which gives ${retried.verdict}${retried.errno === null ? '' : ` (${retried.errno})`}: ${retried.reason}`,
  alsoDenied: (reason: string) => `Node's retry on 0.0.0.0 without a host fails too: ${reason}`,
};

export const warning = {
  shadowsWildcard: (request: ResolvedRequest, existing: Existing, sure: boolean) =>
    `${sure ? '' : 'If it binds, '}${mine(request)} takes the ${request.protocol === 'tcp' ? 'connections' : 'datagrams'} to ${request.host} away from ${describe(existing)}, which keeps every other address: ` +
    "Windows lets a socket of the same account bind a specific address inside another's wildcard, where Linux refuses it (nodejs/node#14618).",
  exceptSpecific: (request: ResolvedRequest, existing: Existing, sure: boolean) =>
    `${sure ? '' : 'If it binds, '}${describe(existing)} keeps its address, and ${mine(request)} gets every other one: ` +
    `Windows binds a wildcard over a specific address ("bound to all interfaces except the specific address", ${WINSOCK_PAGE}), where Linux refuses it.`,
  sharedByReuseAddr: (request: ResolvedRequest, existing: Existing, sure: boolean) =>
    `${sure ? '' : 'If it binds, '}with SO_REUSEADDR ${mine(request)} shares port ${request.port} with ${describe(existing)}, and which socket gets each ${request.protocol === 'tcp' ? 'connection' : 'datagram'} is not determined ` +
    `("the behavior for all sockets bound to that port is indeterminate", ${WINSOCK_PAGE}); multicast datagrams go to both.`,
  administered: (request: ResolvedRequest, family: Family, range: ExcludedRange) =>
    `${request.port} lies in an administered port exclusion of ${family} ${request.protocol.toUpperCase()}, ${rangeText(range)} (marked * by ${netshCommand(request, family)}): ` +
    'Windows hands none of it out to connect() or port 0, and an explicit bind like this one is not refused (KB 3039044).',
  ephemeral: (request: ResolvedRequest, [low, high]: readonly [number, number], defaulted: boolean) =>
    `${request.port} lies inside the dynamic port range ${low}–${high}${defaulted ? " (Windows' default: netsh could not be read)" : ''}: an outgoing connection can take it between this check and your bind, ` +
    'and Hyper-V, WinNAT and Docker reserve blocks of it that move after a reboot. Use a port outside it.',
};
