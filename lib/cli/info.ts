// `portclash info <port|service>` and `portclash ephemeral`: what a port means here, and outgoing port use.
import { ephemeralReport, type EphemeralReport } from '../ephemeral.js';
import { PortclashError } from '../errors.js';
import { findOwners } from '../owners.js';
import { predictBind } from '../predict/index.js';
import { isServiceWarning } from '../predict/warnings.js';
import { bsdClass, inRanges, portClass, readEphemeralRange, readReservedPorts } from '../ranges.js';
import { getServicesByPort, parsePortOrService } from '../services.js';
import { listSockets } from '../sockets.js';
import { EXIT, HELP_OPTION, parseCommandArgs } from './args.js';
import { dependsOn, describePrediction } from './check.js';
import { describeOwner, describeSocket } from './owners.js';
import type { CommandIO } from './run.js';

export const INFO_HELP = `Usage: portclash info <port|service> [--json]

Everything portclash knows about a port: the services registered for it, its class, whether the
kernel may hand it to an outgoing connection (ephemeral range, reserved ports), who holds it now
(TCP and UDP), and whether Node's server.listen(port) would succeed.

Options:
      --json   one JSON object
  -h, --help   show this help

Exit status: 0, 2 usage error, 4 the tables could not be read.
`;

export const EPHEMERAL_HELP = `Usage: portclash ephemeral [--json]

The ephemeral port range (net.ipv4.ip_local_port_range), the reserved ports, how many outgoing TCP
connections use it, and for each destination (local address, remote address and port) how close it
is to running out: connect() fails with EADDRNOTAVAIL when a destination has used every port.

Options:
      --json   one JSON object
  -h, --help   show this help

Exit status: 0, 1 a destination is close to exhaustion, 2 usage error, 4 the tables could not be read.
`;

const OPTIONS = { ...HELP_OPTION, json: { type: 'boolean' } } as const;

export async function runInfo(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(INFO_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new PortclashError('ERR_USAGE', `info takes one port or service, got ${positionals.length}`);
  const { port, service } = parsePortOrService(positionals[0]!);
  const range = readEphemeralRange();
  const reserved = readReservedPorts();
  const sockets = await findOwners(await listSockets({ port }), { scan: 'first' });
  const prediction = await predictBind({ port: service ?? port });
  const info = {
    port,
    ...(service === undefined ? {} : { service }),
    services: getServicesByPort(port),
    class: portClass(port),
    bsdClass: bsdClass(port),
    ephemeral: { range, inRange: port >= range.low && port <= range.high, reserved: inRanges(port, reserved) },
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
    `  ephemeral:  ${info.ephemeral.inRange ? `yes: inside ${range.low}–${range.high}, so an outgoing connection may take it at any moment` : `no (the range is ${range.low}–${range.high})`}${info.ephemeral.reserved ? '; reserved (ip_local_reserved_ports): never handed out automatically' : ''}`,
    sockets.length === 0 ? '  held by:    nothing (TCP or UDP)' : '  held by:',
    ...sockets.map((socket) => `    ${describeSocket(socket)} — ${socket.owner !== null ? describeOwner(socket.owner) : `owner unknown (${socket.ownerUnknown ?? '?'})`}`),
    `  bind:       ${describePrediction(prediction)} (Node's server.listen(${port}))`,
    ...dependsOn(prediction),
    // the registered services are listed above already
    ...prediction.warnings.filter((warning) => !isServiceWarning(warning)).map((warning) => `  warning:    ${warning}`),
  ];
  io.stdout(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

export async function runEphemeral(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(EPHEMERAL_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 0) throw new PortclashError('ERR_USAGE', 'ephemeral takes no arguments');
  const report = await ephemeralReport();
  io.stdout(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatEphemeral(report));
  return report.warnings.length > 0 ? EXIT.negative : EXIT.ok;
}

// Destinations shown in the human report; --json has them all.
const SHOWN = 10;

function formatEphemeral(report: EphemeralReport): string {
  const { range } = report;
  const reserved = report.reserved.length === 0 ? 'none' : report.reserved.map(([low, high]) => (low === high ? `${low}` : `${low}-${high}`)).join(',');
  const lines = [
    `Ephemeral range: ${range.low}–${range.high} (${range.size} ports); reserved: ${reserved}; held by bind() inside it: ${report.boundInRange}`,
    `Outgoing TCP connections on ephemeral ports: ${report.outgoing} (${report.timeWait} in TIME_WAIT)`,
  ];
  if (report.destinations.length > 0) {
    lines.push('Busiest destinations (each has the whole range to itself):');
    for (const destination of report.destinations.slice(0, SHOWN)) {
      lines.push(
        `  ${destination.localAddress} → ${destination.remoteAddress}:${destination.remotePort}  ${destination.connections} of ${destination.available} ports (${(destination.usage * 100).toFixed(destination.usage < 0.01 ? 2 : 0)}%), ${destination.timeWait} in TIME_WAIT`,
      );
    }
    if (report.destinations.length > SHOWN) lines.push(`  … and ${report.destinations.length - SHOWN} more (--json lists them all)`);
  }
  lines.push(...report.warnings.map((warning) => `warning: ${warning}`));
  return `${lines.join('\n')}\n`;
}
