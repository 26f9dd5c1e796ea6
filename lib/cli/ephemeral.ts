// `portclash ephemeral`: the ephemeral port range, and how close outgoing connections are to exhausting it.
import { ephemeralReport, type EphemeralReport } from '../ephemeral.js';
import { PortclashError } from '../errors.js';
import { ephemeralMetrics, formatExposition } from '../prometheus.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs } from './args.js';
import { EXIT, type CommandIO } from './io.js';
import { chooseFormat, emit, OUTPUT_OPTIONS } from './output.js';

export const EPHEMERAL_HELP = `Usage: portclash ephemeral [--format text|json|prometheus] [--json] [--output <file>]
                           [--netns <name|path>]

The ephemeral port range (net.ipv4.ip_local_port_range), the reserved ports, how many outgoing TCP
connections use it, and for each destination (local address, remote address and port) how close it
is to running out: connect() fails with EADDRNOTAVAIL when a destination has used every port.

Options:
      --format <fmt>    text (default); json: one JSON object; prometheus: the range, its use,
                        and the 10 busiest destinations (portclash_ephemeral_*) in Prometheus'
                        text format
      --json            the same as --format json
      --output <file>   write to <file> instead of stdout, atomically (a temporary file beside it,
                        then renamed), as node_exporter's textfile collector wants (*.prom)
      --netns <ns>      another network namespace: a name of /run/netns (ip netns), or a
                        namespace file such as /proc/<pid>/ns/net (a container's process)
  -h, --help            show this help

Exit status: 0, 1 a destination is close to exhaustion, 2 usage error, 4 the tables could not be read
(or --output could not be written). The same with every --format.
`;

const OPTIONS = { ...HELP_OPTION, json: { type: 'boolean' }, ...OUTPUT_OPTIONS, ...NETNS_OPTION } as const;

export async function runEphemeral(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(EPHEMERAL_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 0) throw new PortclashError('ERR_USAGE', 'ephemeral takes no arguments');
  const format = chooseFormat(values, ['text', 'json', 'prometheus'] as const);
  const report = await ephemeralReport(netnsOf(values));
  const text =
    format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : format === 'prometheus' ? formatExposition(ephemeralMetrics(report)) : formatEphemeral(report);
  emit(io, text, values.output);
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
