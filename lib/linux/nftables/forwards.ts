// Which nf_tables rules forward a port: nat chains at prerouting and output, followed through jumps, each rule's expressions read like the kernel runs them.
import { endianness } from 'node:os';

import { formatIPv4, formatIPv6 } from '../../address.js';
import type { ForwardOwner, ForwardsOptions, ForwardsUnknown, NatForward } from '../../forwards.js';
import { inRanges, type PortRange } from '../../ranges.js';
import type { Family, Protocol } from '../../records.js';
import { MalformedNetlinkError, type Attributes } from './netlink.js';
import { NFPROTO, NFT_SET, type Chain, type Expression, type NamedSet, type Rule, type Ruleset, type SetElement } from './ruleset.js';

/** NF_INET_* hooks where a nat chain rewrites the destination. */
const HOOKS: Record<number, 'prerouting' | 'output'> = { 0: 'prerouting', 3: 'output' };

/** The kernel's jump stack (NFT_JUMP_STACK_SIZE): no ruleset it accepts nests deeper. */
const MAX_DEPTH = 16;

/** Rules evaluated, over every path, before the walk gives up (kube-proxy has tens of thousands). */
const MAX_EVALUATIONS = 2_000_000;

/** What the packets on one path must be for the rules along it to match. */
interface Match {
  protocols: ReadonlySet<Protocol>;
  families: ReadonlySet<Family>;
  /** null: any destination port. */
  ports: PortRange[] | null;
  conditions: string[];
}

/** What a register holds, as far as the reader follows it. */
type Register =
  | { kind: 'l4proto'; length: number }
  | { kind: 'nfproto'; length: number }
  | { kind: 'dport'; length: number }
  | { kind: 'value'; length: number; bytes: Uint8Array }
  /** a data map's output: where a nat would take its address from */
  | { kind: 'map'; length: number; set: string }
  | { kind: 'other'; length: number; what: string };

type Outcome =
  | { kind: 'none' }
  | { kind: 'unmatchable' }
  | { kind: 'nat'; forward: NatAction }
  | { kind: 'jump'; chain: string }
  /** a verdict map: each element's jump, with what its key matched */
  | { kind: 'branches'; branches: { chain: string; match: Match }[] }
  | { kind: 'unknown'; reason: string };

interface NatAction {
  kind: 'dnat' | 'redirect';
  target: NatForward['target'];
  /** The family the nat's addresses are of, when it says (an inet table's `dnat ip to …`). */
  family?: Family;
}

// ---------- ranges of ports ----------

function normalize(ranges: PortRange[]): PortRange[] {
  // copies: the ranges merged here may be a caller's, or shared by paths
  const sorted = ranges
    .filter(([low, high]) => low <= high)
    .map(([low, high]): PortRange => [low, high])
    .sort((a, b) => a[0] - b[0]);
  const merged: PortRange[] = [];
  for (const [low, high] of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && low <= last[1] + 1) last[1] = Math.max(last[1], high);
    else merged.push([low, high]);
  }
  return merged;
}

function intersect(a: PortRange[] | null, b: PortRange[]): PortRange[] {
  if (a === null) return normalize(b.map(([low, high]) => [low, high]));
  const result: PortRange[] = [];
  for (const [lowA, highA] of a)
    for (const [lowB, highB] of b) if (Math.max(lowA, lowB) <= Math.min(highA, highB)) result.push([Math.max(lowA, lowB), Math.min(highA, highB)]);
  return normalize(result);
}

function complement(ranges: PortRange[]): PortRange[] {
  const result: PortRange[] = [];
  let next = 0;
  for (const [low, high] of normalize(ranges)) {
    if (low > next) result.push([next, low - 1]);
    next = high + 1;
  }
  if (next <= 65535) result.push([next, 65535]);
  return result;
}

// ---------- reading bytes ----------

const bigEndian = (bytes: Uint8Array): number => bytes.reduce((value, byte) => value * 256 + byte, 0);

function hex(bytes: Uint8Array): string {
  return `0x${Buffer.from(bytes).toString('hex')}`;
}

/** Register number → index of its first 32-bit word: NFT_REG_1..4 are 16 bytes, NFT_REG32_00..15 4. */
function wordOf(register: number): number | null {
  if (register >= 1 && register <= 4) return (register - 1) * 4;
  if (register >= 8 && register <= 23) return register - 8;
  return null;
}

/** NFTA_DATA_VALUE of the nft_data nest `type`. */
function dataValue(data: Attributes, type: number): Uint8Array | undefined {
  return data.nested(type)?.bytes(1);
}

const CMP_OPS = ['==', '!=', '<', '<=', '>', '>='] as const;

const PROTOCOL_NUMBERS: Record<number, Protocol> = { 6: 'tcp', 17: 'udp' };

// ---------- one rule ----------

class RuleReader {
  private readonly registers = new Map<number, Register>();
  /** The last load the reader does not follow (`fib`, `ct`): what an untracked register most likely holds, for conditions. */
  private opaque: string | undefined;
  private match: Match;

  constructor(
    private readonly rule: Rule,
    start: Match,
    private readonly sets: ReadonlyMap<string, NamedSet>,
  ) {
    this.match = { ...start, conditions: [...start.conditions] };
  }

  get result(): Match {
    return this.match;
  }

