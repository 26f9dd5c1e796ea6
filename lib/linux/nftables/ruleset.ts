// The nf_tables ruleset as plain data: tables, chains, rules (expressions left raw), sets and their elements, from dump replies.
import { Attributes, attributeList, MalformedNetlinkError, type NetlinkMessage } from './netlink.js';

/** NFT_MSG_* (linux/netfilter/nf_tables.h): the GET requests, and the NEW messages that answer them. */
export const NFT_MSG = {
  NEWTABLE: 0,
  GETTABLE: 1,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  NEWRULE: 6,
  GETRULE: 7,
  NEWSET: 9,
  GETSET: 10,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  NEWGEN: 15,
  GETGEN: 16,
} as const;

/** nfnetlink puts its subsystem in the high byte of the message type. */
export const NFNL_SUBSYS_NFTABLES = 10;

/** The nfgen families of tables (NFPROTO_*) that can hold nat chains for IP. */
export const NFPROTO = { INET: 1, IPV4: 2, IPV6: 10 } as const;

export type TableFamily = 'ip' | 'ip6' | 'inet' | 'arp' | 'bridge' | 'netdev';

const FAMILY_NAMES: Record<number, TableFamily> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };

/** `ip`, `inet`…: the family as nft names it; `family N` for one it does not know. */
export function tableFamilyName(family: number): TableFamily | `family ${number}` {
  return FAMILY_NAMES[family] ?? `family ${family}`;
}

export interface Table {
  family: number;
  name: string;
}

export interface Chain {
  family: number;
  table: string;
  name: string;
  handle: number;
  /** A base chain's hook (NF_INET_*) and priority; absent for a chain only jumps reach. */
  hook?: { number: number; priority: number };
  /** A base chain's type: `filter`, `nat`, `route`. */
  type?: string;
}

/** One expression of a rule: its type name (`payload`, `cmp`, `nat`, `target`…) and its attributes, for forwards.ts to read. */
export interface Expression {
  name: string;
  data: Attributes;
}

export interface Rule {
  family: number;
  table: string;
  chain: string;
  handle: number;
  expressions: Expression[];
  /** NFTA_RULE_USERDATA's comment (nft's `comment "…"`, iptables' `-m comment`), or null. */
  comment: string | null;
}

export interface SetElement {
  key: Uint8Array;
  /** The end of the interval the element starts, for sets that give it (concatenated intervals). */
  keyEnd?: Uint8Array;
  /** NFT_SET_ELEM_INTERVAL_END: the element ends the interval before it, and matches nothing itself. */
  intervalEnd: boolean;
  /** NFT_SET_ELEM_CATCHALL (`*`): the element has no key and matches every one. */
  catchAll: boolean;
  /** A verdict map's value: the verdict code (NFT_JUMP -3, NFT_GOTO -4, NF_ACCEPT 1…) and the chain jumped to. */
  verdict?: { code: number; chain?: string };
}

/** NFT_SET_* flags. */
export const NFT_SET = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, MAP: 0x8, TIMEOUT: 0x10, EVAL: 0x20, OBJECT: 0x40, CONCAT: 0x80 } as const;

export interface NamedSet {
  family: number;
  table: string;
  name: string;
  flags: number;
  keyLength: number;
  /** Filled from the GETSETELEM dump; null until then (or when it could not be read). */
  elements: SetElement[] | null;
}

export interface Ruleset {
  tables: Table[];
  chains: Chain[];
  rules: Rule[];
  sets: NamedSet[];
}

/** The payload of an nf_tables message after its nfgenmsg: the family, and the attributes. */
function nfgen(message: NetlinkMessage, expected: number): { family: number; attributes: Attributes } {
  if (message.type !== ((NFNL_SUBSYS_NFTABLES << 8) | expected)) {
    throw new MalformedNetlinkError(`message type 0x${message.type.toString(16)} where NFT_MSG ${expected} was expected`);
  }
  if (message.payload.byteLength < 4) throw new MalformedNetlinkError('an nf_tables message without its nfgenmsg');
  return { family: message.payload[0]!, attributes: new Attributes(message.payload.subarray(4)) };
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new MalformedNetlinkError(`${what} is missing`);
  return value;
}

export function decodeTable(message: NetlinkMessage): Table {
  const { family, attributes } = nfgen(message, NFT_MSG.NEWTABLE);
  return { family, name: required(attributes.string(1), 'NFTA_TABLE_NAME') };
}

