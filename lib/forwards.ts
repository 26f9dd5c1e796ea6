// findForwards: the rules that send a port's connections elsewhere (issue 16): NAT rules on Linux, portproxy rules on Windows.
import { PortclashError } from './errors.js';
import { platformIn } from './platform.js';
import { parsePort } from './ports.js';
import type { ErrnoCode, Win32ErrorCode } from './errors.js';
import type { PortRange } from './ranges.js';
import type { Family, Protocol } from './records.js';

/** Who made the rule, as recognised from its table's and chains' names. */
export type ForwardOwner = 'docker' | 'kubernetes' | 'firewalld' | 'podman' | 'lxd' | 'incus';

/**
 * A rule that sends a port's connections elsewhere, told apart by `kind`: a NAT rule of nf_tables
 * on Linux (`dnat`, `redirect`: NatForward) or a portproxy rule on Windows (`proxy`: ProxyForward).
 * Both have `kind`, `protocol`, `family`, `ports` and `target`; the rest is where the rule is,
 * in the words of the tool that made it.
 */
export type Forward = NatForward | ProxyForward;

/**
 * One NAT rule that sends packets for a destination port elsewhere: bind() on the port succeeds,
 * but what arrives for it (prerouting) or what this host sends to it (output) reaches `target`.
 */
export interface NatForward {
  /** `dnat`: to another address (and port); `redirect`: to this host, on another port. */
  kind: 'dnat' | 'redirect';
  protocol: Protocol;
  /** The family of the packets rewritten (an `inet` table's rule may give one per family). */
  family: Family;
  /** The destination ports matched, as closed ranges; null when the rule matches every port. */
  ports: PortRange[] | null;
  /** `prerouting`: packets arriving from the network; `output`: packets this host sends (to itself too). */
  hook: 'prerouting' | 'output';
  /**
   * Where the packets go. `address` absent: the same address (a redirect, or a DNAT of the port
   * alone); `port` absent: the same port. `addressEnd`/`portEnd`: the end of a range the kernel picks from.
   */
  target: { address?: string; addressEnd?: string; port?: number; portEnd?: number };
  /** The nftables family of the table: `ip`, `ip6` or `inet`. */
  tableFamily: 'ip' | 'ip6' | 'inet';
  table: string;
  /** The chain holding the rule. */
  chain: string;
  /** The chains from the base chain (hooked at `hook`) to `chain`, through jump and goto verdicts. */
  path: string[];
  /** The rule's handle in `chain` (`nft -a list chain` shows it). */
  handle: number;
  comment: string | null;
  owner: ForwardOwner | null;
  /**
   * Matches on the path that portclash did not narrow the answer by (an input interface, a
   * destination address, an xt match), in nft's words: the rule applies only when they hold.
   */
  conditions: string[];
}

/** A portproxy rule's kind: the family it listens on, then the family it connects with; each names a registry key. */
export type PortProxyType = 'v4tov4' | 'v4tov6' | 'v6tov4' | 'v6tov6';

/**
 * One `netsh interface portproxy` rule (Windows). No packet is rewritten: the IP Helper service
 * (iphlpsvc, in a svchost.exe) listens on `listenAddress` and the port itself and, for each
 * connection it accepts, opens a new TCP connection to `target`. So while iphlpsvc runs, the port
 * is in use by that svchost.exe (listSockets shows its listener; bind() there fails), and the
 * forward says where what reaches it goes. netsh keeps the rules in the registry, one value each
 * under `key`: the name `listenaddress/listenport`, the data `connectaddress/connectport`.
 */
export interface ProxyForward {
  kind: 'proxy';
  /** portproxy proxies TCP alone. */
  protocol: 'tcp';
  /** The family listened on: IPv4 for v4tov4 and v4tov6, IPv6 for v6tov4 and v6tov6. */
  family: Family;
  /** The port listened on, as one range. */
  ports: PortRange[];
  /**
   * The address listened on as the rule holds it: an IP address of `family` (`0.0.0.0`, `::` for
   * all), a host name netsh was given, which iphlpsvc resolves itself, or `*` kept as stored (what
   * netsh is said to show for a rule added without listenaddress; not seen here).
   */
  listenAddress: string;
  /** Where each accepted connection is connected to: an IP address of `targetFamily` or a host name, and a port. */
  target: { address: string; port: number };
  /** The family of the connections made to the target. */
  targetFamily: Family;
  type: PortProxyType;
  /** The registry key holding the rule: `HKLM\SYSTEM\CurrentControlSet\Services\PortProxy\v4tov4\tcp` and its siblings. */
  key: string;
  /** The registry value as stored: `name` `listenaddress/listenport`, `data` `connectaddress/connectport`. */
  value: { name: string; data: string };
}