  private set(register: number | undefined, value: Register): void {
    const word = register === undefined ? null : wordOf(register);
    if (word === null) return;
    // a value is stored at its first word; any other whose words this one overwrites is gone whole
    const end = word + Math.max(1, Math.ceil(value.length / 4));
    for (const [start, held] of this.registers) {
      if (start < end && start + Math.max(1, Math.ceil(held.length / 4)) > word) this.registers.delete(start);
    }
    this.registers.set(word, value);
  }

  private get(register: number | undefined): Register | undefined {
    const word = register === undefined ? null : wordOf(register);
    return word === null ? undefined : this.registers.get(word);
  }

  private describe(register: Register | undefined): string {
    if (register === undefined) return this.opaque ?? 'a register no expression of this rule loaded';
    if (register.kind === 'other') return register.what;
    if (register.kind === 'value') return hex(register.bytes);
    if (register.kind === 'map') return `a lookup in map @${register.set}`;
    return { l4proto: 'meta l4proto', nfproto: 'meta nfproto', dport: 'th dport' }[register.kind];
  }

  private condition(text: string): void {
    if (!this.match.conditions.includes(text)) this.match.conditions.push(text);
  }

  private narrowProtocols(keep: (protocol: Protocol) => boolean): void {
    this.match = { ...this.match, protocols: new Set([...this.match.protocols].filter(keep)) };
  }

  private narrowFamilies(keep: (family: Family) => boolean): void {
    this.match = { ...this.match, families: new Set([...this.match.families].filter(keep)) };
  }

  private narrowPorts(ranges: PortRange[]): void {
    this.match = { ...this.match, ports: intersect(this.match.ports, ranges) };
  }

  private unmatchable(): boolean {
    const { protocols, families, ports } = this.match;
    return protocols.size === 0 || families.size === 0 || (ports !== null && ports.length === 0);
  }

  /** The rule's outcome: what its last expressions do, once its matches have narrowed `result`. */
  read(): Outcome {
    for (const expression of this.rule.expressions) {
      const outcome = this.step(expression);
      if (outcome !== null) return this.unmatchable() ? { kind: 'unmatchable' } : outcome;
      if (this.unmatchable()) return { kind: 'unmatchable' };
    }
    return { kind: 'none' };
  }

  /** One expression: null to go on to the next, or how the rule ends. */
  private step({ name, data }: Expression): Outcome | null {
    switch (name) {
      case 'payload':
        return this.payload(data);
      case 'meta':
        return this.meta(data);
      case 'cmp':
        this.compare(data);
        return null;
      case 'range':
        this.range(data);
        return null;
      case 'lookup':
        return this.lookup(data);
      case 'immediate':
        return this.immediate(data);
      case 'bitwise':
      case 'byteorder': {
        // the source's meaning is lost: what a comparison then tests is only a condition
        const source = this.get(data.u32(1));
        this.set(data.u32(2), { kind: 'other', length: data.u32(name === 'bitwise' ? 3 : 4) ?? 4, what: `${this.describe(source)} (${name})` });
        return null;
      }
      case 'nat':
        return this.nat(data);
      case 'redir':
        return this.redirect(data);
      case 'masq':
        return { kind: 'none' }; // a source rewrite: not a forward
      case 'target':
        return this.xtTarget(data);
      case 'match':
        this.xtMatch(data);
        return null;
      case 'counter':
      case 'log':
      case 'limit':
      case 'quota':
      case 'last':
      case 'connlimit':
      case 'notrack':
      case 'objref':
      case 'dynset':
        return null; // count, log or limit: they change no destination
      case 'fib': {
        // NFTA_FIB_DREG, NFTA_FIB_RESULT, NFTA_FIB_FLAGS: the address type of a route lookup, as
        // Docker's `fib daddr type local` asks, loads its register alone and can be named
        const dreg = data.u32(1);
        if (data.u32(2) === NFT_FIB_RESULT_ADDRTYPE && dreg !== undefined) {
          this.set(dreg, { kind: 'other', length: 4, what: `fib ${fibKeys(data.u32(3) ?? 0)} type` });
          return null;
        }
        this.registers.clear();
        this.opaque = name;
        return null;
      }
      case 'ct':
      case 'socket':
      case 'rt':
      case 'exthdr':
      case 'numgen':
      case 'hash':
      case 'osf':
      case 'xfrm':
      case 'tunnel':
        // Loads the reader does not follow: every register may have changed, so none is trusted
        // after (a later comparison is then a condition, never a port it would misread).
        this.registers.clear();
        this.opaque = name;
        return null;
      case 'reject':
        return { kind: 'none' };
      default:
        return { kind: 'unknown', reason: `its expression '${name}' is one portclash does not interpret` };
    }
  }

  private payload(data: Attributes): Outcome | null {
    if (data.has(5)) return { kind: 'unknown', reason: 'it rewrites packet bytes (payload set), which can change the destination port' };
    const base = data.u32(2);
    const offset = data.u32(3);
    const length = data.u32(4) ?? 0;
    const destination = data.u32(1);
    const families = this.match.families;
    const onlyIPv4 = families.size === 1 && families.has('IPv4');
    const onlyIPv6 = families.size === 1 && families.has('IPv6');
    let loaded: Register;
    if (base === 2 && offset === 2 && length === 2) loaded = { kind: 'dport', length };
    else if (base === 1 && offset === 9 && length === 1 && onlyIPv4) loaded = { kind: 'l4proto', length };
    else if (base === 1 && offset === 6 && length === 1 && onlyIPv6) loaded = { kind: 'l4proto', length };
    else loaded = { kind: 'other', length, what: payloadName(base, offset, length, onlyIPv4, onlyIPv6) };
    this.set(destination, loaded);
    return null;
  }

