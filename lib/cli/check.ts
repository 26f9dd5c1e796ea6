// `portclash check <port>…`: will bind()+listen() succeed? One line (or JSON object) per port.
import { PortclashError } from '../errors.js';
import { parsePort } from '../ports.js';
import { predictBinds, VERDICT_SEVERITY } from '../predict/index.js';
import { formatExposition, predictionMetrics } from '../prometheus.js';
import type { BindRequest, Prediction } from '../predict/types.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs, splitPortProtocol } from './args.js';
import { dependsOn, describePrediction } from './format.js';
import { EXIT, type CommandIO } from './io.js';
import { chooseFormat, emit, OUTPUT_OPTIONS } from './output.js';

export const CHECK_HELP = `Usage: portclash check <port|service|from-to>[/tcp|/udp]... [--host <addr>] [--udp]
                       [--reuse-addr|--no-reuse-addr] [--reuse-port] [--ipv6-only] [--no-listen] [--probe]
                       [--format text|json|prometheus] [--output <file>] [--netns <name|path>]

Predicts whether bind() (and listen(), for TCP) would succeed, from the kernel's tables and rules,
without binding. The defaults are what Node's server.listen(port) does: host :: dual stack (0.0.0.0
without IPv6), TCP, SO_REUSEADDR on, then listen(). A port may name its protocol (5353/udp,
8000-8010/udp), which wins over --udp.

Options:
      --host <addr>     the address to bind (default ::, or 0.0.0.0 without IPv6); a host name
                        such as localhost binds the first address it resolves to, as in Node
      --udp             a UDP socket (SO_REUSEADDR then defaults to off, as in dgram)
      --reuse-addr      set SO_REUSEADDR (the default for TCP)
      --no-reuse-addr   do not set SO_REUSEADDR
      --reuse-port      set SO_REUSEPORT
      --ipv6-only       set IPV6_V6ONLY on an IPv6 socket
      --no-listen       bind only, do not listen()
      --probe           where the answer is unknown, settle it with a trial bind()+listen() with
                        these options, released at once ("source": "probe"): true at that instant
                        only, and another bind of the port in that instant would fail
      --netns <ns>      judge the bind in another network namespace: a name of /run/netns (ip
                        netns), or a namespace file such as /proc/<pid>/ns/net (a container's
                        process), as a process like this one would make it there; --probe does
                        not probe there
      --format <fmt>    text (default): one line per port; json: one JSON object (an array for
                        several ports): port, host, protocol, verdict, errno, reason, conflicts,
                        assumptions, warnings, source ("tables", or "probe" for a trial bind's
                        answer); prometheus: portclash_bind_verdict and portclash_bind_conflict_info
                        in Prometheus' text format (the exit status stays the verdict's)
      --json            the same as --format json
      --output <file>   write to <file> instead of stdout, atomically (a temporary file beside it,
                        then renamed), as node_exporter's textfile collector wants (*.prom)
  -h, --help            show this help

Verdicts: free, in-use (EADDRINUSE), denied (EACCES), unavailable (EADDRNOTAVAIL), unknown (the
answer depends on something that cannot be seen; the assumptions say what).
Exit status: 0 free, 1 in-use/denied/unavailable, 2 usage error, 3 unknown, 4 the tables could not
be read (or --output could not be written). With several ports, the worst verdict decides.
`;

const OPTIONS = {
  ...HELP_OPTION,
  host: { type: 'string' },
  udp: { type: 'boolean' },
  'reuse-addr': { type: 'boolean' },
  'no-reuse-addr': { type: 'boolean' },
  'reuse-port': { type: 'boolean' },
  'ipv6-only': { type: 'boolean' },
  'no-listen': { type: 'boolean' },
  probe: { type: 'boolean' },
  json: { type: 'boolean' },
  ...OUTPUT_OPTIONS,
  ...NETNS_OPTION,
} as const;

// More ports than this in one call is a mistake more often than a wish.
const MAX_PORTS = 4096;

export async function runCheck(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(CHECK_HELP);
    return EXIT.ok;
  }
  const format = chooseFormat(values, ['text', 'json', 'prometheus'] as const);
  if (positionals.length === 0) throw new PortclashError('ERR_USAGE', 'check needs at least one port, like 3000 or 8000-8010');
  if (values['reuse-addr'] === true && values['no-reuse-addr'] === true) {
    throw new PortclashError('ERR_USAGE', '--reuse-addr and --no-reuse-addr contradict each other');
  }
  const ports = positionals.flatMap(expandTargets);
  if (ports.length > MAX_PORTS) throw new PortclashError('ERR_USAGE', `at most ${MAX_PORTS} ports at once, got ${ports.length}`);

  const base: Omit<BindRequest, 'port'> = {
    ...(values.host === undefined ? {} : { host: values.host }),
    protocol: values.udp === true ? 'udp' : 'tcp',
    ...(values['reuse-addr'] === true ? { reuseAddr: true } : values['no-reuse-addr'] === true ? { reuseAddr: false } : {}),
    ...(values['reuse-port'] === true ? { reusePort: true } : {}),
    ...(values['ipv6-only'] === true ? { ipv6Only: true } : {}),
    ...(values['no-listen'] === true ? { listen: false } : {}),
  };
  const predictions = await predictBinds(
    ports.map(({ port, protocol }) => ({ ...base, port, ...(protocol === undefined ? {} : { protocol }) })),
    { probe: values.probe === true, ...netnsOf(values) },
  );

  if (format === 'json') {
    const single = positionals.length === 1 && !/^\d+-\d+(\/(tcp|udp))?$/i.test(positionals[0]!);
    emit(io, `${JSON.stringify(single ? predictions[0] : predictions, null, 2)}\n`, values.output);
  } else if (format === 'prometheus') {
    emit(io, formatExposition(predictionMetrics(predictions.map((prediction) => ({ label: null, prediction })))), values.output);
  } else {
    emit(io, predictions.map((prediction) => `${[describePrediction(prediction), ...details(prediction)].join('\n')}\n`).join(''), values.output);
  }
  const worst = Math.max(...predictions.map((prediction) => VERDICT_SEVERITY[prediction.verdict]));
  return worst === 2 ? EXIT.negative : worst === 1 ? EXIT.unknown : EXIT.ok;
}

/** `3000`, `http`, a range `8000-8010`, each with `/tcp` or `/udp` if it names its protocol (which wins over --udp). */
function expandTargets(text: string): { port: number | string; protocol: 'tcp' | 'udp' | undefined }[] {
  const target = splitPortProtocol(text);
  const ports = expandPorts(target?.port ?? text);
  return ports.map((port) => ({ port, protocol: target?.protocol }));
}

/** `3000`, `http`, or a range `8000-8010`. */
function expandPorts(text: string): (number | string)[] {
  const range = /^(\d+)-(\d+)$/.exec(text);
  if (range === null) return [/^\d+$/.test(text) ? parsePort(text, 'port') : text];
  const from = parsePort(range[1], 'port');
  const to = parsePort(range[2], 'port');
  if (to < from) throw new PortclashError('ERR_INVALID_PORT', `the range ${text} runs backwards`);
  if (to - from + 1 > MAX_PORTS) throw new PortclashError('ERR_USAGE', `at most ${MAX_PORTS} ports at once, got ${to - from + 1}`);
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

/** Under the line: what an unknown depends on, then the warnings. */
function details(prediction: Prediction): string[] {
  return [...dependsOn(prediction), ...prediction.warnings.map((warning) => `  warning: ${warning}`)];
}
