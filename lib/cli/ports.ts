// `portclash ports <pid|name>`: every socket a process (and with --children its descendants) holds, the other way from `who`.
import { PortclashError } from '../errors.js';
import { findOwners, type OwnedSocket, type ProcessInfo } from '../owners.js';
import { platform } from '../platform.js';
import { parentChain, readProcess } from '../processes.js';
import type { SocketRecord } from '../records.js';
import { listSockets, type SocketFilter } from '../sockets.js';
import { HELP_OPTION, parseCommandArgs } from './args.js';
import { compareSockets, describeWithParents, formatSocketTable } from './format.js';
import { EXIT, type CommandIO } from './io.js';

export const PORTS_HELP = `Usage: portclash ports <pid|name> [--children] [--tcp] [--udp] [--listening] [--json]

Lists the sockets a process holds, with the process and the processes that started it (at most 3
on its line). A name matches every process whose name is exactly that, never part of a name or of
a command line: on Linux its comm (as ps -o comm shows it, at most 15 bytes), on Windows its image
file (node or node.exe), among the processes holding sockets. portclash itself is left out. One
block per process.

Options:
      --children    add the sockets of its descendants (Linux only), with a Process column
  -t, --tcp         TCP sockets only
  -u, --udp         UDP sockets only
  -l, --listening   only sockets accepting new peers (TCP LISTEN, UDP unconnected)
      --json        print an array with one object per process: process, parents (nearest
                    first), sockets (socket records; with --children, with owners)
  -h, --help        show this help

Exit status: 0 the process was found (even if it holds no sockets), 1 no process has that pid or
name, 2 usage error, 4 the tables, or a process's open files, could not be read
(ERR_PROCESS_UNREADABLE: another user's process, without root).
`;

const OPTIONS = {
  ...HELP_OPTION,
  children: { type: 'boolean' },
  tcp: { type: 'boolean', short: 't' },
  udp: { type: 'boolean', short: 'u' },
  listening: { type: 'boolean', short: 'l' },
  json: { type: 'boolean' },
} as const;

/** One process and what it holds; `sockets` null where they could not be read, and `error` says why. */
interface ProcessSockets {
  process: ProcessInfo;
  parents: ProcessInfo[];
  sockets: (SocketRecord | OwnedSocket)[] | null;
  error?: { code: string; message: string };
}

export async function runPorts(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(PORTS_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1 || positionals[0] === '') {
    const got = positionals.length === 1 ? 'an empty one' : String(positionals.length);
    throw new PortclashError('ERR_USAGE', `ports takes one pid or process name (like 4121 or node), got ${got}`);
  }
  const target = positionals[0]!;
  const filter: SocketFilter = {};
  // --tcp and --udp together mean both, as with list
  if (values.tcp === true && values.udp !== true) filter.protocol = 'tcp';
  if (values.udp === true && values.tcp !== true) filter.protocol = 'udp';
  if (values.listening === true) filter.listening = true;
  if (values.children === true) filter.children = true;

  const byPid = /^[0-9]+$/.test(target);
  const processes = byPid ? [readProcess(Number(target))].filter((found) => found !== null) : await platform().findProcessesByName(target);
  const blocks: ProcessSockets[] = [];
  for (const found of processes) {
    const block = await readBlock(found, filter);
    if (block !== null) blocks.push(block);
  }
  if (blocks.length === 0) {
    io.stdout(values.json === true ? '[]\n' : byPid ? `No process has pid ${target}.\n` : `No process is named ${JSON.stringify(target)}.\n`);
    return EXIT.negative;
  }
  for (const { error } of blocks) if (error !== undefined) io.stderr(`portclash: ${error.code}: ${error.message}\n`);
  io.stdout(values.json === true ? `${JSON.stringify(blocks, null, 2)}\n` : blocks.map((block) => describeBlock(block, filter)).join('\n'));
  return blocks.some((block) => block.sockets === null) ? EXIT.failure : EXIT.ok;
}

/** The process's sockets, or why they cannot be read; null when it exited since it was found. */
async function readBlock(found: ProcessInfo, filter: SocketFilter): Promise<ProcessSockets | null> {
  const parents = parentChain(found);
  try {
    const sockets = (await listSockets({ ...filter, pid: found.pid })).sort(compareSockets);
    // with descendants, which of them holds each socket: their own cgroup is read first, so this is quick
    return { process: found, parents, sockets: filter.children === true ? await findOwners(sockets, { scan: 'first' }) : sockets };
  } catch (error) {
    if (!(error instanceof PortclashError)) throw error;
    if (error.code === 'ERR_NO_SUCH_PROCESS') return null;
    if (error.code !== 'ERR_PROCESS_UNREADABLE') throw error;
    return { process: found, parents, sockets: null, error: { code: error.code, message: error.message } };
  }
}

function describeBlock({ process: found, parents, sockets }: ProcessSockets, filter: SocketFilter): string {
  const title = describeWithParents(found, parents);
  if (sockets === null) return `${title}\n  its open files cannot be read (ERR_PROCESS_UNREADABLE)\n`;
  const narrowed = filter.protocol !== undefined || filter.listening === true;
  if (sockets.length === 0) {
    return `${title}\n  ${filter.children === true ? 'it and its descendants hold' : 'holds'} no sockets${narrowed ? ' that match' : ''}\n`;
  }
  const table = formatSocketTable(sockets)
    .trimEnd()
    .split('\n')
    .map((line) => `  ${line}`);
  return `${[title, ...table].join('\n')}\n`;
}