  private meta(data: Attributes): Outcome | null {
    if (data.has(3)) return null; // meta set (mark, priority…): no destination changes
    const key = data.u32(2);
    const destination = data.u32(1);
    const names: Record<number, string> = {
      3: 'meta mark',
      4: 'meta iif',
      5: 'meta oif',
      6: 'meta iifname',
      7: 'meta oifname',
      10: 'meta skuid',
      11: 'meta skgid',
    };
    if (key === 16) this.set(destination, { kind: 'l4proto', length: 1 });
    else if (key === 15) this.set(destination, { kind: 'nfproto', length: 1 });
    else this.set(destination, { kind: 'other', length: key === 6 || key === 7 ? 16 : 4, what: names[key ?? -1] ?? `meta key ${key}` });
    return null;
  }

  private compare(data: Attributes): void {
    const source = this.get(data.u32(1));
    const op = data.u32(2) ?? 0;
    const value = dataValue(data, 3) ?? new Uint8Array(0);
    const symbol = CMP_OPS[op] ?? `op ${op}`;
    if (source?.kind === 'dport' && value.byteLength === 2) {
      const port = bigEndian(value);
      const ranges: Record<number, PortRange[]> = {
        0: [[port, port]],
        1: complement([[port, port]]),
        2: [[0, port - 1]],
        3: [[0, port]],
        4: [[port + 1, 65535]],
        5: [[port, 65535]],
      };
      const narrowed = ranges[op];
      if (narrowed !== undefined) return this.narrowPorts(narrowed);
    }
    if (source?.kind === 'l4proto' && value.byteLength === 1 && (op === 0 || op === 1)) {
      const protocol = PROTOCOL_NUMBERS[value[0]!];
      return this.narrowProtocols((candidate) => (op === 0 ? candidate === protocol : candidate !== protocol));
    }
    if (source?.kind === 'nfproto' && value.byteLength === 1 && (op === 0 || op === 1)) {
      const family = value[0] === NFPROTO.IPV4 ? 'IPv4' : value[0] === NFPROTO.IPV6 ? 'IPv6' : undefined;
      return this.narrowFamilies((candidate) => (op === 0 ? candidate === family : candidate !== family));
    }
    this.condition(`${this.describe(source)} ${symbol} ${formatValue(source, value)}`);
  }

  private range(data: Attributes): void {
    const source = this.get(data.u32(1));
    const op = data.u32(2) ?? 0;
    const from = dataValue(data, 3) ?? new Uint8Array(0);
    const to = dataValue(data, 4) ?? new Uint8Array(0);
    if (source?.kind === 'dport' && from.byteLength === 2 && to.byteLength === 2 && (op === 0 || op === 1)) {
      const span: PortRange[] = [[bigEndian(from), bigEndian(to)]];
      return this.narrowPorts(op === 0 ? span : complement(span));
    }
    this.condition(`${this.describe(source)} ${op === 1 ? '!= ' : ''}${formatValue(source, from)}-${formatValue(source, to)}`);
  }

  private lookup(data: Attributes): Outcome | null {
    const name = data.string(1) ?? '';
    const source = this.get(data.u32(2));
    const inverted = ((data.u32(5) ?? 0) & 1) !== 0;
    const set = this.sets.get(name);
    if (data.has(3)) {
      const destination = data.u32(3);
      if (destination === 0) return this.verdictMap(name, data.u32(2), set);
      this.set(destination, { kind: 'map', length: 16, set: name });
      return null;
    }
    if (set === undefined) return { kind: 'unknown', reason: `it looks up set @${name}, which the dump did not list` };
    const element = set.elements === null ? null : setRanges(set);
    if (source?.kind === 'dport' && set.keyLength === 2) {
      if (element === null) return { kind: 'unknown', reason: `the elements of set @${name} could not be read` };
      this.narrowPorts(inverted ? complement(element) : element);
      return null;
    }
    if (source?.kind === 'l4proto' && set.keyLength === 1 && element !== null) {
      const inSet = (protocol: Protocol): boolean => inRanges(protocol === 'tcp' ? 6 : 17, element);
      this.narrowProtocols((protocol) => inSet(protocol) !== inverted);
      return null;
    }
    this.condition(`${this.describe(source)} ${inverted ? '!= ' : ''}@${name}`);
    return null;
  }

