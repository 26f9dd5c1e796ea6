// findForwards on Linux: reads the nf_tables ruleset through the addon (generation-checked), notes legacy x_tables, and interprets.
import { readFileSync } from 'node:fs';

import { getBinding, type NativeBinding, type NftablesReply, type NftablesRequest } from '../../binding.js';
import { enteringFailed } from '../netns.js';
import { errnoName, fromAddon, fromAddonSync, PortclashError, type ErrnoCode } from '../../errors.js';
import type { ForwardsOptions, ForwardsReport, ForwardsUnknown, NatForward } from '../../forwards.js';
import { filterForwards, interpretRuleset, startsForwards } from './forwards.js';
import { concatBytes, encodeStringAttribute, MalformedNetlinkError, NLM_F_DUMP_INTR, splitMessages, type NetlinkMessage } from './netlink.js';
import { decodeChain, decodeGeneration, decodeRule, decodeSet, decodeSetElements, decodeTable, NFT_MSG, type Ruleset } from './ruleset.js';

/** Readings of the whole ruleset tried before a ruleset that keeps changing is reported as unread. */
const ATTEMPTS = 3;

/** Why one reading did not give a consistent ruleset. */
type Failure = { retry: true; reason: string } | { retry: false; unknown: ForwardsUnknown };

const DUMPS = [
  { type: NFT_MSG.GETTABLE, what: 'tables' },
  { type: NFT_MSG.GETCHAIN, what: 'chains' },
  { type: NFT_MSG.GETRULE, what: 'rules' },
  { type: NFT_MSG.GETSET, what: 'sets' },
] as const;

const GENERATION: NftablesRequest = { type: NFT_MSG.GETGEN, family: 0, dump: false };

/** The ruleset of a network namespace that could not be entered to read it. */
function unenteredRead(netns: string, why: string): Failure {
  return {
    retry: false,
    unknown: {
      source: 'ruleset',
      reason: `the nftables ruleset of the network namespace ${netns} could not be read: ${why}, so any port may be forwarded`,
      error: 'EPERM',
    },
  };
}

function failedRead(errno: number, syscall: string | null, what: string): Failure {
  const error = errnoName(errno);
  const advice = error === 'EPERM' || error === 'EACCES' ? ': reading the ruleset needs CAP_NET_ADMIN (run as root)' : '';
  return {
    retry: false,
    unknown: {
      source: 'ruleset',
      reason: `the nftables ${what} could not be read (${syscall ?? 'netlink'}: ${error})${advice}, so any port may be forwarded`,
      error,
    },
  };
}

/** The addon's replies to `requests`: read on a pool thread where the binding can, else on this one. */
async function readReplies(binding: NativeBinding, requests: readonly NftablesRequest[], netns: string | undefined): Promise<NftablesReply[]> {
  if (binding.readNftables !== undefined) return fromAddon('reading nftables', () => binding.readNftables!(requests, netns));
  if (binding.readNftablesSync !== undefined) return fromAddonSync('reading nftables', () => binding.readNftablesSync!(requests, netns));
  throw new PortclashError(
    'ERR_ADDON_LOAD',
    'this build of the addon has no readNftables. Fix: `npm run build:native` in a clone of portclash, or reinstall it.',
  );
}

/** The replies' messages, or why they are not to be used. */
async function messagesOf(
  binding: NativeBinding,
  requests: readonly NftablesRequest[],
  names: readonly string[],
  netns: string | undefined,
): Promise<NetlinkMessage[][] | Failure> {
  const replies = await readReplies(binding, requests, netns);
  const all: NetlinkMessage[][] = [];
  for (let i = 0; i < replies.length; i++) {
    const reply = replies[i]!;
    const outside = netns === undefined ? null : enteringFailed(reply);
    if (outside !== null) return unenteredRead(netns!, outside);
    if (reply.errno !== 0) {
      // a set that went away between the two readings: the generation tells, and the next reading will not ask for it
      if (reply.errno === 2 && requests[i]!.type === NFT_MSG.GETSETELEM) return { retry: true, reason: `set ${names[i]} went away while it was read` };
      return failedRead(reply.errno, reply.syscall, names[i]!);
    }
    const messages = splitMessages(new Uint8Array(reply.messages));
    if (messages.some((message) => (message.flags & NLM_F_DUMP_INTR) !== 0)) return { retry: true, reason: `the ${names[i]} changed while they were dumped` };
    all.push(messages);
  }
  return all;
}

function generationOf(messages: readonly NetlinkMessage[]): number {
  if (messages.length !== 1) throw new MalformedNetlinkError(`${messages.length} replies to GETGEN`);
  return decodeGeneration(messages[0]!);
}

