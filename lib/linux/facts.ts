// The Linux facts a bind depends on, gathered in one place: local addresses, sysctls, capabilities.
import { formatIPv6 } from '../address.js';
import { getBinding } from '../binding.js';
import { ownCgroup } from './cgroupfs.js';
import { errnoName } from '../errors.js';
import { parseNumber, readText, readTexts } from './procfs.js';
import type { PortRange } from '../ranges.js';
import { DEFAULT_EPHEMERAL_RANGE, parseEphemeralRange, parsePortRanges } from './ranges.js';
import { kernelShowsBoundSockets } from './kernel.js';
import { isInside, processInside, readInside, unreadableError, type NetPlace } from './netns.js';

/** An IPv4 prefix of the local routing table, as a 32-bit number and a length. */
export interface IPv4Prefix {
  address: number;
  length: number;
}

export interface IPv6Address {
  /** Canonical text (formatIPv6). */
  address: string;
  interfaceIndex: number;
  /** Still in duplicate address detection (IFA_F_TENTATIVE), or failed it: not bindable yet. */
  tentative: boolean;
}

export interface LinuxFacts {
  kernel: 'linux';
  /** net.ipv4.ip_unprivileged_port_start: ports below it need CAP_NET_BIND_SERVICE (IPv6 too). */
  unprivilegedPortStart: number;
  /**
   * CAP_NET_BIND_SERVICE in the user namespace that owns this network namespace, which is where
   * the kernel looks; null when that relation could not be read.
   */
  canBindPrivileged: boolean | null;
  /** net.ipv4.ip_nonlocal_bind and net.ipv6.ip_nonlocal_bind. */
  nonlocalBindIPv4: boolean;
  nonlocalBindIPv6: boolean;
  /**
   * The kernel has IPv6 (/proc/net/if_inet6 exists), so AF_INET6 sockets can be made. That holds
   * even where net.ipv6.conf.*.disable_ipv6 took every address away: `::` still binds, and Node's
   * listen(port) still takes it.
   */
  ipv6Enabled: boolean;
  /** The LOCAL and BROADCAST entries of the IPv4 local routing table (/proc/net/fib_trie). */
  ipv4Local: IPv4Prefix[];
  ipv4Broadcast: IPv4Prefix[];
  /**
   * Whether a local table exists at all. In a namespace whose `lo` was never up there is none,
   * and then the kernel types every address as broadcast and lets any IPv4 bind.
   */
  ipv4LocalTablePresent: boolean;
  ipv6Addresses: IPv6Address[];
  /** net.ipv4.ip_local_port_range: where connect() and port 0 take ports from. */
  ephemeralRange: [number, number];
  /** net.ipv4.ip_local_reserved_ports: ports of that range connect() and port 0 skip. */
  reservedPorts: PortRange[];
  /** Whether TCP sockets bound but not listening can be seen (sock_diag on Linux ≥ 6.8). */
  boundSocketsVisible: boolean;
  /** The uid new sockets get: this process's fsuid. */
  uid: number;
  /**
   * The LSM context confining this process (SELinux, AppArmor, …), or null when none does: a
   * confined process's binds can be refused by policy that no socket table shows.
   */
  confinement: string | null;
  /** The cgroup-BPF programs that judge this process's socket() and bind() calls. */
  bindHooks: BindHooks;
  /**
   * The network namespace the addresses and sysctls are of: null for this process's own. The rest
   * (uid, capabilities, confinement, cgroup) stays this process's: a prediction there is of a bind
   * by a process like this one, moved into that namespace.
   */
  netns: NetnsFacts | null;
  /**
   * Why the namespace's sysctls (ip_unprivileged_port_start, ip_nonlocal_bind, the ephemeral and
   * reserved ranges) could not be read, or null when they were. Their fields then hold the kernel's
   * defaults, which the rules do not trust: a verdict that turns on one is unknown.
   */
  sysctlsUnread: string | null;
}

export interface NetnsFacts {
  /** The namespace file (/run/netns/NAME, /proc/<pid>/ns/net). */
  path: string;
  /** Read from inside it (setns); false: its addresses through /proc/<pid>/net of process `pid`, its sysctls not at all. */
  entered: boolean;
  pid: number | null;
}

/**
 * cgroup-BPF programs on socket(), bind() and post-bind can refuse a bind (EPERM) or rewrite its
 * address and port, and no socket table shows them: systemd's SocketBindDeny= works this way.
 */
export interface BindHooks {
  /** This process's cgroup v2 path, like `/system.slice/api.service`; null without cgroup v2. */
  cgroup: string | null;
  /** How many programs judge IPv4 and IPv6 sockets; null when they could not be counted. */
  ipv4: number | null;
  ipv6: number | null;
  /** Why they could not be counted. */
  unseen?: string;
}

const CAP_NET_BIND_SERVICE = 10;

