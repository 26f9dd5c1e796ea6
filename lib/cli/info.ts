// `portclash info <port|service>`: what a port means here — services, class, ephemeral range, holders, bind prediction.
import { PortclashError } from '../errors.js';
import { findOwners } from '../owners.js';
import { predictBindOver } from '../predict/index.js';
import { isServiceWarning } from '../predict/warnings.js';
import { bsdClass, inRanges, portClass, type EphemeralRange, type PortRange } from '../ranges.js';
import { readEphemeralRange, readReservedPorts, type NamespaceOptions } from '../system.js';
import { getServicesByPort, parsePortOrService } from '../services.js';
import { listSockets } from '../sockets.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs } from './args.js';
import { dependsOn, describeOwner, describePrediction, describeSocket } from './format.js';
import { EXIT, type CommandIO } from './io.js';

export const INFO_HELP = `Usage: portclash info <port|service> [--json] [--netns <name|path>]

Everything portclash knows about a port: the services registered for it, its class, whether the
kernel may hand it to an outgoing connection (ephemeral range, reserved ports), who holds it now
(TCP and UDP), and whether Node's server.listen(port) would succeed.

Options:
      --json   one JSON object
      --netns <ns>
               the port in another network namespace: a name of /run/netns (ip netns), or a
               namespace file such as /proc/<pid>/ns/net (a container's process)
  -h, --help   show this help

Exit status: 0, 2 usage error, 4 the tables could not be read.
`;

const OPTIONS = { ...HELP_OPTION, json: { type: 'boolean' }, ...NETNS_OPTION } as const;

export async function runInfo(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(INFO_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new PortclashError('ERR_USAGE', `info takes one port or service, got ${positionals.length}`);
  const { port, service } = parsePortOrService(positionals[0]!);
  const where = netnsOf(values);
  const ephemeral = readRanges(where);
  // the port's sockets, read once: listed, and the prediction's ground beside its listeners' dump
  const found = listSockets({ port }, where);
  const [sockets, prediction] = await Promise.all([
    found.then((records) => findOwners(records, { scan: 'first', ...where })),
    predictBindOver({ port: service ?? port }, where, { port, sockets: found }),
  ]);
  const info = {
    port,
    ...(service === undefined ? {} : { service }),
    services: getServicesByPort(port),
    class: portClass(port),
    bsdClass: bsdClass(port),
    ephemeral:
      'unread' in ephemeral
        ? ephemeral
        : { range: ephemeral.range, inRange: port >= ephemeral.range.low && port <= ephemeral.range.high, reserved: inRanges(port, ephemeral.reserved) },
    sockets,
    prediction,
  };
  if (values.json === true) {
    io.stdout(`${JSON.stringify(info, null, 2)}\n`);
    return EXIT.ok;
  }
  const names = [...new Set(info.services.map((entry) => entry.name))];
  const lines = [
    `Port ${port}${names.length > 0 ? ` — ${names.join(', ')}` : ''}`,
    `  services:   ${info.services.length === 0 ? 'none registered' : info.services.map((entry) => `${entry.name} ${entry.port}/${entry.protocol}${entry.aliases.length > 0 ? ` (${entry.aliases.join(', ')})` : ''}`).join('; ')}${info.services[0] === undefined ? '' : info.services[0].source === 'file' ? ' [services database]' : ' [built-in table]'}`,
    `  class:      ${info.class.description}; traditional BSD split: ${info.bsdClass}`,
    `  ephemeral:  ${describeEphemeral(info.ephemeral)}`,
    sockets.length === 0 ? '  held by:    nothing (TCP or UDP)' : '  held by:',
    ...sockets.map(
      (socket) => `    ${describeSocket(socket)} — ${socket.owner !== null ? describeOwner(socket.owner) : `owner unknown (${socket.ownerUnknown ?? '?'})`}`,
    ),
    `  bind:       ${describePrediction(prediction)} (Node's server.listen(${port}))`,
    ...dependsOn(prediction),
    // the registered services are listed above already
    ...prediction.warnings.filter((warning) => !isServiceWarning(warning)).map((warning) => `  warning:    ${warning}`),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

type EphemeralInfo = { range: EphemeralRange; inRange: boolean; reserved: boolean } | { unread: string };

/** The ranges, or why they could not be read (another network namespace, not entered). */
function readRanges(where: NamespaceOptions): { range: EphemeralRange; reserved: PortRange[] } | { unread: string } {
  try {
    return { range: readEphemeralRange(where), reserved: readReservedPorts(where) };
  } catch (error) {
    if (error instanceof PortclashError && error.code === 'ERR_NETNS_UNREADABLE') return { unread: error.message };
    throw error;
  }
}

function describeEphemeral(ephemeral: EphemeralInfo): string {
  if ('unread' in ephemeral) return `unknown: ${ephemeral.unread}`;
  const { low, high } = ephemeral.range;
  const inside = ephemeral.inRange ? `yes: inside ${low}–${high}, so an outgoing connection may take it at any moment` : `no (the range is ${low}–${high})`;
  return `${inside}${ephemeral.reserved ? '; reserved (ip_local_reserved_ports): never handed out automatically' : ''}`;
}