/** One reading: tables, chains, rules and sets, then the elements of each set, between two generation ids that must agree. */
async function readOnce(binding: NativeBinding, netns: string | undefined): Promise<Ruleset | Failure> {
  const first = await messagesOf(
    binding,
    [GENERATION, ...DUMPS.map(({ type }) => ({ type, family: 0, dump: true }))],
    ['ruleset', ...DUMPS.map(({ what }) => what)],
    netns,
  );
  if (!Array.isArray(first)) return first;
  const [generationMessages, tables, chains, rules, sets] = first as [NetlinkMessage[], NetlinkMessage[], NetlinkMessage[], NetlinkMessage[], NetlinkMessage[]];
  const ruleset: Ruleset = { tables: tables.map(decodeTable), chains: chains.map(decodeChain), rules: rules.map(decodeRule), sets: sets.map(decodeSet) };
  // Only the tables the walk reads need their sets' elements: a blocklist of a filter table may
  // hold a million. The others keep `elements: null`, never consulted.
  const walked = new Set(ruleset.chains.filter(startsForwards).map((chain) => `${chain.family}\0${chain.table}`));
  const needed = ruleset.sets.filter((set) => walked.has(`${set.family}\0${set.table}`));
  // NFTA_SET_ELEM_LIST_TABLE (1) and NFTA_SET_ELEM_LIST_SET (2) name the set whose elements are dumped
  const elementRequests: NftablesRequest[] = needed.map((set) => ({
    type: NFT_MSG.GETSETELEM,
    family: set.family,
    dump: true,
    attributes: concatBytes([encodeStringAttribute(1, set.table), encodeStringAttribute(2, set.name)]),
  }));
  const second = await messagesOf(
    binding,
    [...elementRequests, GENERATION],
    [...needed.map((set) => `elements of set ${set.table} ${set.name}`), 'ruleset'],
    netns,
  );
  if (!Array.isArray(second)) return second;
  if (generationOf(generationMessages) !== generationOf(second[second.length - 1]!)) return { retry: true, reason: 'the ruleset changed while it was read' };
  needed.forEach((set, index) => {
    set.elements = second[index]!.flatMap((message) => decodeSetElements(message).elements);
  });
  return ruleset;
}

/** The legacy x_tables (iptables-legacy) of this network namespace, which live outside nf_tables. */
export function legacyTables(read: (path: string) => string): ForwardsUnknown[] {
  const unknown: ForwardsUnknown[] = [];
  for (const [path, tool] of [
    ['/proc/net/ip_tables_names', 'iptables-legacy'],
    ['/proc/net/ip6_tables_names', 'ip6tables-legacy'],
  ] as const) {
    let text: string;
    try {
      text = read(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'ENOENT') continue; // x_tables not loaded: there are none
      unknown.push({
        source: 'iptables-legacy',
        reason: `${path} could not be read (${code}), so legacy ${tool} rules may forward any port`,
        error: code as ErrnoCode,
      });
      continue;
    }
    const names = text.split('\n').filter((name) => name !== '');
    if (names.length > 0) {
      unknown.push({
        source: 'iptables-legacy',
        reason: `legacy ${tool} tables exist in this network namespace (${names.join(', ')}); portclash reads nftables only, so their rules may forward any port`,
      });
    }
  }
  return unknown;
}

const readText = (path: string): string => readFileSync(path, 'utf8');

/**
 * findForwards for this network namespace, or the one at `netns` (entered for each reading), through
 * `binding` (the addon by default); `read` reads the /proc/net files of legacy x_tables (tests
 * replace both, and another namespace's are read inside it).
 */
export async function readForwards(
  options: ForwardsOptions,
  binding: NativeBinding = getBinding(),
  read: (path: string) => string = readText,
  netns?: string,
): Promise<ForwardsReport<NatForward>> {
  const legacy = legacyTables(read);
  let last = '';
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let ruleset: Ruleset | Failure;
    try {
      ruleset = await readOnce(binding, netns);
    } catch (error) {
      if (!(error instanceof MalformedNetlinkError)) throw error;
      return report(
        [],
        [{ source: 'ruleset', reason: `the nftables ruleset's netlink reply is malformed (${error.message}), so any port may be forwarded` }, ...legacy],
      );
    }
    if ('retry' in ruleset) {
      if (!ruleset.retry) return report([], [ruleset.unknown, ...legacy]);
      last = ruleset.reason;
      continue;
    }
    const found = filterForwards(interpretRuleset(ruleset), options);
    return report(found.forwards, [...found.unknown, ...legacy]);
  }
  return report(
    [],
    [
      { source: 'ruleset', reason: `the nftables ruleset kept changing while it was read (${ATTEMPTS} times; last: ${last}), so any port may be forwarded` },
      ...legacy,
    ],
  );
}

function report(forwards: NatForward[], unknown: ForwardsUnknown[]): ForwardsReport<NatForward> {
  return { forwards, unknown, complete: unknown.length === 0 };
}
