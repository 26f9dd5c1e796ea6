// The differential oracle: predictBind against a real bind()+listen() over the same sockets, scenario by scenario.
import { release } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';

import type { BindRequest } from '../lib/predict/types.js';
import { createNetns, holdSockets, type Holder, type Netns, type SocketSpec } from './helpers/holders.js';
import {
  NOBODY_UID,
  bindForReal,
  compare,
  describeOutcome,
  describeVerdict,
  formatTable,
  predictInNetns,
  type Agreement,
  type Runner,
} from './helpers/oracle.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('oracle.test: the oracle needs root (namespaces, other users) and is skipped');

/** The port every scenario uses unless it says otherwise; each scenario has a namespace of its own. */
const P = 5000;
/** A port below ip_unprivileged_port_start's default of 1024. */
const PRIVILEGED = 80;
/** Where outgoing connections go; any port but P. */
const SERVER = 6000;

/** What bind-rules.md's table says the kernel does: success, or the errno. */
type Outcome = 'ok' | 'EADDRINUSE' | 'EACCES' | 'EADDRNOTAVAIL';

/**
 * The facts that no interface shows, and so the only reasons a scenario may be answered `unknown`:
 * the options of the socket a TIME_WAIT came from; the options of a socket the caller may not
 * pidfd_getfd (another uid's, or one that dropped privileges); the options of a socket whose cgroup's
 * getsockopt programs the caller cannot count (no CAP_NET_ADMIN); the order SO_REUSEPORT sockets joined.
 */
type UnknownCause = 'time-wait' | 'unreadable' | 'uncounted' | 'order';

