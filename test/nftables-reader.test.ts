// The addon's nf_tables reader (readNftables, readNftablesSync): its argument checks, and real replies in a namespace of the test's own, large and failing ones included.
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, type NftablesRequest } from '../lib/binding.js';
import { createNetns, loadRuleset, runCommand, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
const hasNft = process.platform === 'linux' && isRoot ? (await runCommand('sh', ['-c', 'command -v nft'])).code === 0 : false;
if (!isRoot) console.warn('nftables-reader.test: the replies are read in a network namespace, which needs root: skipped');
else if (!hasNft) console.warn('nftables-reader.test: nft is missing (apt-get install nftables): the replies are skipped');

describe.runIf(process.platform === 'linux')('readNftables arguments', () => {
  const read = (requests: unknown): unknown => getBinding().readNftablesSync!(requests as NftablesRequest[]);

  it('refuses what is no list of requests before it opens a socket', () => {
    expect(() => read(null)).toThrow(TypeError);
    expect(() => read([5])).toThrow(TypeError);
    expect(() => read([{ type: 300, family: 0, dump: true }])).toThrow(RangeError);
    expect(() => read([{ type: 1, family: -1, dump: true }])).toThrow(RangeError);
    expect(() => read([{ type: 1, family: 0, dump: true, attributes: [1, 2] }])).toThrow(TypeError);
    expect(() => read([{ type: 1, family: 0, dump: true, attributes: new Uint16Array(2) }])).toThrow(TypeError);
    expect(() => read([{ type: 1, family: 0, dump: true, attributes: new Uint8Array(4097) }])).toThrow(RangeError);
    expect(read([])).toEqual([]);
    // the async form checks the same before it queues any work
    expect(() => getBinding().readNftables!([{ type: 300, family: 0, dump: true }])).toThrow(RangeError);
  });
});

describe.runIf(process.platform === 'linux')('readNftables on a pool thread', () => {
  it('ends the requests left with ECANCELED when cancelInFlight stops it, and still resolves', async () => {
    const binding = getBinding();
    const requests = Array.from({ length: 300 }, () => ({ type: 16, family: 0, dump: false }));
    const reading = binding.readNftables!(requests);
    // the worker counts as in flight from its creation to its completion on this thread
    expect(binding.cancelInFlight!()).toBeGreaterThanOrEqual(1);
    const errnos = (await reading).map((reply) => reply.errno);
    expect(errnos).toHaveLength(300);
    // answered (0; EPERM without root) up to where the cancel landed, ECANCELED (125) from there on
    const cancelledFrom = errnos.indexOf(125);
    const answered = cancelledFrom === -1 ? errnos : errnos.slice(0, cancelledFrom);
    expect(answered.every((errno) => errno === 0 || errno === 1)).toBe(true);
    if (cancelledFrom !== -1) expect(errnos.slice(cancelledFrom).every((errno) => errno === 125)).toBe(true);
  });
});

/** Runs requests in the namespace with the addon in a child (the reader works in its caller's namespace) and sums up each reply. */
const SUMMARY = `
import { getBinding } from ${JSON.stringify(new URL('../dist/binding.js', import.meta.url).href)};
const requests = JSON.parse(process.argv[1]).map((request) => ({ ...request, attributes: request.attributes === undefined ? undefined : new Uint8Array(request.attributes) }));
// the async reader (a pool thread), and the sync one for the first request: the same answer
const replies = await getBinding().readNftables(requests);
const again = getBinding().readNftablesSync(requests.slice(0, 1));
if (again[0].errno !== replies[0].errno || again[0].messages.byteLength !== replies[0].messages.byteLength) throw new Error('the sync reader disagrees');
const summary = replies.map(({ errno, syscall, messages }) => {
  const view = new DataView(messages);
  let count = 0;
  const types = new Set();
  for (let offset = 0; offset < messages.byteLength; offset += (view.getUint32(offset, true) + 3) & ~3) {
    count++;
    types.add(view.getUint16(offset + 4, true));
  }
  return { errno, syscall, count, types: [...types] };
});
process.stdout.write(JSON.stringify(summary));
`;

describe.runIf(process.platform === 'linux' && isRoot && hasNft)('readNftables replies, in a namespace', () => {
  let netns: Netns | undefined;
  afterEach(async () => {
    await netns?.close();
    netns = undefined;
  });

  /** A namespace whose table `big` has `rules` rules, each with a comment long enough that the dump takes many datagrams. */
  async function namespaceWithRules(rules: number): Promise<Netns> {
    netns = await createNetns();
    const lines = Array.from(
      { length: rules },
      (_, index) => `  add rule ip big pre tcp dport ${1000 + index} dnat to 192.0.2.1:80 comment "${'x'.repeat(120)}"`,
    );
    const applied = await loadRuleset(
      netns,
      ['add table ip big', 'add chain ip big pre { type nat hook prerouting priority dstnat; }', 'add set ip big s { type inet_service; }', ...lines].join(
        '\n',
      ),
      { timeoutMs: 60_000 },
    );
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    return netns;
  }

  async function summarize(inside: Netns, requests: object[]): Promise<{ errno: number; syscall: string | null; count: number; types: number[] }[]> {
    const result = await inside.runNode(['--input-type=module', '-e', SUMMARY, JSON.stringify(requests)], { timeoutMs: 30_000 });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return JSON.parse(result.stdout) as { errno: number; syscall: string | null; count: number; types: number[] }[];
  }

  it('reads a dump of many datagrams whole, and goes on after requests the kernel refuses', async () => {
    const inside = await namespaceWithRules(2000);
    // NFTA_SET_ELEM_LIST_TABLE "big", NFTA_SET_ELEM_LIST_SET "nosuchset": the kernel answers ENOENT
    const attribute = (type: number, text: string): number[] => {
      const value = [...Buffer.from(`${text}\0`)];
      const length = 4 + value.length;
      const padded = [...value, ...new Array<number>((4 - (length % 4)) % 4).fill(0)];
      return [length & 0xff, length >> 8, type & 0xff, type >> 8, ...padded];
    };
    const summary = await summarize(inside, [
      { type: 16, family: 0, dump: false },
      { type: 7, family: 0, dump: true },
      { type: 13, family: 2, dump: true, attributes: [...attribute(1, 'big'), ...attribute(2, 'nosuchset')] },
      { type: 13, family: 2, dump: true, attributes: [...attribute(1, 'big'), ...attribute(2, 's')] },
      { type: 99, family: 0, dump: true },
      { type: 1, family: 0, dump: true },
    ]);
    const nft = (message: number): number => (10 << 8) | message;
    expect(summary).toEqual([
      { errno: 0, syscall: null, count: 1, types: [nft(15)] }, // NEWGEN, ended by the ACK asked for
      { errno: 0, syscall: null, count: 2000, types: [nft(6)] }, // every rule, over many 32 KiB datagrams
      { errno: 2, syscall: 'recvmsg', count: 0, types: [] }, // ENOENT: no such set
      { errno: 0, syscall: null, count: 1, types: [nft(12)] }, // an empty set: one NEWSETELEM naming it, with no elements
      { errno: expect.any(Number) as number, syscall: 'recvmsg', count: 0, types: [] }, // no such message type
      { errno: 0, syscall: null, count: 1, types: [nft(0)] }, // and the socket opened afresh still reads
    ]);
    expect(summary[4]!.errno).not.toBe(0);
  });
});
