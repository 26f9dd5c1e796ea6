// The nf_tables decoder and interpreter on captured replies and hand-made bytes: no root, no namespace, any OS.
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';

import { describe, expect, it } from 'vitest';

import type { NativeBinding, NftablesReply, NftablesRequest } from '../lib/binding.js';
import { findForwards } from '../lib/forwards.js';
import { decodeXtNat, interpretRuleset, multiportDestinations, ownerOf } from '../lib/linux/nftables/forwards.js';
import { legacyTables, readForwards } from '../lib/linux/nftables/index.js';
import {
  Attributes,
  attributeList,
  concatBytes,
  encodeAttribute,
  encodeStringAttribute,
  MalformedNetlinkError,
  splitMessages,
} from '../lib/linux/nftables/netlink.js';
import { ruleComment, type Expression, type Rule, type Ruleset } from '../lib/linux/nftables/ruleset.js';
import { probing } from '../lib/probing/index.js';
import { runCli } from './helpers/cli.js';

interface Capture {
  calls: {
    requests: (Omit<NftablesRequest, 'attributes'> & { attributes: string | null })[];
    replies: (Omit<NftablesReply, 'messages'> & { messages: string })[];
  }[];
}

// captured on x86-64 by test/helpers/capture-nftables.mjs: netlink headers are in the host's byte order
const littleEndian = endianness() === 'LE';
const capture = JSON.parse(readFileSync(new URL('fixtures/nftables/mixed.json', import.meta.url), 'utf8')) as Capture;

const toArrayBuffer = (base64: string): ArrayBuffer => {
  const bytes = Buffer.from(base64, 'base64');
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
};

/** A binding that answers each readNftablesSync call with the next captured one, through `change` (to alter a reply). */
function replay(change: (replies: NftablesReply[], call: number) => NftablesReply[] = (replies) => replies, strict = true): NativeBinding & { calls: number } {
  const binding = {
    rowLayoutVersion: 0,
    rowSize: 0,
    calls: 0,
    readNftablesSync(requests: readonly NftablesRequest[]): NftablesReply[] {
      // the first call of a reading asks for the generation first, the second for set elements
      const recorded = capture.calls[requests[0]?.type === 16 ? 0 : 1]!;
      const asked = JSON.stringify(requests.map(({ type, family, dump }) => ({ type, family, dump })));
      const recordedRequests = JSON.stringify(recorded.requests.map(({ type, family, dump }) => ({ type, family, dump })));
      // a corrupted set list asks for other sets' elements: those the capture cannot answer fail (EIO)
      if (!strict && asked !== recordedRequests) return requests.map(() => ({ errno: 5, syscall: 'recvmsg', messages: new ArrayBuffer(0) }));
      expect(asked).toBe(recordedRequests);
      const replies = recorded.replies.map(({ errno, syscall, messages }) => ({ errno, syscall, messages: toArrayBuffer(messages) }));
      return change(replies, binding.calls++);
    },
  };
  return binding;
}

const noLegacy = (): string => '';

/** One nf_tables message as the kernel packs it (host-order header, nfgenmsg, attributes). */
function message(type: number, flags: number, attributes: Uint8Array): ArrayBuffer {
  const bytes = new Uint8Array(16 + 4 + attributes.byteLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, bytes.byteLength, littleEndian);
  view.setUint16(4, (10 << 8) | type, littleEndian);
  view.setUint16(6, flags, littleEndian);
  bytes.set(attributes, 20);
  return bytes.buffer;
}

/** A NEWGEN reply with generation `id`. */
function generation(id: number): NftablesReply {
  const attribute = new Uint8Array(8);
  const view = new DataView(attribute.buffer);
  view.setUint16(0, 8, littleEndian);
  view.setUint16(2, 1, littleEndian);
  view.setUint32(4, id, false);
  return { errno: 0, syscall: null, messages: message(15, 0, attribute) };
}