/** What the assumptions of an unknown must say for each cause, so that an unknown for another reason fails. */
const CAUSE_PATTERN: Record<UnknownCause, RegExp> = {
  'time-wait': /a TIME_WAIT socket keeps the options of the socket it came from/,
  unreadable: /cannot be seen \(reading them needs ptrace rights over its owner/,
  uncounted:
    /cannot be seen \(portclash does not read them: the cgroup-BPF getsockopt programs \(BPF_CGROUP_GETSOCKOPT\) of its cgroup v2 \(id \d+\) cannot be counted: bpf failed with EPERM \(counting needs CAP_NET_ADMIN\)/,
  order: /depends on the order in which the sockets on port \d+ were bound/,
};

/** The number of scenarios, and of those allowed to be unknown, per cause: a dropped or retagged row fails. */
const SCENARIO_COUNT = 82;
const UNKNOWN_COUNTS: Record<UnknownCause, number> = { 'time-wait': 4, unreadable: 5, uncounted: 3, order: 5 };

interface Existing {
  sockets: SocketSpec[];
  /** The user that creates them (and so owns them: sk_uid); root unless said. */
  user?: 'nobody';
  /**
   * With user: a process started as that user (dumpable), whose sockets that same user may read with
   * pidfd_getfd; without, one that dropped privileges, which only CAP_SYS_PTRACE may read.
   */
  dumpable?: boolean;
}

interface Scenario {
  name: string;
  /** Started in order, each holder's sockets in order: bind order matters for SO_REUSEPORT. */
  existing?: Existing[];
  /** The bind to predict; its port is `port`. */
  request: Omit<BindRequest, 'port'>;
  /** P unless said; a function picks a port a holder got from the kernel. */
  port?: number | ((held: Holder[]) => number);
  /** The uid of the new bind, and so of the prediction; root unless said. */
  as?: Runner;
  /** What the kernel does, per bind-rules.md: checked, so that a setup that went wrong cannot pass quietly. */
  kernel: Outcome;
  /**
   * Why `unknown` is a fair answer here; any other scenario that answers unknown fails. `order`: bind
   * order decides and cannot be seen, so anything but unknown fails, even when it matches.
   */
  unknownBecause?: UnknownCause;
  /** net.ipv4.ip_unprivileged_port_start inside the namespace for this scenario. */
  unprivilegedPortStart?: number;
}

function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

function tcp(address: string, options: Partial<SocketSpec> = {}): SocketSpec {
  return { protocol: 'tcp', family: familyOf(address), address, port: P, ...options };
}

function listening(address: string, options: Partial<SocketSpec> = {}): SocketSpec {
  return tcp(address, { listen: true, ...options });
}

function udp(address: string, options: Partial<SocketSpec> = {}): SocketSpec {
  return { protocol: 'udp', family: familyOf(address), address, port: P, ...options };
}

/** One root holder with these sockets. */
function root(...sockets: SocketSpec[]): Existing[] {
  return [{ sockets }];
}

/** A client connected to a listener on 127.0.0.1:SERVER from a port the kernel chose; the scenario's port is that one. */
const outgoing: Pick<Scenario, 'existing' | 'port'> = {
  existing: [
    { sockets: [listening('127.0.0.1', { port: SERVER })] },
    { sockets: [tcp('127.0.0.1', { port: 0, connect: { address: '127.0.0.1', port: SERVER } })] },
  ],
  port: (held) => held[1]!.socket(0).localPort,
};

const scenarios: Scenario[] = [
  // Nothing there.
  { name: 'nothing; Node default listen(P)', request: {}, kernel: 'ok' },
  { name: 'nothing; udp :: dual (dgram default)', request: { protocol: 'udp' }, kernel: 'ok' },
  { name: 'nothing; 192.0.2.1', request: { host: '192.0.2.1' }, kernel: 'EADDRNOTAVAIL' },
  { name: 'nothing; 2001:db8::1', request: { host: '2001:db8::1' }, kernel: 'EADDRNOTAVAIL' },
  { name: 'nothing; udp 192.0.2.1', request: { host: '192.0.2.1', protocol: 'udp' }, kernel: 'EADDRNOTAVAIL' },

  // Addresses and families against a listener.
  { name: 'tcp 0.0.0.0 LISTEN; 127.0.0.1 RA', existing: root(listening('0.0.0.0')), request: { host: '127.0.0.1' }, kernel: 'EADDRINUSE' },
  { name: 'tcp 127.0.0.1 LISTEN; 0.0.0.0', existing: root(listening('127.0.0.1')), request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  { name: 'tcp 127.0.0.1 LISTEN; 127.0.0.2', existing: root(listening('127.0.0.1')), request: { host: '127.0.0.2' }, kernel: 'ok' },
  { name: 'tcp :: dual LISTEN; 0.0.0.0', existing: root(listening('::')), request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  { name: 'tcp :: V6ONLY LISTEN; 0.0.0.0', existing: root(listening('::', { ipv6Only: true })), request: { host: '0.0.0.0' }, kernel: 'ok' },
  { name: 'tcp :: dual LISTEN; 127.0.0.1', existing: root(listening('::')), request: { host: '127.0.0.1' }, kernel: 'EADDRINUSE' },
  { name: 'tcp 0.0.0.0 LISTEN; Node default (:: dual)', existing: root(listening('0.0.0.0')), request: {}, kernel: 'EADDRINUSE' },
  { name: 'tcp 0.0.0.0 LISTEN; :: V6ONLY', existing: root(listening('0.0.0.0')), request: { host: '::', ipv6Only: true }, kernel: 'ok' },
  { name: 'tcp ::1 LISTEN; 127.0.0.1', existing: root(listening('::1')), request: { host: '127.0.0.1' }, kernel: 'ok' },
  { name: 'tcp ::1 LISTEN; :: V6ONLY', existing: root(listening('::1')), request: { host: '::', ipv6Only: true }, kernel: 'EADDRINUSE' },
  { name: 'tcp ::ffff:127.0.0.1 LISTEN; 127.0.0.1', existing: root(listening('::ffff:127.0.0.1')), request: { host: '127.0.0.1' }, kernel: 'EADDRINUSE' },
  { name: 'tcp 127.0.0.1 LISTEN; ::ffff:127.0.0.1', existing: root(listening('127.0.0.1')), request: { host: '::ffff:127.0.0.1' }, kernel: 'EADDRINUSE' },
  { name: 'tcp :: V6ONLY LISTEN; ::ffff:127.0.0.1', existing: root(listening('::', { ipv6Only: true })), request: { host: '::ffff:127.0.0.1' }, kernel: 'ok' },
  { name: 'tcp :: dual LISTEN; ::ffff:127.0.0.1', existing: root(listening('::')), request: { host: '::ffff:127.0.0.1' }, kernel: 'EADDRINUSE' },

  // SO_REUSEADDR, and bound sockets that do not listen.
  { name: 'tcp 0.0.0.0 LISTEN RA; 0.0.0.0 RA', existing: root(listening('0.0.0.0', { reuseAddr: true })), request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  {
    name: 'tcp 0.0.0.0 LISTEN RA; 0.0.0.0 RA bind only',
    existing: root(listening('0.0.0.0', { reuseAddr: true })),
    request: { host: '0.0.0.0', listen: false },
    kernel: 'EADDRINUSE',
  },
  { name: 'tcp 0.0.0.0 bound RA; 0.0.0.0 RA', existing: root(tcp('0.0.0.0', { reuseAddr: true })), request: { host: '0.0.0.0' }, kernel: 'ok' },
  { name: 'tcp 0.0.0.0 bound no RA; 0.0.0.0 RA', existing: root(tcp('0.0.0.0')), request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  {
    name: 'tcp 0.0.0.0 bound RA; 0.0.0.0 no RA bind only',
    existing: root(tcp('0.0.0.0', { reuseAddr: true })),
    request: { host: '0.0.0.0', reuseAddr: false, listen: false },
    kernel: 'EADDRINUSE',
  },

  // SO_REUSEPORT and uids.
  {
    name: 'tcp 0.0.0.0 LISTEN RP; RP same uid',
    existing: root(listening('0.0.0.0', { reusePort: true })),
    request: { host: '0.0.0.0', reusePort: true },
    kernel: 'ok',
  },
  {
    name: 'tcp 0.0.0.0 LISTEN RP (root); RP as nobody',
    existing: root(listening('0.0.0.0', { reusePort: true })),
    request: { host: '0.0.0.0', reusePort: true },
    as: 'nobody',
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp 0.0.0.0 LISTEN RP (nobody); RP as root',
    existing: [{ user: 'nobody', sockets: [listening('0.0.0.0', { reusePort: true })] }],
    request: { host: '0.0.0.0', reusePort: true },
    kernel: 'EADDRINUSE',
  },
  { name: 'tcp 0.0.0.0 LISTEN RP; no RP', existing: root(listening('0.0.0.0', { reusePort: true })), request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  { name: 'tcp 0.0.0.0 LISTEN no RP; RP', existing: root(listening('0.0.0.0')), request: { host: '0.0.0.0', reusePort: true }, kernel: 'EADDRINUSE' },
  {
    name: 'tcp :: dual LISTEN RP; 0.0.0.0 RP same uid',
    existing: root(listening('::', { reusePort: true })),
    request: { host: '0.0.0.0', reusePort: true },
    kernel: 'ok',
  },

  // Connections: both ends held, accepted sockets, TIME_WAIT, outgoing ephemeral ports.
  {
    name: 'tcp 127.0.0.1 LISTEN + ESTABLISHED pair; 127.0.0.2',
    existing: root(listening('127.0.0.1', { selfConnect: 'established' })),
    request: { host: '127.0.0.2' },
    kernel: 'ok',
  },
  {
    name: 'tcp 0.0.0.0 LISTEN RA + ESTABLISHED pair; 127.0.0.1 RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'established' })),
    request: { host: '127.0.0.1' },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp accepted 127.0.0.1:P of RA server, listener closed; 0.0.0.0 RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'accepted' })),
    request: { host: '0.0.0.0' },
    kernel: 'ok',
  },
  {
    name: 'tcp accepted 127.0.0.1:P of RA server, listener closed; 0.0.0.0 no RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'accepted' })),
    request: { host: '0.0.0.0', reuseAddr: false },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp accepted 127.0.0.1:P of no-RA server, listener closed; 0.0.0.0 RA',
    existing: root(listening('0.0.0.0', { selfConnect: 'accepted' })),
    request: { host: '0.0.0.0' },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp accepted 127.0.0.1:P, listener closed; 127.0.0.2 no RA',
    existing: root(listening('0.0.0.0', { selfConnect: 'accepted' })),
    request: { host: '127.0.0.2', reuseAddr: false },
    kernel: 'ok',
  },
  {
    name: 'tcp TIME_WAIT of RA server; 0.0.0.0 RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'serverTimeWait' })),
    request: { host: '0.0.0.0' },
    kernel: 'ok',
    unknownBecause: 'time-wait',
  },
  {
    name: 'tcp TIME_WAIT of RA server; 0.0.0.0 no RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'serverTimeWait' })),
    request: { host: '0.0.0.0', reuseAddr: false },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp TIME_WAIT of RA server (::1); Node default',
    existing: root(listening('::', { reuseAddr: true, selfConnect: 'serverTimeWait' })),
    request: {},
    kernel: 'ok',
    unknownBecause: 'time-wait',
  },
  {
    name: 'tcp TIME_WAIT of client 127.0.0.1:P without RA; 0.0.0.0 RA',
    existing: root(tcp('127.0.0.1', { selfConnect: 'clientTimeWait' })),
    request: { host: '0.0.0.0' },
    kernel: 'EADDRINUSE',
    unknownBecause: 'time-wait',
  },
  {
    name: 'tcp TIME_WAIT of client 127.0.0.1:P without RA; 127.0.0.2 RA',
    existing: root(tcp('127.0.0.1', { selfConnect: 'clientTimeWait' })),
    request: { host: '127.0.0.2' },
    kernel: 'ok',
  },
  {
    name: 'tcp TIME_WAIT of RP server (root); 0.0.0.0 RP as nobody',
    existing: root(listening('0.0.0.0', { reusePort: true, selfConnect: 'serverTimeWait' })),
    request: { host: '0.0.0.0', reuseAddr: false, reusePort: true },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'time-wait',
  },
  { name: 'tcp outgoing 127.0.0.1:EPH no RA; 0.0.0.0 RA', ...outgoing, request: { host: '0.0.0.0' }, kernel: 'EADDRINUSE' },
  { name: 'tcp outgoing 127.0.0.1:EPH no RA; 127.0.0.1 RA', ...outgoing, request: { host: '127.0.0.1' }, kernel: 'EADDRINUSE' },
  { name: 'tcp outgoing 127.0.0.1:EPH no RA; 127.0.0.2 RA', ...outgoing, request: { host: '127.0.0.2' }, kernel: 'ok' },
  { name: 'tcp outgoing 127.0.0.1:EPH no RA; Node default', ...outgoing, request: {}, kernel: 'EADDRINUSE' },

  // UDP.
  { name: 'udp 0.0.0.0 no RA; 127.0.0.1 no RA', existing: root(udp('0.0.0.0')), request: { host: '127.0.0.1', protocol: 'udp' }, kernel: 'EADDRINUSE' },
  {
    name: 'udp 0.0.0.0 no RA; 127.0.0.1 RA',
    existing: root(udp('0.0.0.0')),
    request: { host: '127.0.0.1', protocol: 'udp', reuseAddr: true },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'udp 0.0.0.0 RA; 127.0.0.1 RA',
    existing: root(udp('0.0.0.0', { reuseAddr: true })),
    request: { host: '127.0.0.1', protocol: 'udp', reuseAddr: true },
    kernel: 'ok',
  },
  {
    name: 'udp 0.0.0.0 RP; RP same uid',
    existing: root(udp('0.0.0.0', { reusePort: true })),
    request: { host: '0.0.0.0', protocol: 'udp', reusePort: true },
    kernel: 'ok',
  },
  {
    name: 'udp 0.0.0.0 RP (root); RP as nobody',
    existing: root(udp('0.0.0.0', { reusePort: true })),
    request: { host: '0.0.0.0', protocol: 'udp', reusePort: true },
    as: 'nobody',
    kernel: 'EADDRINUSE',
  },
  {
    name: 'udp 0.0.0.0 connected from 127.0.0.1; 127.0.0.2',
    existing: root(udp('0.0.0.0', { connect: { address: '127.0.0.1', port: SERVER } })),
    request: { host: '127.0.0.2', protocol: 'udp' },
    kernel: 'ok',
  },
  {
    name: 'udp 0.0.0.0 connected from 127.0.0.1; 0.0.0.0',
    existing: root(udp('0.0.0.0', { connect: { address: '127.0.0.1', port: SERVER } })),
    request: { host: '0.0.0.0', protocol: 'udp' },
    kernel: 'EADDRINUSE',
  },
  { name: 'udp :: dual; 0.0.0.0', existing: root(udp('::')), request: { host: '0.0.0.0', protocol: 'udp' }, kernel: 'EADDRINUSE' },
  { name: 'udp :: V6ONLY; 0.0.0.0', existing: root(udp('::', { ipv6Only: true })), request: { host: '0.0.0.0', protocol: 'udp' }, kernel: 'ok' },
  { name: 'udp ::1; dgram default (:: dual)', existing: root(udp('::1')), request: { protocol: 'udp' }, kernel: 'EADDRINUSE' },
  { name: 'udp on P; tcp Node default on P', existing: root(udp('::')), request: {}, kernel: 'ok' },
  { name: 'tcp LISTEN on P; udp on P', existing: root(listening('::')), request: { protocol: 'udp' }, kernel: 'ok' },

  // Privileged ports: EACCES comes before the address check in IPv6, after it in IPv4.
  { name: 'nobody; 0.0.0.0:80', request: { host: '0.0.0.0' }, port: PRIVILEGED, as: 'nobody', kernel: 'EACCES' },
  { name: 'nobody; Node default :80', request: {}, port: PRIVILEGED, as: 'nobody', kernel: 'EACCES' },
  { name: 'nobody; udp 0.0.0.0:80', request: { host: '0.0.0.0', protocol: 'udp' }, port: PRIVILEGED, as: 'nobody', kernel: 'EACCES' },
  { name: 'nobody; 192.0.2.1:80', request: { host: '192.0.2.1' }, port: PRIVILEGED, as: 'nobody', kernel: 'EADDRNOTAVAIL' },
  { name: 'nobody; [2001:db8::1]:80', request: { host: '2001:db8::1' }, port: PRIVILEGED, as: 'nobody', kernel: 'EACCES' },
  { name: 'root; 0.0.0.0:80', request: { host: '0.0.0.0' }, port: PRIVILEGED, kernel: 'ok' },
  {
    name: 'nobody, unprivileged_port_start=0; 0.0.0.0:80',
    request: { host: '0.0.0.0' },
    port: PRIVILEGED,
    as: 'nobody',
    unprivilegedPortStart: 0,
    kernel: 'ok',
  },
  {
    name: 'nobody, unprivileged_port_start=0; [2001:db8::1]:80',
    request: { host: '2001:db8::1' },
    port: PRIVILEGED,
    as: 'nobody',
    unprivilegedPortStart: 0,
    kernel: 'EADDRNOTAVAIL',
  },

  // Order-dependent SO_REUSEPORT successes (bind-rules.md): only `unknown` is right.
  {
    name: 'tcp E 0.0.0.0 LISTEN, then :: V6ONLY LISTEN RP; :: dual RP',
    existing: root(listening('0.0.0.0'), listening('::', { ipv6Only: true, reusePort: true })),
    request: { host: '::', reusePort: true },
    kernel: 'ok',
    unknownBecause: 'order',
  },
  {
    name: 'tcp 0.0.0.0 LISTEN (no RP socket); :: dual RP',
    existing: root(listening('0.0.0.0')),
    request: { host: '::', reusePort: true },
    kernel: 'EADDRINUSE',
  },
  {
    name: 'tcp E 127.0.0.1 RA bound, then 0.0.0.0 RA+RP bound; 0.0.0.0 RP only',
    existing: root(tcp('127.0.0.1', { reuseAddr: true }), tcp('0.0.0.0', { reuseAddr: true, reusePort: true })),
    request: { host: '0.0.0.0', reuseAddr: false, reusePort: true },
    kernel: 'ok',
    unknownBecause: 'order',
  },
  {
    name: 'tcp 0.0.0.0 RA+RP bound, then 127.0.0.1 RA bound; 0.0.0.0 RP only',
    existing: root(tcp('0.0.0.0', { reuseAddr: true, reusePort: true }), tcp('127.0.0.1', { reuseAddr: true })),
    request: { host: '0.0.0.0', reuseAddr: false, reusePort: true },
    kernel: 'EADDRINUSE',
    unknownBecause: 'order',
  },
  {
    name: 'udp E 127.0.0.1 RA, then 0.0.0.0 RA+RP; 0.0.0.0 RP only',
    existing: root(udp('127.0.0.1', { reuseAddr: true }), udp('0.0.0.0', { reuseAddr: true, reusePort: true })),
    request: { host: '0.0.0.0', protocol: 'udp', reusePort: true },
    kernel: 'ok',
    unknownBecause: 'order',
  },
  {
    name: 'udp 0.0.0.0 RA+RP, then 127.0.0.1 RA; 0.0.0.0 RP only',
    existing: root(udp('0.0.0.0', { reuseAddr: true, reusePort: true }), udp('127.0.0.1', { reuseAddr: true })),
    request: { host: '0.0.0.0', protocol: 'udp', reusePort: true },
    kernel: 'EADDRINUSE',
    unknownBecause: 'order',
  },

  // Predicting as nobody over root's sockets: their SO_REUSEADDR cannot be read, so unknown is fair.
  {
    name: 'root tcp 0.0.0.0 LISTEN RA; nobody 127.0.0.1 RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true })),
    request: { host: '127.0.0.1' },
    as: 'nobody',
    kernel: 'EADDRINUSE',
  },
  {
    name: 'root tcp 0.0.0.0 bound RA; nobody 0.0.0.0 RA',
    existing: root(tcp('0.0.0.0', { reuseAddr: true })),
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'unreadable',
  },
  {
    name: 'root tcp 0.0.0.0 bound no RA; nobody 0.0.0.0 RA',
    existing: root(tcp('0.0.0.0')),
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'EADDRINUSE',
    unknownBecause: 'unreadable',
  },
  {
    name: 'root tcp accepted 127.0.0.1:P of RA server; nobody 0.0.0.0 RA',
    existing: root(listening('0.0.0.0', { reuseAddr: true, selfConnect: 'accepted' })),
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'unreadable',
  },
  {
    name: 'root udp 0.0.0.0 RA; nobody 127.0.0.1 RA',
    existing: root(udp('0.0.0.0', { reuseAddr: true })),
    request: { host: '127.0.0.1', protocol: 'udp', reuseAddr: true },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'unreadable',
  },
  {
    name: 'root tcp :: V6ONLY LISTEN; nobody 0.0.0.0 RA',
    existing: root(listening('::', { ipv6Only: true, reuseAddr: true })),
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'ok',
  },

  // nobody over nobody's sockets: a process started as nobody may have its options read by nobody
  // (pidfd_getfd, where Yama allows it); one that dropped privileges to nobody may not. Either way
  // nobody, without CAP_NET_ADMIN, cannot count the getsockopt programs of the socket's cgroup
  // (lib/linux/sockopthooks.ts), so portclash reads nothing and says why.
  {
    name: 'nobody tcp 0.0.0.0 bound RA; nobody 0.0.0.0 RA',
    existing: [{ user: 'nobody', dumpable: true, sockets: [tcp('0.0.0.0', { reuseAddr: true })] }],
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'uncounted',
  },
  {
    name: 'nobody tcp 0.0.0.0 bound no RA; nobody 0.0.0.0 RA',
    existing: [{ user: 'nobody', dumpable: true, sockets: [tcp('0.0.0.0')] }],
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'EADDRINUSE',
    unknownBecause: 'uncounted',
  },
  {
    name: 'nobody udp 0.0.0.0 RA; nobody 127.0.0.1 RA',
    existing: [{ user: 'nobody', dumpable: true, sockets: [udp('0.0.0.0', { reuseAddr: true })] }],
    request: { host: '127.0.0.1', protocol: 'udp', reuseAddr: true },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'uncounted',
  },
  {
    name: 'nobody (dropped from root) tcp 0.0.0.0 bound RA; nobody 0.0.0.0 RA',
    existing: [{ user: 'nobody', sockets: [tcp('0.0.0.0', { reuseAddr: true })] }],
    request: { host: '0.0.0.0' },
    as: 'nobody',
    kernel: 'ok',
    unknownBecause: 'unreadable',
  },
];

interface Row {
  name: string;
  as: Runner;
  predicted: string;
  real: string;
  agreement: Agreement | 'ERROR';
  reason: string;
}

const rows: Row[] = [];

describe.runIf(process.platform === 'linux' && isRoot)('predictBind against the kernel', () => {
  afterAll(() => {
    const count = (agreement: Row['agreement']) => rows.filter((row) => row.agreement === agreement).length;
    console.log(
      [
        `kernel ${release()}: ${rows.length} scenarios, ${count('agree')} agree, ${count('unknown')} unknown, ` +
          `${count('DISAGREE')} disagree, ${count('ERROR')} errors`,
        formatTable(
          ['scenario', 'as', 'predicted', 'real', 'result', 'reason'],
          rows.map((row) => [row.name, row.as, row.predicted, row.real, row.agreement, row.reason]),
        ),
      ].join('\n'),
    );
  });

  it('has exactly the scenarios listed, each allowed unknown for a stated reason', () => {
    expect(scenarios).toHaveLength(SCENARIO_COUNT);
    expect(new Set(scenarios.map((scenario) => scenario.name)).size).toBe(SCENARIO_COUNT);
    const tagged = (cause: UnknownCause) => scenarios.filter((scenario) => scenario.unknownBecause === cause).length;
    expect({ 'time-wait': tagged('time-wait'), unreadable: tagged('unreadable'), uncounted: tagged('uncounted'), order: tagged('order') }).toEqual(
      UNKNOWN_COUNTS,
    );
  });

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const row: Row = { name: scenario.name, as: scenario.as ?? 'root', predicted: '-', real: '-', agreement: 'ERROR', reason: '' };
      rows.push(row);
      await inNamespace(scenario, async (netns, held) => {
        const port = typeof scenario.port === 'function' ? scenario.port(held) : (scenario.port ?? P);
        const request: BindRequest = { port, ...scenario.request };
        const { prediction, uid: predictedAs } = await predictInNetns(netns, request, row.as);
        // the same question with the dumps asked one after the other, as in a namespace of many sockets
        const { prediction: inTurn } = await predictInNetns(netns, request, row.as, undefined, 'in-turn');
        row.predicted = describeVerdict(prediction);
        row.reason = prediction.reason;
        const real = await bindForReal(netns, request, row.as);
        row.real = describeOutcome(real);
        row.agreement = compare(prediction, real);

        const problems: string[] = [];
        // SO_REUSEPORT sharing and the privilege check depend on the uid: both sides must be the same user
        const expectedUid = row.as === 'nobody' ? NOBODY_UID : 0;
        if (predictedAs !== expectedUid || real.uid !== expectedUid) {
          problems.push(`the prediction ran as uid ${predictedAs} and the real bind as uid ${real.uid}; both must be ${row.as} (${expectedUid})`);
        }
        if (row.agreement === 'DISAGREE') problems.push(`the prediction says ${row.predicted}, the kernel did ${row.real}`);
        if (describeVerdict(inTurn) !== row.predicted || inTurn.reason !== prediction.reason) {
          problems.push(
            `with the dumps in turn the prediction says ${describeVerdict(inTurn)} (${inTurn.reason}), not ${row.predicted} (${prediction.reason})`,
          );
        }
        const cause = scenario.unknownBecause;
        if (cause === 'order' && prediction.verdict !== 'unknown') {
          problems.push(`bind order decides here and cannot be seen, so the verdict must be unknown, not ${prediction.verdict}`);
        }
        if (prediction.verdict === 'unknown') {
          if (cause === undefined) {
            problems.push('the verdict is unknown where every fact that decides can be seen: a confident answer was expected');
          } else {
            if (!prediction.assumptions.some((assumption) => CAUSE_PATTERN[cause].test(assumption))) {
              problems.push(`the scenario may be unknown because of ${cause}, but no assumption says so (${CAUSE_PATTERN[cause]})`);
            }
            const named = namedOutcomes(prediction.assumptions);
            const outcome = real.errno ?? 'ok';
            if (named.size < 2 || !named.has(outcome)) {
              problems.push(
                `an unknown must name the alternatives, the real one (${outcome}) among them; the assumptions name ${[...named].join(', ') || 'none'}`,
              );
            }
          }
        }
        if ((real.errno ?? 'ok') !== scenario.kernel) {
          problems.push(`the kernel did ${row.real} where bind-rules.md says ${scenario.kernel}: the setup or the table is wrong`);
        }
        if (problems.length > 0) {
          throw new Error(
            [
              `scenario: ${scenario.name} (as ${row.as})`,
              ...problems,
              `existing: ${JSON.stringify(scenario.existing ?? [])}`,
              `request: ${JSON.stringify(request)}`,
              `real: ${JSON.stringify(real)}`,
              `prediction: ${JSON.stringify(prediction, null, 2)}`,
            ].join('\n'),
          );
        }
      });
    });
  }
});

/**
 * The outcomes an unknown's assumptions offer: "the bind succeeds" is ok; each errno named is that
 * failure. An assumption of the kind "if it set it, the bind succeeds; if not, EADDRINUSE" names two.
 */
function namedOutcomes(assumptions: readonly string[]): Set<string> {
  const named = new Set<string>();
  for (const assumption of assumptions) {
    if (/\b(?:the bind|it) succeeds\b/.test(assumption)) named.add('ok');
    for (const [errno] of assumption.matchAll(/\bE[A-Z]{3,}\b/g)) named.add(errno);
  }
  return named;
}

/** A namespace of the scenario's own with its sysctl and holders; everything is closed again, newest first. */
async function inNamespace(scenario: Scenario, body: (netns: Netns, held: Holder[]) => Promise<void>): Promise<void> {
  const netns = await createNetns();
  const held: Holder[] = [];
  let restore: string | undefined;
  try {
    if (scenario.unprivilegedPortStart !== undefined) {
      restore = (await sysctl(netns, ['-n', 'net.ipv4.ip_unprivileged_port_start'])).trim();
      await sysctl(netns, ['-w', `net.ipv4.ip_unprivileged_port_start=${scenario.unprivilegedPortStart}`]);
    }
    for (const existing of scenario.existing ?? []) {
      const options = existing.user === undefined ? {} : { user: existing.user, dumpable: existing.dumpable ?? false };
      const holder = await holdSockets(existing.sockets, { netns: netns.path, ...options });
      held.push(holder);
      // A socket that failed to appear would make the scenario test something else than its name says.
      holder.sockets.forEach((socket, index) => {
        if ('error' in socket) {
          throw new Error(`setup of "${scenario.name}": ${JSON.stringify(existing.sockets[index])} failed: ${socket.syscall} ${socket.error}`);
        }
      });
    }
    await body(netns, held);
  } finally {
    for (const holder of held.reverse()) await holder.close();
    if (restore !== undefined) await sysctl(netns, ['-w', `net.ipv4.ip_unprivileged_port_start=${restore}`]);
    await netns.close();
  }
}

async function sysctl(netns: Netns, args: string[]): Promise<string> {
  const result = await netns.run('sysctl', args);
  if (result.code !== 0) throw new Error(`sysctl ${args.join(' ')} failed: ${result.stderr.trim()}`);
  return result.stdout;
}
