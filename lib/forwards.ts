// findForwards: the NAT rules that rewrite packets for a port before any socket sees them (issue 16), on whichever OS reads them.
import { PortclashError } from './errors.js';
import { platformIn } from './platform.js';
import { parsePort } from './ports.js';
import type { ErrnoCode } from './errors.js';
import type { PortRange } from './ranges.js';
import type { Family, Protocol } from './records.js';

/** Who made the rule, as recognised from its table's and chains' names. */
export type ForwardOwner = 'docker' | 'kubernetes' | 'firewalld' | 'podman' | 'lxd' | 'incus';

/**
 * One NAT rule that sends packets for a destination port elsewhere: bind() on the port succeeds,
 * but what arrives for it (prerouting) or what this host sends to it (output) reaches `target`.
 */
export interface Forward {
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

/**
 * Something that may forward the port but could not be read or interpreted. Never an empty list in
 * its place: a rule portclash cannot follow is reported here, with why.
 */
export interface ForwardsUnknown {
  /**
   * `ruleset`: the ruleset could not be read at all (`error` EPERM without CAP_NET_ADMIN);
   * `rule`: one rule of a NAT chain could not be interpreted (a DNAT from a map, an xt target, an
   * unknown expression): it may redirect; `iptables-legacy`: legacy x_tables exist in this network
   * namespace, which portclash does not read.
   */
  source: 'ruleset' | 'rule' | 'iptables-legacy';
  /** A sentence saying what could not be read and why. */
  reason: string;
  /** The errno of a failed read, as Node's errors name it. */
  error?: ErrnoCode;
  /** For `rule`: where the rule is, as for a Forward. */
  tableFamily?: 'ip' | 'ip6' | 'inet';
  table?: string;
  chain?: string;
  path?: string[];
  handle?: number;
  hook?: 'prerouting' | 'output';
  comment?: string | null;
  owner?: ForwardOwner | null;
}

/**
 * What findForwards found. `complete` is false whenever `unknown` is not empty: then `forwards`
 * is what could be read, not proof that nothing else forwards the port.
 */
export interface ForwardsReport {
  forwards: Forward[];
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
 * The port forwards of this network namespace: NAT rules at prerouting and output that DNAT or
 * redirect packets by destination port (Linux: nf_tables, needs CAP_NET_ADMIN to read). A port
 * that is free to bind may still never see its packets. What cannot be read or interpreted is in
 * `unknown`, never silently left out. Throws ERR_UNSUPPORTED_PLATFORM on Windows and other OSes,
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