describe.runIf(littleEndian)('the captured ruleset (nft, iptables-nft and ip6tables-nft rules)', () => {
  it('finds every forward, through the jumps, with owner, conditions and targets', async () => {
    const report = await readForwards({}, replay(), noLegacy);
    const summary = report.forwards.map((forward) => ({
      protocol: forward.protocol,
      family: forward.family,
      ports: forward.ports,
      hook: forward.hook,
      kind: forward.kind,
      target: forward.target,
      where: `${forward.tableFamily} ${forward.table} ${forward.path.join('>')}`,
      owner: forward.owner,
      conditions: forward.conditions,
      comment: forward.comment,
    }));
    expect(summary).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv6',
        ports: [[8443, 8443]],
        hook: 'prerouting',
        kind: 'dnat',
        target: { address: '2001:db8::10', port: 443 },
        where: 'ip6 edge6 pre',
        owner: null,
        conditions: [],
        comment: 'v6 backend',
      },
      {
        protocol: 'udp',
        family: 'IPv4',
        ports: [[7777, 7777]],
        hook: 'prerouting',
        kind: 'dnat',
        target: { address: '192.0.2.91', port: 7000, portEnd: 7010 },
        where: 'inet both pre',
        owner: null,
        conditions: [],
        comment: null,
      },
      // a set with a catch-all element matches every port
      {
        protocol: 'udp',
        family: 'IPv4',
        ports: [[0, 65535]],
        hook: 'prerouting',
        kind: 'redirect',
        target: { port: 1 },
        where: 'inet both pre',
        owner: null,
        conditions: [],
        comment: null,
      },
      {
        protocol: 'udp',
        family: 'IPv6',
        ports: [[0, 65535]],
        hook: 'prerouting',
        kind: 'redirect',
        target: { port: 1 },
        where: 'inet both pre',
        owner: null,
        conditions: [],
        comment: null,
      },
      {
        protocol: 'tcp',
        family: 'IPv4',
        ports: [[30080, 30080]],
        hook: 'prerouting',
        kind: 'dnat',
        target: { address: '192.0.2.100', port: 8080 },
        where: 'ip nat PREROUTING>KUBE-SERVICES>KUBE-NODEPORTS>KUBE-SVC-ABC>KUBE-SEP-ONE',
        owner: 'kubernetes',
        conditions: ['xt match addrtype', 'xt match statistic'],
        comment: null,
      },
      {
        protocol: 'tcp',
        family: 'IPv4',
        ports: [[30080, 30080]],
        hook: 'prerouting',
        kind: 'dnat',
        target: { address: '192.0.2.101', port: 8080 },
        where: 'ip nat PREROUTING>KUBE-SERVICES>KUBE-NODEPORTS>KUBE-SVC-ABC>KUBE-SEP-TWO',
        owner: 'kubernetes',
        conditions: ['xt match addrtype'],
        comment: null,
      },
      // iptables-nft's multiport match and xt REDIRECT target (rev 0, nf_nat_ipv4_multi_range_compat)
      {
        protocol: 'udp',
        family: 'IPv4',
        ports: [
          [5000, 5002],
          [6000, 6000],
        ],
        hook: 'output',
        kind: 'redirect',
        target: { port: 5353 },
        where: 'ip nat OUTPUT',
        owner: null,
        conditions: [],
        comment: null,
      },
      // ip6tables-nft's xt DNAT target (rev 2, nf_nat_range2)
      {
        protocol: 'tcp',
        family: 'IPv6',
        ports: [[9443, 9443]],
        hook: 'prerouting',
        kind: 'dnat',
        target: { address: '2001:db8::20', port: 443 },
        where: 'ip6 nat PREROUTING',
        owner: null,
        conditions: [],
        comment: null,
      },
    ]);
    // the sctp rule is left out (not TCP or UDP); the DNAT whose address comes from a map is unknown
    expect(report.unknown).toEqual([
      expect.objectContaining({ source: 'rule', table: 'both', chain: 'pre', reason: expect.stringMatching(/map @ports/) as string }),
    ]);
    expect(report.complete).toBe(false);
  });

  it('filters by port and protocol, unknown rules included', async () => {
    const nodePort = await readForwards({ port: 30080, protocol: 'tcp' }, replay(), noLegacy);
    expect(nodePort.forwards.map((forward) => forward.target.address)).toEqual(['192.0.2.100', '192.0.2.101']);
    expect(nodePort.unknown).toEqual([]); // the map rule matches tcp dport 8181 only
    expect((await readForwards({ port: 8181 }, replay(), noLegacy)).unknown).toHaveLength(1);
    expect((await readForwards({ port: 5001, protocol: 'udp' }, replay(), noLegacy)).forwards.map((forward) => forward.hook)).toEqual([
      'prerouting',
      'prerouting',
      'output',
    ]);
  });

  it('reads again when the generation changed between the dumps, and says so when it keeps changing', async () => {
    const settles = replay((replies, call) => (call === 1 ? [...replies.slice(0, -1), generation(999_999)] : replies));
    expect((await readForwards({}, settles, noLegacy)).forwards).toHaveLength(8);
    expect(settles.calls).toBe(4);

    const never = replay((replies, call) => (call % 2 === 1 ? [...replies.slice(0, -1), generation(999_999)] : replies));
    const report = await readForwards({}, never, noLegacy);
    expect(report).toMatchObject({ forwards: [], complete: false });
    expect(report.unknown).toEqual([{ source: 'ruleset', reason: expect.stringMatching(/kept changing/) as string }]);
  });

  it('reads again when a dump was interrupted (NLM_F_DUMP_INTR)', async () => {
    const interrupted = replay((replies, call) => {
      if (call !== 0) return replies;
      const rules = new Uint8Array(replies[3]!.messages.slice(0));
      new DataView(rules.buffer).setUint16(6, 0x10 | 0x2, littleEndian); // NLM_F_DUMP_INTR | NLM_F_MULTI on the first rule
      return replies.map((reply, index) => (index === 3 ? { ...reply, messages: rules.buffer } : reply));
    });
    expect((await readForwards({}, interrupted, noLegacy)).forwards).toHaveLength(8);
    expect(interrupted.calls).toBe(3);
  });

  it('never throws on a corrupted reply: each is a report, with unknown where the bytes did not parse', async () => {
    // a fixed seed (xorshift32), so a failure can be replayed
    let state = 0x9e3779b9;
    const random = (limit: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % limit;
    };
    for (let round = 0; round < 300; round++) {
      // the first call's dumps (not its generation) or the second's set elements
      const target = random(2);
      const corrupt = replay((replies, call) => {
        if (call !== target || replies.length < 2) return replies;
        const index = target === 0 ? 1 + random(replies.length - 1) : random(replies.length - 1);
        const bytes = new Uint8Array(replies[index]!.messages.slice(0));
        if (bytes.byteLength === 0) return replies;
        for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.byteLength)] = random(256);
        return replies.map((reply, at) => (at === index ? { ...reply, messages: bytes.buffer } : reply));
      }, false);
      const report = await readForwards({}, corrupt, noLegacy);
      expect(report.complete).toBe(report.unknown.length === 0);
    }
  });

  it('reports a ruleset it may not read, or cannot parse, as unknown instead of empty', async () => {
    const denied = replay((replies) => replies.map((reply, index) => (index === 1 ? { errno: 1, syscall: 'recvmsg', messages: new ArrayBuffer(0) } : reply)));
    expect(await readForwards({}, denied, noLegacy)).toEqual({
      forwards: [],
      unknown: [
        {
          source: 'ruleset',
          error: 'EPERM',
          reason: 'the nftables tables could not be read (recvmsg: EPERM): reading the ruleset needs CAP_NET_ADMIN (run as root), so any port may be forwarded',
        },
      ],
      complete: false,
    });
    const cut = replay((replies) => replies.map((reply, index) => (index === 3 ? { ...reply, messages: reply.messages.slice(0, 30) } : reply)));
    expect((await readForwards({}, cut, noLegacy)).unknown).toEqual([{ source: 'ruleset', reason: expect.stringMatching(/malformed/) as string }]);
  });
});