// The files a namespace's facts come from, in the order namespaceTexts reads them.
const FIB_TRIE = '/proc/net/fib_trie';
const IF_INET6 = '/proc/net/if_inet6';
const SYSCTLS = [
  '/proc/sys/net/ipv4/ip_unprivileged_port_start',
  '/proc/sys/net/ipv4/ip_nonlocal_bind',
  '/proc/sys/net/ipv6/ip_nonlocal_bind',
  '/proc/sys/net/ipv4/ip_local_port_range',
  '/proc/sys/net/ipv4/ip_local_reserved_ports',
] as const;

// This process's own files the facts read, wherever the namespace's come from.
const OWN = ['/proc/self/status', '/proc/self/attr/current', '/proc/self/cgroup', '/proc/self/mountinfo'] as const;

/** The namespace's own files: each text (null when unreadable), sysctls null as a whole when they could not be read, and why. */
interface NamespaceTexts {
  fibTrie: string | null;
  ifInet6: string | null;
  sysctls: (string | null)[] | null;
  netns: NetnsFacts | null;
  sysctlsUnread: string | null;
}

/** The namespace's files and this process's (OWN), in one reading where the namespace is this process's own. */
function namespaceTexts(place: NetPlace | null): NamespaceTexts & { own: (string | null)[] } {
  if (place === null) {
    const [fibTrie = null, ifInet6 = null, ...rest] = readTexts([FIB_TRIE, IF_INET6, ...SYSCTLS, ...OWN]);
    return { fibTrie, ifInet6, sysctls: rest.slice(0, SYSCTLS.length), netns: null, sysctlsUnread: null, own: rest.slice(SYSCTLS.length) };
  }
  return { ...namespaceTextsOf(place), own: readTexts(OWN) };
}

function namespaceTextsOf(place: NetPlace): NamespaceTexts {
  const inside = readInside(place, [FIB_TRIE, IF_INET6, ...SYSCTLS]);
  if (inside.entered) {
    const [fibTrie = null, ifInet6 = null, ...sysctls] = inside.texts;
    return { fibTrie, ifInet6, sysctls, netns: { path: place.path, entered: true, pid: null }, sysctlsUnread: null };
  }
  // from outside: a process inside shows the addresses in its /proc/<pid>/net; nothing shows the sysctls
  const pid = processInside(place);
  if (pid === null) throw unreadableError(place, inside.why, 'the addresses and sysctls');
  const fibTrie = readText(`/proc/${pid}/net/fib_trie`);
  const ifInet6 = readText(`/proc/${pid}/net/if_inet6`);
  if (fibTrie === null || !isInside(place, pid)) throw unreadableError(place, inside.why, 'the addresses and sysctls');
  const sysctlsUnread = `the sysctls of the network namespace ${place.path} cannot be read (${inside.why}; nothing outside it shows them)`;
  return { fibTrie, ifInet6, sysctls: null, netns: { path: place.path, entered: false, pid }, sysctlsUnread };
}

/**
 * Reads every fact afresh: they are a few small files, and a stale fact is a wrong answer. With a
 * place, the addresses and sysctls are that network namespace's.
 */
export function readSystemFacts(place: NetPlace | null = null): LinuxFacts {
  const texts = namespaceTexts(place);
  const ipv4 = parseFibTrie(texts.fibTrie ?? '');
  const [portStart, nonlocal4, nonlocal6, portRange, reserved] = texts.sysctls ?? [];
  const [statusText = null, attrCurrent = null, cgroup = null, mountinfo = null] = texts.own;
  const status = statusText ?? '';
  const ephemeral = (portRange === null || portRange === undefined ? null : parseEphemeralRange(portRange)) ?? DEFAULT_EPHEMERAL_RANGE;
  return {
    kernel: 'linux',
    unprivilegedPortStart: parseNumber(portStart) ?? 1024,
    canBindPrivileged: canBindPrivileged(status, place),
    nonlocalBindIPv4: parseNumber(nonlocal4) === 1,
    nonlocalBindIPv6: parseNumber(nonlocal6) === 1,
    ipv6Enabled: texts.ifInet6 !== null,
    ipv4Local: ipv4.local,
    ipv4Broadcast: ipv4.broadcast,
    ipv4LocalTablePresent: ipv4.local.length > 0,
    ipv6Addresses: parseIfInet6(texts.ifInet6 ?? ''),
    ephemeralRange: [ephemeral.low, ephemeral.high],
    reservedPorts: reserved === null || reserved === undefined ? [] : parsePortRanges(reserved),
    boundSocketsVisible: kernelShowsBoundSockets(),
    uid: fsuid(status),
    confinement: confinement(attrCurrent),
    bindHooks: readBindHooks(ownCgroup(cgroup, mountinfo)),
    netns: texts.netns,
    sysctlsUnread: texts.sysctlsUnread,
  };
}