/**
 * Something that may forward the port but could not be read or interpreted. Never an empty list in
 * its place: a rule portclash cannot follow is reported here, with why.
 */
export interface ForwardsUnknown {
  /**
   * `ruleset`: the ruleset could not be read at all (`error` EPERM without CAP_NET_ADMIN);
   * `rule`: one rule of a NAT chain could not be interpreted (a DNAT from a map, an xt target, an
   * unknown expression): it may redirect; `iptables-legacy`: legacy x_tables exist in this network
   * namespace, which portclash does not read. Windows: `registry`: a portproxy key could not be
   * read (`error` its Win32 error), so its rules may forward any TCP port; `rule`: one value of a
   * portproxy key is not a rule portclash can read (not a string, or not `address/port`).
   */
  source: 'ruleset' | 'rule' | 'iptables-legacy' | 'registry';
  /** A sentence saying what could not be read and why. */
  reason: string;
  /** The errno of a failed read, as Node's errors name it; on Windows, the Win32 error (`ERROR_ACCESS_DENIED`). */
  error?: ErrnoCode | Win32ErrorCode;
  /** For `rule` (Linux): where the rule is, as for a NatForward. */
  tableFamily?: 'ip' | 'ip6' | 'inet';
  table?: string;
  chain?: string;
  path?: string[];
  handle?: number;
  hook?: 'prerouting' | 'output';
  comment?: string | null;
  owner?: ForwardOwner | null;
  /** For `registry` and `rule` (Windows): the portproxy key, as for a ProxyForward. */
  type?: PortProxyType;
  key?: string;
  /** For `rule` (Windows): the registry value; `data` null when it is not a string (REG_SZ) that could be read. */
  value?: { name: string; data: string | null };
}

/**
 * What findForwards found. `complete` is false whenever `unknown` is not empty: then `forwards`
 * is what could be read, not proof that nothing else forwards the port. Each OS's reader gives one
 * kind of forward (Linux's `ForwardsReport<NatForward>`); findForwards says only `Forward`.
 */
export interface ForwardsReport<Kind extends Forward = Forward> {
  forwards: Kind[];
  unknown: ForwardsUnknown[];
  complete: boolean;
}

export interface ForwardsOptions {
  /** Only rules that can match this destination port (unknown rules whose matches exclude it are left out too). */
  port?: number;
  /** Only this protocol. */
  protocol?: Protocol;
  /** Another network namespace's rules (Linux; as listSockets' `netns`): read from inside it, which needs root. */
  netns?: string;
}

/**
 * The port forwards of this network namespace. Linux: NAT rules at prerouting and output that DNAT
 * or redirect packets by destination port (nf_tables, needs CAP_NET_ADMIN to read); a port that
 * is free to bind may still never see its packets. Windows: the portproxy rules in the registry
 * (no privilege needed), whose ports iphlpsvc holds itself. What cannot be read or interpreted is
 * in `unknown`, never silently left out. Throws ERR_UNSUPPORTED_PLATFORM on other OSes,
 * ERR_INVALID_PORT / ERR_INVALID_ARGUMENT for bad options.
 */
export async function findForwards(options: ForwardsOptions = {}): Promise<ForwardsReport> {
  if (typeof options !== 'object' || options === null) {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `findForwards takes an options object ({ port, protocol }) or nothing, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const checked: ForwardsOptions = {};
  if (options.port !== undefined) checked.port = parsePort(options.port);
  if (options.protocol !== undefined) {
    if (options.protocol !== 'tcp' && options.protocol !== 'udp') {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(options.protocol)}`);
    }
    checked.protocol = options.protocol;
  }
  return platformIn(options.netns).findForwards(checked);
}