  /**
   * A verdict map (`… vmap @m`): each element is a branch, its key narrowing what the registers it
   * was looked up with hold (a concatenation's fields are each padded to 4 bytes, one per register),
   * its verdict the chain it jumps to. Fields of registers the reader does not follow narrow nothing.
   */
  private verdictMap(name: string, source: number | undefined, set: NamedSet | undefined): Outcome {
    const first = source === undefined ? null : wordOf(source);
    if (set === undefined || set.elements === null || first === null) {
      return { kind: 'unknown', reason: `it takes its verdict from map @${name}, which the dump did not list` };
    }
    // the fields of the key, word by word: the register loaded there, or an untracked word
    const fields: KeyField[] = [];
    for (let offset = 0; offset < set.keyLength;) {
      const register = this.registers.get(first + offset / 4);
      const length = Math.min(register === undefined ? 4 : register.length, set.keyLength - offset);
      fields.push({ offset, register, length });
      offset += Math.max(4, Math.ceil(length / 4) * 4);
    }
    const base = this.match;
    const branches: { chain: string; match: Match }[] = [];
    for (const { element, low, high } of elementSpans(set)) {
      const code = element.verdict?.code;
      const chain = element.verdict?.chain;
      if (code === 3) return { kind: 'unknown', reason: `an element of verdict map @${name} queues packets to a program (NFQUEUE), which may rewrite them` };
      if ((code !== -3 && code !== -4) || chain === undefined) continue; // accept, drop, return: no rewrite here
      this.match = { ...base, conditions: [...base.conditions] };
      if (low !== null && high !== null) for (const field of fields) this.narrowByField(field, low, high, name);
      if (!this.unmatchable()) branches.push({ chain, match: this.match });
    }
    this.match = base;
    return { kind: 'branches', branches };
  }

  /** Narrows the match by one field of a map element's key, from `low` to `high` (the same for a single key). */
  private narrowByField(field: KeyField, low: Uint8Array, high: Uint8Array, set: string): void {
    const from = bigEndian(low.subarray(field.offset, field.offset + field.length));
    const to = bigEndian(high.subarray(field.offset, field.offset + field.length));
    const { register } = field;
    if (register?.kind === 'dport' && field.length === 2) return this.narrowPorts([[from, to]]);
    if (register?.kind === 'l4proto' && field.length === 1) return this.narrowProtocols((protocol) => inRanges(protocol === 'tcp' ? 6 : 17, [[from, to]]));
    if (register?.kind === 'nfproto' && field.length === 1) {
      return this.narrowFamilies((family) => inRanges(family === 'IPv4' ? NFPROTO.IPV4 : NFPROTO.IPV6, [[from, to]]));
    }
    const value = low.subarray(field.offset, field.offset + field.length);
    this.condition(`${this.describe(register)} == ${formatValue(register, value)} (@${set})`);
  }

  private immediate(data: Attributes): Outcome | null {
    const destination = data.u32(1);
    const value = data.nested(2);
    if (destination === 0) {
      const verdict = value?.nested(2);
      const code = verdict?.i32(1);
      // NFT_JUMP -3, NFT_GOTO -4: the chain's rules run for the packet; for what they can do, the same
      if (code === -3 || code === -4) {
        const chain = verdict?.string(2);
        if (chain === undefined) return { kind: 'unknown', reason: 'it jumps to a chain it does not name' };
        return { kind: 'jump', chain };
      }
      // accept, drop, return, queue…: the packet leaves the chain unrewritten by this rule
      if (code === 3) return { kind: 'unknown', reason: 'it queues packets to a program (NFQUEUE), which may rewrite them' };
      return { kind: 'none' };
    }
    const bytes = value?.bytes(1);
    if (bytes !== undefined) this.set(destination, { kind: 'value', length: bytes.byteLength, bytes });
    return null;
  }

  /** The literal a nat register holds, or a reason it is none. */
  private literal(register: number | undefined, what: string): Uint8Array | string | undefined {
    if (register === undefined) return undefined;
    const value = this.get(register);
    if (value?.kind === 'value') return value.bytes;
    if (value?.kind === 'map') return `its ${what} comes from map @${value.set}, which portclash does not read`;
    return `its ${what} comes from ${this.describe(value)}, not a literal`;
  }

  private nat(data: Attributes): Outcome {
    if (data.u32(1) !== 1) return { kind: 'none' }; // NFT_NAT_SNAT: a source rewrite
    // NF_NAT_RANGE_PROTO_OFFSET: the port is shifted by the packet's own, no one target port
    if (((data.u32(7) ?? 0) & 32) !== 0) return { kind: 'unknown', reason: 'it is a dnat that shifts ports by an offset, which portclash does not follow' };
    const natFamily = data.u32(2);
    const family: Family | undefined = natFamily === NFPROTO.IPV4 ? 'IPv4' : natFamily === NFPROTO.IPV6 ? 'IPv6' : undefined;
    const target: NatForward['target'] = {};
    const addressMin = this.literal(data.u32(3), 'address');
    const addressMax = this.literal(data.u32(4), 'address');
    const portMin = this.literal(data.u32(5), 'port');
    const portMax = this.literal(data.u32(6), 'port');
    for (const part of [addressMin, addressMax, portMin, portMax])
      if (typeof part === 'string') return { kind: 'unknown', reason: `it is a dnat, but ${part}` };
    if (addressMin instanceof Uint8Array) {
      const address = formatNatAddress(addressMin, family);
      if (address === null) return { kind: 'unknown', reason: `it is a dnat to an address of ${addressMin.byteLength} bytes` };
      target.address = address;
      if (addressMax instanceof Uint8Array) {
        const end = formatNatAddress(addressMax, family);
        if (end !== null && end !== address) target.addressEnd = end;
      }
    }
    Object.assign(target, natPorts(portMin, portMax));
    return { kind: 'nat', forward: family === undefined ? { kind: 'dnat', target } : { kind: 'dnat', target, family } };
  }

