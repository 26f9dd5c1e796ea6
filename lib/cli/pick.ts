// `portclash pick [count]`: free ports for a server or a test run, one per line, from the kernel's tables; exit 1 when too few are free.
import { PortclashError } from '../errors.js';
import { findFreePorts, type FreePortOptions } from '../find-free.js';
import { parsePort } from '../ports.js';
import type { PortRange } from '../ranges.js';
import { HELP_OPTION, parseCommandArgs } from './args.js';
import { EXIT, type CommandIO } from './io.js';

// More ports than this in one call is a mistake more often than a wish; findFreePorts checks at most 8192.
const MAX_COUNT = 1024;

export const PICK_HELP = `Usage: portclash pick [count] [--range <low-high>] [--exclude <port,port,…>] [--host <addr>] [--udp]
                      [--include-ephemeral] [--json]

Prints count (default 1, at most ${MAX_COUNT}) distinct free ports, one per line, in random order, so
that PORT=$(portclash pick) works. Free is what 'check' predicts for Node's server.listen(port) (with
--udp, a dgram bind()): each port is checked against the kernel's tables, never bound (where
portclash reads no tables, macOS and the BSDs, each is a trial bind), and one whose answer is
unknown is never picked.

The race: nothing holds the port, so another process may take it before yours binds it. The
library's reservePort() holds it open until the server takes it over; a command that has exited
cannot hold a port for another process.

Options:
      --range <low-high>     the ports to choose from, both ends included (default 1024-65535)
      --exclude <ports>      ports never to pick: a comma list (3000,3306), or the option repeated
      --host <addr>          the address the port is for (default ::, or 0.0.0.0 without IPv6)
      --udp                  UDP ports, for a dgram socket (the default is TCP)
      --include-ephemeral    may pick ports of the ephemeral range too (left out by default:
                             connect() and bind(0) take ports from it at any moment)
      --json                 one JSON array of port numbers, for scripts (an array
                             for one port too)
  -h, --help                 show this help

Exit status: 0 the ports are printed, 1 too few free ports (ERR_NO_FREE_PORT on stderr, saying what
was checked and why ports were refused), 2 usage error, 4 the tables could not be read.
`;

const OPTIONS = {
  ...HELP_OPTION,
  range: { type: 'string' },
  exclude: { type: 'string', multiple: true },
  host: { type: 'string' },
  udp: { type: 'boolean' },
  'include-ephemeral': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export async function runPick(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(PICK_HELP);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw new PortclashError('ERR_USAGE', `pick takes at most one count (like 3), got ${positionals.length} arguments`);
  const count = positionals[0] === undefined ? 1 : parseCount(positionals[0]);
  const range = values.range === undefined ? undefined : parseRange(values.range);
  // a range too small for the count is a mistake in the command, whatever the tables say
  if (range !== undefined && count > range[1] - range[0] + 1) {
    throw new PortclashError('ERR_USAGE', `--range ${values.range} has ${range[1] - range[0] + 1} ports, fewer than the ${count} asked for`);
  }
  const options: FreePortOptions = {
    protocol: values.udp === true ? 'udp' : 'tcp',
    ...(range === undefined ? {} : { range }),
    ...(values.exclude === undefined ? {} : { exclude: values.exclude.flatMap(parseExclude) }),
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values['include-ephemeral'] === true ? { avoidEphemeral: false } : {}),
  };
  let ports: number[];
  try {
    ports = await findFreePorts(count, options);
  } catch (error) {
    // too few free ports is an answer, not a failure: exit 1, as check's in-use is
    if (error instanceof PortclashError && error.code === 'ERR_NO_FREE_PORT') {
      // the library's message names its own option; here the flag is what to try
      io.stderr(`portclash: ERR_NO_FREE_PORT: ${error.message.replace('avoidEphemeral: false allows it', '--include-ephemeral allows it')}\n`);
      return EXIT.negative;
    }
    throw error;
  }
  io.stdout(values.json === true ? `${JSON.stringify(ports, null, 2)}\n` : ports.map((port) => `${port}\n`).join(''));
  return EXIT.ok;
}

function parseCount(text: string): number {
  const count = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new PortclashError('ERR_USAGE', `the count must be a whole number from 1 to ${MAX_COUNT}, got ${JSON.stringify(text)}`);
  }
  return count;
}

/** `3000-3999`, both ends included. */
function parseRange(text: string): PortRange {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match === null) throw new PortclashError('ERR_USAGE', `--range must be low-high, like 3000-3999, got ${JSON.stringify(text)}`);
  const low = parsePort(match[1], '--range low');
  const high = parsePort(match[2], '--range high');
  // port 0 is no port: binding it asks the kernel to choose one from the ephemeral range
  if (low === 0) throw new PortclashError('ERR_INVALID_PORT', `--range must start at 1 or more, got ${JSON.stringify(text)}: port 0 is no port`);
  if (high < low) throw new PortclashError('ERR_INVALID_PORT', `the range ${text} runs backwards`);
  return [low, high];
}

/** `3000,3306`: each value of a repeated --exclude may be a comma list. */
function parseExclude(text: string): number[] {
  return text.split(',').map((port) => parsePort(port.trim(), 'each port of --exclude'));
}
