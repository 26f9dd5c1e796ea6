// `portclash forwards [--port P] [--tcp|--udp] [--json]`: the NAT rules that send a port's packets elsewhere, and what could not be read.
import type { Forward, ForwardsReport } from '../forwards.js';
import { findForwards } from '../forwards.js';
import { PortclashError } from '../errors.js';
import { parsePortOrService } from '../services.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs } from './args.js';
import { formatTable } from './format.js';
import { EXIT, type CommandIO } from './io.js';

export const FORWARDS_HELP = `Usage: portclash forwards [--port P] [--tcp|--udp] [--json] [--netns <name|path>]

Shows the NAT rules (nftables, iptables-nft) that rewrite the destination of packets for a port before
any socket sees them: DNAT (Docker without userland-proxy, Kubernetes NodePorts) and redirects, at
prerouting (packets from the network) and output (packets this host sends). bind() on such a port
succeeds, but the server never sees what was meant for it. Reading the ruleset needs root
(CAP_NET_ADMIN); what cannot be read or interpreted is listed as "may forward", never left out.

Options:
      --port P   only rules that can match destination port P (a number or service name)
      --tcp      only TCP
      --udp      only UDP
      --json     print { forwards, unknown, complete }
      --netns <ns>
                 the rules of another network namespace: a name of /run/netns (ip netns), or a
                 namespace file such as /proc/<pid>/ns/net (a container's process)
  -h, --help     show this help

Exit status: 0 a forward was found, 1 none (and everything was read), 2 usage error, 3 none found but
some rules or tables could not be read or interpreted.
`;

const OPTIONS = {
  ...HELP_OPTION,
  port: { type: 'string' },
  tcp: { type: 'boolean' },
  udp: { type: 'boolean' },
  json: { type: 'boolean' },
  ...NETNS_OPTION,
} as const;

export async function runForwards(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS);
  if (values.help === true) {
    io.stdout(FORWARDS_HELP);
    return EXIT.ok;
  }
  if (values.tcp === true && values.udp === true) throw new PortclashError('ERR_USAGE', 'forwards takes --tcp or --udp, not both');
  const protocol = values.tcp === true ? 'tcp' : values.udp === true ? 'udp' : undefined;
  const port = values.port === undefined ? undefined : parsePortOrService(values.port, protocol).port;
  const report = await findForwards({ ...(port === undefined ? {} : { port }), ...(protocol === undefined ? {} : { protocol }), ...netnsOf(values) });
  io.stdout(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatForwards(report, port));
  if (report.forwards.length > 0) return EXIT.ok;
  return report.complete ? EXIT.negative : EXIT.unknown;
}

function describePorts(forward: Forward): string {
  if (forward.ports === null) return 'any';
  return forward.ports.map(([low, high]) => (low === high ? String(low) : `${low}-${high}`)).join(',');
}

function describeTarget(forward: Forward): string {
  const { address, addressEnd, port, portEnd } = forward.target;
  const host =
    address === undefined ? (forward.kind === 'redirect' ? 'this host' : 'same address') : addressEnd === undefined ? address : `${address}-${addressEnd}`;
  const bracketed = address !== undefined && address.includes(':') ? `[${host}]` : host;
  return port === undefined ? `${bracketed} (same port)` : `${bracketed}:${portEnd === undefined ? port : `${port}-${portEnd}`}`;
}

function describeRule(forward: { tableFamily?: string; table?: string; path?: string[]; handle?: number }): string {
  return `${forward.tableFamily ?? '?'} ${forward.table ?? '?'} ${(forward.path ?? []).join(' > ')} #${forward.handle ?? '?'}`;
}

export function formatForwards(report: ForwardsReport, port: number | undefined): string {
  const lines: string[] = [];
  if (report.forwards.length === 0) {
    lines.push(report.complete ? `No NAT rule forwards ${port === undefined ? 'any port' : `port ${port}`}.` : 'No forward found in what could be read.');
  } else {
    const rows = report.forwards.map((forward) => [
      `${forward.protocol}${forward.family === 'IPv6' ? '6' : ''}`,
      describePorts(forward),
      forward.hook,
      forward.kind,
      describeTarget(forward),
      describeRule(forward),
      [forward.owner, forward.comment === null ? null : JSON.stringify(forward.comment), ...forward.conditions.map((condition) => `if ${condition}`)]
        .filter((part) => part !== null)
        .join('; '),
    ]);
    lines.push(
      ...formatTable(['PROTO', 'PORTS', 'HOOK', 'ACTION', 'TO', 'RULE', 'NOTES'], rows)
        .trimEnd()
        .split('\n')
        .map((line) => line.trimEnd()),
    );
  }
  if (report.unknown.length > 0) {
    lines.push('', 'May also forward (could not be read or interpreted):');
    for (const entry of report.unknown) lines.push(`  ${entry.source === 'rule' ? `${describeRule(entry)}: ` : ''}${entry.reason}`);
  }
  return `${lines.join('\n')}\n`;
}