  private redirect(data: Attributes): Outcome {
    const portMin = this.literal(data.u32(1), 'port');
    const portMax = this.literal(data.u32(2), 'port');
    for (const part of [portMin, portMax]) if (typeof part === 'string') return { kind: 'unknown', reason: `it is a redirect, but ${part}` };
    return { kind: 'nat', forward: { kind: 'redirect', target: natPorts(portMin, portMax) } };
  }

  private xtMatch(data: Attributes): void {
    const name = data.string(1) ?? '?';
    const info = data.bytes(3) ?? new Uint8Array(0);
    if (name === 'comment' && this.rule.comment === null) {
      const end = info.indexOf(0);
      this.xtComment = Buffer.from(info.subarray(0, end === -1 ? info.byteLength : end)).toString('utf8');
      return;
    }
    // struct xt_tcp / xt_udp: spts[2], dpts[2] in host order, then invflags (bit 0x02: ! --dport)
    if ((name === 'tcp' || name === 'udp') && info.byteLength >= 8) {
      const words = new DataView(info.buffer, info.byteOffset, info.byteLength);
      const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
      const span: PortRange[] = [[words.getUint16(4, little), words.getUint16(6, little)]];
      const inverted = ((info[name === 'tcp' ? 11 : 8] ?? 0) & 0x02) !== 0;
      this.narrowProtocols((protocol) => protocol === name);
      this.narrowPorts(inverted ? complement(span) : span);
      return;
    }
    if (name === 'multiport') {
      const ports = multiportDestinations(info, data.u32(2) ?? 0);
      if (ports !== null) return this.narrowPorts(ports);
    }
    this.condition(`xt match ${name}`);
  }

  /** An xt `comment` match's text (iptables-nft before it used NFTA_RULE_USERDATA). */
  xtComment: string | null = null;

  private xtTarget(data: Attributes): Outcome {
    const name = data.string(1) ?? '?';
    const revision = data.u32(2) ?? 0;
    const info = data.bytes(3) ?? new Uint8Array(0);
    if (name === 'DNAT' || name === 'REDIRECT') {
      const family: Family = this.rule.family === NFPROTO.IPV6 ? 'IPv6' : 'IPv4';
      const decoded = decodeXtNat(name, revision, info, family);
      if (typeof decoded === 'string') return { kind: 'unknown', reason: decoded };
      return { kind: 'nat', forward: decoded };
    }
    // targets that mark, log or rewrite the source: they send no packet elsewhere
    if (['MARK', 'CONNMARK', 'LOG', 'NFLOG', 'SNAT', 'MASQUERADE', 'CT', 'TRACE'].includes(name)) return { kind: 'none' };
    return { kind: 'unknown', reason: `its iptables target ${name} (rev ${revision}) is one portclash does not decode` };
  }
}

/**
 * The destination ports of an xt multiport match (struct xt_multiport, rev 0, or xt_multiport_v1,
 * rev 1, ports in host order), or null when it matches source ports too (`--ports`) or is cut short.
 */
export function multiportDestinations(info: Uint8Array, revision: number): PortRange[] | null {
  // flags: XT_MULTIPORT_SOURCE 0, _DESTINATION 1, _EITHER 2; then count, ports[15] from byte 2
  if (info.byteLength < 32 || info[0] !== 1 || info[1]! > 15) return null;
  const words = new DataView(info.buffer, info.byteOffset, info.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const count = info[1]!;
  const port = (index: number): number => words.getUint16(2 + index * 2, little);
  if (revision === 0) return normalize(Array.from({ length: count }, (_, index): PortRange => [port(index), port(index)]));
  // rev 1: pflags[15] from byte 32 (1: ports[i] starts a range ending at ports[i + 1]), invert at byte 47
  if (revision !== 1 || info.byteLength < 48) return null;
  const ranges: PortRange[] = [];
  for (let index = 0; index < count; index++) {
    if (info[32 + index] === 1 && index + 1 < count) {
      ranges.push([port(index), port(index + 1)]);
      index++;
    } else {
      ranges.push([port(index), port(index)]);
    }
  }
  return info[47] === 0 ? normalize(ranges) : complement(ranges);
}

function payloadName(base: number | undefined, offset: number | undefined, length: number, onlyIPv4: boolean, onlyIPv6: boolean): string {
  if (base === 1 && onlyIPv4 && length === 4 && (offset === 12 || offset === 16)) return offset === 12 ? 'ip saddr' : 'ip daddr';
  if (base === 1 && onlyIPv6 && length === 16 && (offset === 8 || offset === 24)) return offset === 8 ? 'ip6 saddr' : 'ip6 daddr';
  if (base === 2 && offset === 0 && length === 2) return 'th sport';
  const bases = ['link layer', 'network header', 'transport header', 'inner header'];
  return `payload ${bases[base ?? -1] ?? `base ${base}`} +${offset} (${length} bytes)`;
}

// NFT_FIB_RESULT_ADDRTYPE, and the route types (rtnetlink.h RTN_*) it yields, as nft names them
const NFT_FIB_RESULT_ADDRTYPE = 3;
const ROUTE_TYPES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];

/** `daddr . iif` from NFTA_FIB_FLAGS (NFTA_FIB_F_SADDR 1, DADDR 2, MARK 4, IIF 8, OIF 16). */
function fibKeys(flags: number): string {
  const keys = [flags & 1 ? 'saddr' : null, flags & 2 ? 'daddr' : null, flags & 4 ? 'mark' : null, flags & 8 ? 'iif' : null, flags & 16 ? 'oif' : null];
  return keys.filter((key) => key !== null).join(' . ');
}

