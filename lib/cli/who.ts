// `portclash who <port>[/tcp|/udp]`: the processes holding a port, or why they cannot be named.
import { PortclashError } from '../errors.js';
import { findOwners, type OwnedSocket, type OwnerUnknownReason, type ProcessInfo, type SocketOwner } from '../owners.js';
import { parentChain } from '../processes.js';
import { parsePortOrService } from '../services.js';
import { listSockets } from '../sockets.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs, splitPortProtocol } from './args.js';
import { describeSocket, describeWithParents } from './format.js';
import { EXIT, type CommandIO } from './io.js';

export const WHO_HELP = `Usage: portclash who <port|service>[/tcp|/udp] [--all] [--json] [--netns <name|path>]

Shows the processes holding a port: pid, user, command line, since when, service, the processes that
started it (at most 3 on its line), and each socket (address, state). Without /tcp or /udp, both
protocols.

Options:
      --all    read every process, not only until each socket has an owner (slower; also finds a
               socket handed to an unrelated process)
      --json   print an array of socket records, each with owner, owners, ownerUnknown,
               reuseAddr and reusePort; each owner has its parents, nearest first
      --netns <ns>
               the port in another network namespace: a name of /run/netns (ip netns), or a
               namespace file such as /proc/<pid>/ns/net (a container's process)
  -h, --help   show this help

Exit status: 0 something holds the port, 1 nothing does, 2 usage error, 4 the tables could not be read.
`;

const OPTIONS = {
  ...HELP_OPTION,
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  ...NETNS_OPTION,
} as const;

export async function runWho(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(WHO_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) {
    throw new PortclashError('ERR_USAGE', `who takes one port (like 3000 or 3000/tcp), got ${positionals.length}`);
  }
  const target = parsePortTarget(positionals[0]!);
  const label = target.protocol === undefined ? `port ${target.port}` : `${target.port}/${target.protocol}`;
  const sockets = await listSockets({ port: target.port, ...(target.protocol === undefined ? {} : { protocol: target.protocol }) }, netnsOf(values));
  const owned = await findOwners(sockets, { scan: values.all === true ? 'all' : 'first', socketOptions: true, ...netnsOf(values) });

  const parents = parentsOnce();

  if (values.json === true) {
    const withParents = owned.map((socket) => ({
      ...socket,
      owner: socket.owner === null ? null : { ...socket.owner, parents: parents(socket.owner) },
      owners: socket.owners.map((owner) => ({ ...owner, parents: parents(owner) })),
    }));
    io.stdout(`${JSON.stringify(withParents, null, 2)}\n`);
  } else {
    io.stdout(owned.length === 0 ? `Nothing holds ${label}.\n` : formatWho(label, owned, parents));
  }
  return owned.length === 0 ? EXIT.negative : EXIT.ok;
}

/** Each owner's parent chain (lib/processes.ts), read once per process however many sockets it holds. */
function parentsOnce(): (owner: SocketOwner) => ProcessInfo[] {
  const chains = new Map<number, ProcessInfo[]>();
  return (owner) => {
    let chain = chains.get(owner.pid);
    if (chain === undefined) chains.set(owner.pid, (chain = parentChain(owner)));
    return chain;
  };
}

function formatWho(label: string, sockets: readonly OwnedSocket[], parents: (owner: SocketOwner) => ProcessInfo[]): string {
  const byProcess = new Map<number, { title: string; sockets: string[] }>();
  for (const socket of sockets) {
    for (const owner of socket.owners) {
      const entry = byProcess.get(owner.pid) ?? { title: describeWithParents(owner, parents(owner)), sockets: [] };
      entry.sockets.push(describeSocket(socket));
      byProcess.set(owner.pid, entry);
    }
  }
  const heading = byProcess.size > 0 ? `${label} is held by:` : `${label} is held, but no process can be named:`;
  const lines = [heading.charAt(0).toUpperCase() + heading.slice(1)];
  for (const { title, sockets: held } of byProcess.values()) {
    lines.push(`  ${title}`, ...held.map((socket) => `    ${socket}`));
  }
  for (const [reason, title] of UNKNOWN_TITLES) {
    const matching = sockets.filter((socket) => socket.ownerUnknown === reason);
    if (matching.length > 0) lines.push(`  ${title}`, ...matching.map((socket) => `    ${describeSocket(socket)}`));
  }
  return `${lines.join('\n')}\n`;
}

const UNKNOWN_TITLES: readonly [OwnerUnknownReason, string][] = [
  [
    'permission',
    process.getuid?.() === 0 ? 'a process whose open files even root may not read:' : 'a process whose open files cannot be read without root (try sudo):',
  ],
  ['other-namespace', 'a process in a pid namespace this one cannot see:'],
  ['kernel', 'no process; the kernel keeps it (TIME_WAIT, a half-open connection):'],
  ['gone', 'nothing any more; it closed while portclash looked:'],
];

/** `3000`, `ssh`, `3000/tcp` or `53/udp`: a port, and a protocol when the user named one. */
function parsePortTarget(input: string): { port: number; protocol?: 'tcp' | 'udp' } {
  const target = splitPortProtocol(input);
  if (target === null) {
    throw new PortclashError('ERR_INVALID_PORT', `expected a port or service like 3000, ssh, 3000/tcp or 53/udp, got ${JSON.stringify(input)}`);
  }
  const { protocol } = target;
  const { port } = parsePortOrService(target.port, protocol);
  return protocol === undefined ? { port } : { port, protocol };
}