describe('legacy x_tables', () => {
  const reading = (files: Record<string, string | NodeJS.ErrnoException>) => (path: string) => {
    const file = files[path];
    if (file === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    if (typeof file !== 'string') throw file;
    return file;
  };

  it('are unknown when their tables exist or cannot be listed, and nothing when x_tables is not loaded', () => {
    expect(legacyTables(reading({}))).toEqual([]);
    expect(legacyTables(reading({ '/proc/net/ip_tables_names': '', '/proc/net/ip6_tables_names': '' }))).toEqual([]);
    expect(legacyTables(reading({ '/proc/net/ip_tables_names': 'nat\nfilter\n' }))).toEqual([
      { source: 'iptables-legacy', reason: expect.stringMatching(/legacy iptables-legacy tables exist in this network namespace \(nat, filter\)/) as string },
    ]);
    expect(legacyTables(reading({ '/proc/net/ip6_tables_names': Object.assign(new Error('EACCES'), { code: 'EACCES' }) }))).toEqual([
      { source: 'iptables-legacy', error: 'EACCES', reason: expect.stringMatching(/ip6_tables_names could not be read \(EACCES\)/) as string },
    ]);
  });
});

describe('the pieces of the decoder', () => {
  it('refuses attributes and messages that run past their end', () => {
    expect(() => attributeList(new Uint8Array([8, 0, 1, 0, 0]))).toThrow(MalformedNetlinkError);
    expect(() => attributeList(new Uint8Array([2, 0, 1, 0]))).toThrow(MalformedNetlinkError);
    expect(() => splitMessages(new Uint8Array(12))).toThrow(MalformedNetlinkError);
    expect(() => new Attributes(new Uint8Array([6, 0, 1, 0, 0, 1, 0, 0])).u32(1)).toThrow(MalformedNetlinkError);
  });

  it("reads a rule's comment from nftnl's user data TLVs", () => {
    expect(ruleComment(new Uint8Array([0, 6, ...Buffer.from('hello'), 0]))).toBe('hello');
    expect(ruleComment(new Uint8Array([1, 1, 9, 0, 3, ...Buffer.from('abc')]))).toBe('abc');
    expect(ruleComment(new Uint8Array([0, 9, 1]))).toBeNull();
    expect(ruleComment(undefined)).toBeNull();
  });

  it('decodes xt DNAT and REDIRECT targets, and refuses what it cannot follow', () => {
    const host = (bytes: DataView, offset: number, value: number) => bytes.setUint32(offset, value, littleEndian);
    const compat = new DataView(new ArrayBuffer(20));
    host(compat, 0, 1); // rangesize
    host(compat, 4, 3); // NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED
    new Uint8Array(compat.buffer).set([192, 0, 2, 1, 192, 0, 2, 2], 8);
    compat.setUint16(16, 80, false);
    compat.setUint16(18, 80, false);
    expect(decodeXtNat('DNAT', 0, new Uint8Array(compat.buffer), 'IPv4')).toEqual({
      kind: 'dnat',
      family: 'IPv4',
      target: { address: '192.0.2.1', addressEnd: '192.0.2.2', port: 80 },
    });

    const range2 = new DataView(new ArrayBuffer(44));
    host(range2, 0, 64 | 1); // NF_NAT_RANGE_NETMAP
    expect(decodeXtNat('DNAT', 2, new Uint8Array(range2.buffer), 'IPv4')).toMatch(/offset or prefix/);
    expect(decodeXtNat('DNAT', 3, new Uint8Array(44), 'IPv4')).toMatch(/revision 3/);
    expect(decodeXtNat('DNAT', 2, new Uint8Array(10), 'IPv6')).toMatch(/too few/);
  });

  it('reads xt multiport destination ports, and not --ports (source or destination)', () => {
    const info = new Uint8Array(48);
    const view = new DataView(info.buffer);
    info[0] = 1; // XT_MULTIPORT_DESTINATION
    info[1] = 3;
    [5000, 5002, 6000].forEach((port, index) => view.setUint16(2 + index * 2, port, littleEndian));
    info[32] = 1; // ports[0]..ports[1] is a range
    expect(multiportDestinations(info, 1)).toEqual([
      [5000, 5002],
      [6000, 6000],
    ]);
    info[47] = 1; // ! --dports
    expect(multiportDestinations(info, 1)).toEqual([
      [0, 4999],
      [5003, 5999],
      [6001, 65535],
    ]);
    info[0] = 2; // XT_MULTIPORT_EITHER
    expect(multiportDestinations(info, 1)).toBeNull();
  });

  it('names owners from table and chain names', () => {
    expect(ownerOf('nat', ['PREROUTING', 'DOCKER'])).toBe('docker');
    expect(ownerOf('nat', ['PREROUTING', 'KUBE-SERVICES', 'KUBE-NODEPORTS'])).toBe('kubernetes');
    expect(ownerOf('kube-proxy', ['nat-prerouting'])).toBe('kubernetes');
    expect(ownerOf('firewalld', ['nat_PREROUTING'])).toBe('firewalld');
    expect(ownerOf('netavark', ['PREROUTING'])).toBe('podman');
    expect(ownerOf('edge', ['pre'])).toBeNull();
  });
});

describe('findForwards arguments and platforms', () => {
  it('refuses a bad port or protocol with a stable code', async () => {
    await expect(findForwards({ port: 70000 })).rejects.toMatchObject({ code: 'ERR_INVALID_PORT' });
    await expect(findForwards({ protocol: 'icmp' as 'tcp' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  // Windows reads its portproxy rules (test/win32-forwards.test.ts)
  it('is unsupported on the probing backend, rather than an empty answer', async () => {
    await expect(probing.findForwards({})).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_PLATFORM' });
  });

  it('is unsupported on the probing backend, and the CLI says so', async () => {
    const result = await runCli(['forwards'], 15_000, { PORTCLASH_BACKEND: 'probing' });
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^portclash: ERR_UNSUPPORTED_PLATFORM: finding port forwards/);
    const usage = await runCli(['forwards', '--tcp', '--udp']);
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringMatching(/ERR_USAGE/) as string });
  });
});

describe('rules made expression by expression', () => {
  const u32 = (type: number, value: number): Uint8Array => {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, value >>> 0, false);
    return encodeAttribute(type, bytes);
  };
  const data = (type: number, bytes: number[]): Uint8Array => encodeAttribute(type, encodeAttribute(1, new Uint8Array(bytes)));
  const verdict = (code: number, chain: string): Uint8Array =>
    encodeAttribute(2, encodeAttribute(2, concatBytes([u32(1, code), encodeStringAttribute(2, chain)])));
  const expression = (name: string, ...attributes: Uint8Array[]): Expression => ({ name, data: new Attributes(concatBytes(attributes)) });
  // meta l4proto → reg 1; cmp == tcp; payload th dport → reg 1; cmp == 8080
  const tcpDport8080 = [
    expression('meta', u32(1, 1), u32(2, 16)),
    expression('cmp', u32(1, 1), u32(2, 0), data(3, [6])),
    expression('payload', u32(1, 1), u32(2, 2), u32(3, 2), u32(4, 2)),
    expression('cmp', u32(1, 1), u32(2, 0), data(3, [0x1f, 0x90])),
  ];
  const ruleset = (chains: Record<string, Expression[][]>): Ruleset => ({
    tables: [{ family: 2, name: 't' }],
    chains: Object.keys(chains).map((name, index) => ({
      family: 2,
      table: 't',
      name,
      handle: index + 1,
      ...(index === 0 ? { hook: { number: 0, priority: -100 }, type: 'nat' } : {}),
    })),
    rules: Object.entries(chains).flatMap(([chain, rules]) =>
      rules.map((expressions, index): Rule => ({ family: 2, table: 't', chain, handle: 100 + index, expressions, comment: null })),
    ),
    sets: [],
  });

  it('does not read a nat address from a register a later load overwrote in part', () => {
    const address = Array.from({ length: 16 }, (_, index) => (index === 0 ? 0x20 : index === 1 ? 0x01 : index === 2 ? 0x0d : index === 3 ? 0xb8 : 0));
    const found = interpretRuleset(
      ruleset({
        pre: [
          [
            ...tcpDport8080,
            expression('immediate', u32(1, 1), data(2, address)), // reg 1: 16 bytes, words 0-3
            expression('immediate', u32(1, 10), data(2, [0, 0, 0, 1])), // NFT_REG32_02: word 2
            expression('nat', u32(1, 1), u32(2, 10), u32(3, 1)),
          ],
        ],
      }),
    );
    expect(found.forwards).toEqual([]);
    expect(found.unknown.map(({ entry }) => entry.reason)).toEqual([expect.stringMatching(/not a literal/) as string]);
  });

  it('reports a jump back into its own path, a payload rewrite and a port offset as unknown', () => {
    const found = interpretRuleset(
      ruleset({
        pre: [
          [expression('immediate', u32(1, 0), verdict(-3, 'a'))],
          [...tcpDport8080, expression('payload', u32(5, 1), u32(2, 2), u32(3, 2), u32(4, 2))],
          [...tcpDport8080, expression('immediate', u32(1, 1), data(2, [192, 0, 2, 1])), expression('nat', u32(1, 1), u32(2, 2), u32(3, 1), u32(7, 32))],
        ],
        a: [[expression('immediate', u32(1, 0), verdict(-4, 'pre'))]],
      }),
    );
    expect(found.forwards).toEqual([]);
    expect(found.unknown.map(({ entry }) => [entry.path, entry.reason])).toEqual([
      [['pre', 'a'], expect.stringMatching(/jumps to pre, past the kernel's depth or back into its own path/) as string],
      [['pre'], expect.stringMatching(/payload set/) as string],
      [['pre'], expect.stringMatching(/offset/) as string],
    ]);
  });

  it('leaves out rules for other protocols, and chains no nat base chain reaches', () => {
    const sctp = [expression('meta', u32(1, 1), u32(2, 16)), expression('cmp', u32(1, 1), u32(2, 0), data(3, [132])), expression('nft-future-thing')];
    const found = interpretRuleset(ruleset({ pre: [sctp], unreached: [[expression('nft-future-thing')]] }));
    expect(found).toEqual({ forwards: [], unknown: [] });
  });
});