function formatValue(source: Register | undefined, value: Uint8Array): string {
  if (source?.kind === 'other') {
    // a route type, in the host's byte order as the kernel's register holds it
    if (source.what.startsWith('fib ') && source.what.endsWith(' type') && value.byteLength === 4) {
      const type = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, endianness() === 'LE');
      return ROUTE_TYPES[type] ?? String(type);
    }
    if (source.what.endsWith('ifname')) {
      const end = value.indexOf(0);
      return JSON.stringify(Buffer.from(value.subarray(0, end === -1 ? value.byteLength : end)).toString('utf8'));
    }
    if (source.what.startsWith('ip ') && value.byteLength === 4) return formatIPv4(value);
    if (source.what.startsWith('ip6 ') && value.byteLength === 16) return formatIPv6(value);
  }
  if (source?.kind === 'dport' && value.byteLength === 2) return String(bigEndian(value));
  return hex(value);
}

function formatNatAddress(bytes: Uint8Array, family: Family | undefined): string | null {
  if (bytes.byteLength === 4 && family !== 'IPv6') return formatIPv4(bytes);
  if (bytes.byteLength === 16) return family === 'IPv4' ? formatIPv4(bytes.subarray(0, 4)) : formatIPv6(bytes);
  return null;
}

function natPorts(min: Uint8Array | string | undefined, max: Uint8Array | string | undefined): { port?: number; portEnd?: number } {
  if (!(min instanceof Uint8Array) || min.byteLength < 2) return {};
  const port = bigEndian(min.subarray(0, 2));
  const end = max instanceof Uint8Array && max.byteLength >= 2 ? bigEndian(max.subarray(0, 2)) : port;
  return end === port ? { port } : { port, portEnd: end };
}

/**
 * An xt DNAT or REDIRECT target's info, as iptables-nft sends it: struct
 * nf_nat_ipv4_multi_range_compat for IPv4 revision 0, nf_nat_range for revision 1 (and IPv6
 * REDIRECT's revision 0), nf_nat_range2 for revision 2 (linux/netfilter/nf_nat.h). Or a reason.
 */
export function decodeXtNat(name: 'DNAT' | 'REDIRECT', revision: number, info: Uint8Array, family: Family): NatAction | string {
  const words = new DataView(info.buffer, info.byteOffset, info.byteLength);
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  let flags: number;
  let address: Uint8Array;
  let addressEnd: Uint8Array;
  let ports: [number, number];
  if (family === 'IPv4' && revision === 0) {
    // rangesize (u32), then one nf_nat_ipv4_range: flags (u32), min_ip, max_ip, min and max port (be16)
    if (info.byteLength < 20 || words.getUint32(0, little) !== 1) return `its iptables ${name} target (rev 0) is not one range of ${info.byteLength} bytes`;
    flags = words.getUint32(4, little);
    address = info.subarray(8, 12);
    addressEnd = info.subarray(12, 16);
    ports = [words.getUint16(16, false), words.getUint16(18, false)];
  } else if (revision === 1 || revision === 2 || (family === 'IPv6' && revision === 0 && name === 'REDIRECT')) {
    // flags (u32), min_addr and max_addr (16 bytes each), min and max proto (be16), [base_proto (be16)]
    if (info.byteLength < 40) return `its iptables ${name} target (rev ${revision}) has ${info.byteLength} bytes, too few for nf_nat_range`;
    flags = words.getUint32(0, little);
    const size = family === 'IPv4' ? 4 : 16;
    address = info.subarray(4, 4 + size);
    addressEnd = info.subarray(20, 20 + size);
    ports = [words.getUint16(36, false), words.getUint16(38, false)];
  } else {
    return `its iptables ${name} target has revision ${revision}, which portclash does not decode`;
  }
  // NF_NAT_RANGE_PROTO_OFFSET (32) and NF_NAT_RANGE_NETMAP (64) shift ports or map prefixes: no one target
  if ((flags & (32 | 64)) !== 0) return `its iptables ${name} target maps by offset or prefix (flags 0x${flags.toString(16)}), which portclash does not follow`;
  const target: NatForward['target'] = {};
  if (name === 'DNAT' && (flags & 1) !== 0) {
    const format = family === 'IPv4' ? formatIPv4 : formatIPv6;
    target.address = format(address);
    if (format(addressEnd) !== target.address) target.addressEnd = format(addressEnd);
  }
  if ((flags & 2) !== 0) {
    target.port = ports[0];
    if (ports[1] !== ports[0]) target.portEnd = ports[1];
  }
  return { kind: name === 'DNAT' ? 'dnat' : 'redirect', target, family };
}

// ---------- the walk ----------

/** Owners recognised by the names their tools give tables and chains. */
export function ownerOf(table: string, chains: readonly string[]): ForwardOwner | null {
  const names = [table, ...chains];
  if (table === 'kube-proxy' || chains.some((chain) => chain.startsWith('KUBE-'))) return 'kubernetes';
  if (names.some((name) => /^docker/i.test(name))) return 'docker';
  if (table === 'firewalld' || chains.some((chain) => /^(nat_)?PREROUTING_ZONES|^nat_PRE_/.test(chain))) return 'firewalld';
  if (table === 'netavark' || chains.some((chain) => chain.startsWith('NETAVARK'))) return 'podman';
  if (table === 'lxd' || table === 'incus') return table;
  return null;
}