export function decodeChain(message: NetlinkMessage): Chain {
  const { family, attributes } = nfgen(message, NFT_MSG.NEWCHAIN);
  const chain: Chain = {
    family,
    table: required(attributes.string(1), 'NFTA_CHAIN_TABLE'),
    name: required(attributes.string(3), 'NFTA_CHAIN_NAME'),
    handle: required(attributes.u64(2), 'NFTA_CHAIN_HANDLE'),
  };
  const hook = attributes.nested(4);
  if (hook !== undefined) chain.hook = { number: required(hook.u32(1), 'NFTA_HOOK_HOOKNUM'), priority: hook.i32(2) ?? 0 };
  const type = attributes.string(7);
  if (type !== undefined) chain.type = type;
  return chain;
}

/** nftnl's user data: TLVs of a type byte and a length byte; type 0 is the comment, NUL-terminated. */
export function ruleComment(userdata: Uint8Array | undefined): string | null {
  if (userdata === undefined) return null;
  let offset = 0;
  while (offset + 2 <= userdata.byteLength) {
    const type = userdata[offset]!;
    const length = userdata[offset + 1]!;
    const value = userdata.subarray(offset + 2, offset + 2 + length);
    if (value.byteLength !== length) return null; // cut short: no comment to trust
    if (type === 0) {
      const end = value.indexOf(0);
      return Buffer.from(value.subarray(0, end === -1 ? value.byteLength : end)).toString('utf8');
    }
    offset += 2 + length;
  }
  return null;
}

export function decodeRule(message: NetlinkMessage): Rule {
  const { family, attributes } = nfgen(message, NFT_MSG.NEWRULE);
  const list = attributes.bytes(4);
  const expressions =
    list === undefined
      ? []
      : attributeList(list).map((element) => {
          const expression = new Attributes(element.value);
          return { name: required(expression.string(1), 'NFTA_EXPR_NAME'), data: expression.nested(2) ?? new Attributes(new Uint8Array(0)) };
        });
  return {
    family,
    table: required(attributes.string(1), 'NFTA_RULE_TABLE'),
    chain: required(attributes.string(2), 'NFTA_RULE_CHAIN'),
    handle: required(attributes.u64(3), 'NFTA_RULE_HANDLE'),
    expressions,
    comment: ruleComment(attributes.bytes(7)),
  };
}

export function decodeSet(message: NetlinkMessage): NamedSet {
  const { family, attributes } = nfgen(message, NFT_MSG.NEWSET);
  return {
    family,
    table: required(attributes.string(1), 'NFTA_SET_TABLE'),
    name: required(attributes.string(2), 'NFTA_SET_NAME'),
    flags: attributes.u32(3) ?? 0,
    keyLength: required(attributes.u32(5), 'NFTA_SET_KEY_LEN'),
    elements: null,
  };
}

/** NFTA_DATA_VALUE of an nft_data nest. */
function dataValue(nest: Attributes | undefined): Uint8Array | undefined {
  return nest?.bytes(1);
}

/** The elements of one NEWSETELEM message (a dump spreads a set's elements over several). */
export function decodeSetElements(message: NetlinkMessage): { family: number; table: string; set: string; elements: SetElement[] } {
  const { family, attributes } = nfgen(message, NFT_MSG.NEWSETELEM);
  const list = attributes.bytes(3);
  const elements = (list === undefined ? [] : attributeList(list)).map((item) => {
    const element = new Attributes(item.value);
    const flags = element.u32(3) ?? 0;
    const decoded: SetElement = { key: dataValue(element.nested(1)) ?? new Uint8Array(0), intervalEnd: (flags & 1) !== 0, catchAll: (flags & 2) !== 0 };
    const keyEnd = dataValue(element.nested(10));
    if (keyEnd !== undefined) decoded.keyEnd = keyEnd;
    // NFTA_SET_ELEM_DATA holding NFTA_DATA_VERDICT { NFTA_VERDICT_CODE, NFTA_VERDICT_CHAIN }
    const verdict = element.nested(2)?.nested(2);
    const code = verdict?.i32(1);
    if (code !== undefined) {
      const chain = verdict?.string(2);
      decoded.verdict = chain === undefined ? { code } : { code, chain };
    }
    return decoded;
  });
  return { family, table: required(attributes.string(1), 'NFTA_SET_ELEM_LIST_TABLE'), set: required(attributes.string(2), 'NFTA_SET_ELEM_LIST_SET'), elements };
}

/** The generation id of a NEWGEN reply: it changes with every committed change to the ruleset. */
export function decodeGeneration(message: NetlinkMessage): number {
  return required(nfgen(message, NFT_MSG.NEWGEN).attributes.u32(1), 'NFTA_GEN_ID');
}