/** Counts the programs through this process's cgroup v2 directory (`own`, from ownCgroup; BPF_PROG_QUERY, effective). */
export function readBindHooks(own: { path: string | null; directory: string | null }): BindHooks {
  const { path: cgroup, directory } = own;
  const unseen = (why: string): BindHooks => ({ cgroup, ipv4: null, ipv6: null, unseen: why });
  if (cgroup === null || directory === null) return unseen('no cgroup v2 hierarchy is mounted where this process can see it');
  const binding = getBinding();
  if (binding.cgroupHooks === undefined) return unseen('this binding cannot query cgroup-BPF programs');
  const counts = binding.cgroupHooks(directory);
  if (counts.errno !== 0) {
    const name = errnoName(counts.errno);
    // EPERM: no CAP_NET_ADMIN, or a seccomp profile (a container's) that blocks bpf()
    return unseen(
      name === 'EPERM' ? 'counting them needs CAP_NET_ADMIN, and bpf() may be blocked by seccomp' : `${counts.syscall ?? 'bpf'} failed with ${name}`,
    );
  }
  const sum = (...values: (number | null)[]) => values.reduce<number>((total, value) => total + (value ?? 0), 0);
  return {
    cgroup,
    ipv4: sum(counts.sockCreate, counts.inet4Bind, counts.inet4PostBind),
    ipv6: sum(counts.sockCreate, counts.inet6Bind, counts.inet6PostBind),
  };
}

/** From the text of /proc/self/attr/current, null when unreadable. */
function confinement(attrCurrent: string | null): string | null {
  // EINVAL when no LSM provides a context; 'unconfined' (AppArmor), '…:unconfined_t:…' (SELinux)
  const context = attrCurrent?.replace(/\0/g, '').trim();
  if (context === undefined || context === '' || context === 'unconfined' || context.includes('unconfined_t') || context === 'kernel') return null;
  return context;
}

function canBindPrivileged(status: string, place: NetPlace | null): boolean | null {
  const relation = getBinding().netnsOwnerRelation?.(place?.path) ?? 'unknown';
  if (relation === 'owner') return true;
  if (relation === 'none') return false;
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (capEff === undefined) return null;
  const has = (BigInt(`0x${capEff}`) >> BigInt(CAP_NET_BIND_SERVICE)) & 1n;
  // 'unknown' (no NS_GET_USERNS): CapEff is right only if the namespaces are the same
  return relation === 'same' ? has === 1n : null;
}

function fsuid(status: string): number {
  const fields = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(status);
  return fields === null ? (process.getuid?.() ?? 0) : Number(fields[4]);
}

/**
 * The LOCAL and BROADCAST leaves of /proc/net/fib_trie: a leaf line `|-- 127.0.0.0` followed by
 * lines `/8 host LOCAL`. When the kernel merged its local and main tables, both sections show
 * the same entries; either way the types are what the bind check looks at.
 */
export function parseFibTrie(text: string): { local: IPv4Prefix[]; broadcast: IPv4Prefix[] } {
  const local: IPv4Prefix[] = [];
  const broadcast: IPv4Prefix[] = [];
  const seen = new Set<string>();
  let leaf: number | null = null;
  for (const line of text.split('\n')) {
    const leafMatch = /^\s*\|-- (\d+\.\d+\.\d+\.\d+)$/.exec(line);
    if (leafMatch !== null) {
      leaf = ipv4Number(leafMatch[1]!);
      continue;
    }
    const entry = /^\s*\/(\d+) \S+ (LOCAL|BROADCAST)$/.exec(line);
    if (entry === null || leaf === null) continue;
    const prefix = { address: leaf, length: Number(entry[1]) };
    const key = `${entry[2]} ${prefix.address}/${prefix.length}`;
    if (seen.has(key) || prefix.length > 32) continue;
    seen.add(key);
    (entry[2] === 'LOCAL' ? local : broadcast).push(prefix);
  }
  return { local, broadcast };
}

/** /proc/net/if_inet6: `address ifindex prefixlen scope flags name`, address as 32 hex digits. */
export function parseIfInet6(text: string): IPv6Address[] {
  const IFA_F_DADFAILED = 0x08;
  const IFA_F_TENTATIVE = 0x40;
  const addresses: IPv6Address[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || !/^[0-9a-f]{32}$/i.test(fields[0]!)) continue;
    const bytes = Uint8Array.from(fields[0]!.match(/../g)!.map((pair) => parseInt(pair, 16)));
    const flags = parseInt(fields[4]!, 16);
    addresses.push({
      address: formatIPv6(bytes),
      interfaceIndex: parseInt(fields[1]!, 16),
      tentative: (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0,
    });
  }
  return addresses;
}

export function ipv4Number(text: string): number {
  return text.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

export function inPrefix(address: number, prefix: IPv4Prefix): boolean {
  if (prefix.length === 0) return true;
  const size = 2 ** (32 - prefix.length);
  return Math.floor(address / size) === Math.floor(prefix.address / size);
}