function tableFamilyOf(family: number): 'ip' | 'ip6' | 'inet' | null {
  return family === NFPROTO.IPV4 ? 'ip' : family === NFPROTO.IPV6 ? 'ip6' : family === NFPROTO.INET ? 'inet' : null;
}

/** One field of a concatenated key: where it starts in the key, what register was looked up there, its length. */
interface KeyField {
  offset: number;
  register: Register | undefined;
  length: number;
}

/**
 * Each element of a set with the lowest and highest key it matches (null for a catch-all, whose key
 * is empty): the key itself, its KEY_END for concatenated intervals, or for an rbtree interval the
 * key before the end element that follows it (all ones when none does).
 */
function elementSpans(set: NamedSet): { element: SetElement; low: Uint8Array | null; high: Uint8Array | null }[] {
  const elements = set.elements ?? [];
  const interval = (set.flags & NFT_SET.INTERVAL) !== 0;
  const sorted = interval ? [...elements].sort((a, b) => compareBytes(a.key, b.key)) : elements;
  const spans: { element: SetElement; low: Uint8Array | null; high: Uint8Array | null }[] = [];
  sorted.forEach((element, index) => {
    if (element.intervalEnd) return;
    if (element.catchAll) spans.push({ element, low: null, high: null });
    else if (!interval) spans.push({ element, low: element.key, high: element.key });
    else if (element.keyEnd !== undefined) spans.push({ element, low: element.key, high: element.keyEnd });
    else spans.push({ element, low: element.key, high: beforeEnd(element.key, sorted[index + 1]) });
  });
  return spans;
}

/** The last key of an rbtree interval: one before the key of the end element after it, big-endian. */
function beforeEnd(key: Uint8Array, next: SetElement | undefined): Uint8Array {
  const high = new Uint8Array(key.byteLength).fill(0xff);
  if (next?.intervalEnd !== true) return high;
  high.set(next.key.subarray(0, high.byteLength));
  for (let byte = high.byteLength - 1; byte >= 0; byte--) {
    if (high[byte]! > 0) {
      high[byte] = high[byte]! - 1;
      break;
    }
    high[byte] = 0xff;
  }
  return high;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.byteLength, b.byteLength); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.byteLength - b.byteLength;
}

/** Each interval or element of a set as a range of its big-endian keys (ports, protocol numbers). */
export function setRanges(set: NamedSet): PortRange[] {
  const elements = set.elements ?? [];
  const max = 256 ** set.keyLength - 1;
  if (elements.some((element) => element.catchAll)) return [[0, max]];
  if ((set.flags & NFT_SET.INTERVAL) === 0) return normalize(elements.map((element) => [bigEndian(element.key), bigEndian(element.key)]));
  const ranges: PortRange[] = [];
  // rbtree intervals: a start element, and an end element (NFT_SET_ELEM_INTERVAL_END) one past its last key
  const sorted = [...elements].sort((a, b) => bigEndian(a.key) - bigEndian(b.key));
  for (let i = 0; i < sorted.length; i++) {
    const element = sorted[i]!;
    if (element.intervalEnd) continue;
    const low = bigEndian(element.key);
    if (element.keyEnd !== undefined) {
      ranges.push([low, bigEndian(element.keyEnd)]);
      continue;
    }
    const next = sorted[i + 1];
    ranges.push([low, next?.intervalEnd === true ? bigEndian(next.key) - 1 : max]);
  }
  return normalize(ranges);
}

/** A rule that may forward, with what its earlier matches already say about the packets it sees (for filtering by port). */
export interface FoundUnknown {
  entry: ForwardsUnknown;
  matches?: Match;
}

interface Walk {
  forwards: NatForward[];
  unknown: FoundUnknown[];
  evaluations: number;
}

/** Whether the walk starts at this chain: a base chain of type nat, hooked at prerouting or output, of an ip, ip6 or inet table. */
export function startsForwards(chain: Chain): boolean {
  return chain.type === 'nat' && chain.hook !== undefined && HOOKS[chain.hook.number] !== undefined && tableFamilyOf(chain.family) !== null;
}

/** The forwards and the rules that may forward, of a whole ruleset (before any filter by port). */
export function interpretRuleset(ruleset: Ruleset): { forwards: NatForward[]; unknown: FoundUnknown[] } {
  const chainKey = (family: number, table: string, chain: string): string => `${family}\0${table}\0${chain}`;
  const rulesByChain = new Map<string, Rule[]>();
  for (const rule of ruleset.rules) {
    const key = chainKey(rule.family, rule.table, rule.chain);
    const list = rulesByChain.get(key) ?? [];
    list.push(rule);
    rulesByChain.set(key, list);
  }
  const chains = new Map(ruleset.chains.map((chain) => [chainKey(chain.family, chain.table, chain.name), chain]));
  const setsByTable = new Map<string, Map<string, NamedSet>>();
  for (const set of ruleset.sets) {
    const key = `${set.family}\0${set.table}`;
    const sets = setsByTable.get(key) ?? new Map<string, NamedSet>();
    sets.set(set.name, set);
    setsByTable.set(key, sets);
  }

  const walk: Walk = { forwards: [], unknown: [], evaluations: 0 };
  for (const chain of ruleset.chains) {
    const hook = chain.hook === undefined ? undefined : HOOKS[chain.hook.number];
    const tableFamily = tableFamilyOf(chain.family);
    if (hook === undefined || !startsForwards(chain) || tableFamily === null) continue;
    const families: Family[] = tableFamily === 'ip' ? ['IPv4'] : tableFamily === 'ip6' ? ['IPv6'] : ['IPv4', 'IPv6'];
    const start: Match = { protocols: new Set<Protocol>(['tcp', 'udp']), families: new Set(families), ports: null, conditions: [] };
    const sets = setsByTable.get(`${chain.family}\0${chain.table}`) ?? new Map<string, NamedSet>();
    const context = { hook, tableFamily, sets, rulesByChain, chains, chainKey };
    walkChain(context, chain, start, [chain.name], walk);
  }
  return { forwards: walk.forwards, unknown: walk.unknown };
}

interface WalkContext {
  hook: 'prerouting' | 'output';
  tableFamily: 'ip' | 'ip6' | 'inet';
  sets: ReadonlyMap<string, NamedSet>;
  rulesByChain: ReadonlyMap<string, Rule[]>;
  chains: ReadonlyMap<string, Chain>;
  chainKey(family: number, table: string, chain: string): string;
}

function walkChain(context: WalkContext, chain: Chain, match: Match, path: string[], walk: Walk): void {
  const rules = context.rulesByChain.get(context.chainKey(chain.family, chain.table, chain.name)) ?? [];
  for (const rule of rules) {
    const where = {
      tableFamily: context.tableFamily,
      table: rule.table,
      chain: rule.chain,
      path: [...path],
      handle: rule.handle,
      hook: context.hook,
      owner: ownerOf(rule.table, path),
    };
    if (++walk.evaluations > MAX_EVALUATIONS) {
      walk.unknown.push({
        entry: {
          source: 'rule',
          reason: `the chains reached from ${path[0]} have more than ${MAX_EVALUATIONS} rules along their paths; portclash stopped reading there`,
          ...where,
          comment: rule.comment,
        },
      });
      return;
    }
    const reader = new RuleReader(rule, match, context.sets);
    let outcome: Outcome;
    try {
      outcome = reader.read();
    } catch (error) {
      // an expression's nested attributes are read as the rule runs: bytes the kernel cannot have sent
      if (!(error instanceof MalformedNetlinkError)) throw error;
      outcome = { kind: 'unknown', reason: `its expressions are malformed (${error.message})` };
    }
    const comment = rule.comment ?? reader.xtComment;
    const narrowed = reader.result;
    // a jump (or a verdict map's element): the target's rules run with what the path matched so far
    const follow = (name: string, matched: Match): void => {
      const target = context.chains.get(context.chainKey(chain.family, chain.table, name));
      const stop =
        target === undefined
          ? `jumps to chain ${name}, which the dump did not list`
          : path.includes(target.name) || path.length >= MAX_DEPTH
            ? `jumps to ${target.name}, past the kernel's depth or back into its own path`
            : null;
      if (target === undefined || stop !== null) {
        walk.unknown.push({ entry: { source: 'rule', reason: `rule ${rule.handle} of chain ${rule.chain} ${stop}`, ...where, comment }, matches: matched });
      } else {
        walkChain(context, target, matched, [...path, target.name], walk);
      }
    };
    switch (outcome.kind) {
      case 'none':
      case 'unmatchable':
        break;
      case 'unknown':
        walk.unknown.push({
          entry: { source: 'rule', reason: `rule ${rule.handle} of chain ${rule.chain} may redirect: ${outcome.reason}`, ...where, comment },
          matches: narrowed,
        });
        break;
      case 'jump':
        follow(outcome.chain, narrowed);
        break;
      case 'branches':
        for (const branch of outcome.branches) follow(branch.chain, branch.match);
        break;
      case 'nat':
        for (const family of narrowed.families) {
          if (outcome.forward.family !== undefined && outcome.forward.family !== family) continue;
          for (const protocol of narrowed.protocols) {
            walk.forwards.push({
              kind: outcome.forward.kind,
              protocol,
              family,
              // each Forward its own arrays and objects: a caller may change one without the others
              ports: narrowed.ports === null ? null : narrowed.ports.map(([low, high]): [number, number] => [low, high]),
              hook: context.hook,
              target: { ...outcome.forward.target },
              tableFamily: context.tableFamily,
              table: rule.table,
              chain: rule.chain,
              path: [...path],
              handle: rule.handle,
              comment,
              owner: where.owner,
              conditions: [...narrowed.conditions],
            });
          }
        }
        break;
    }
  }
}

/** The forwards and unknown rules that can concern `options.port` and `options.protocol`. */
export function filterForwards(
  found: { forwards: NatForward[]; unknown: FoundUnknown[] },
  options: ForwardsOptions,
): { forwards: NatForward[]; unknown: ForwardsUnknown[] } {
  const { port, protocol } = options;
  const portMatches = (ports: PortRange[] | null): boolean => port === undefined || ports === null || inRanges(port, ports);
  const forwards = found.forwards.filter((forward) => (protocol === undefined || forward.protocol === protocol) && portMatches(forward.ports));
  const unknown = found.unknown.flatMap(({ entry, matches }) =>
    matches !== undefined && ((protocol !== undefined && !matches.protocols.has(protocol)) || !portMatches(matches.ports)) ? [] : [entry],
  );
  return { forwards, unknown };
}
