// `portclash list`: the socket table, as an aligned table or as JSON; with --watch, as it changes (list-watch.ts).
import { PortclashError } from '../errors.js';
import { readSocketTables, type SocketFilter } from '../sockets.js';
import { findOwners } from '../owners.js';
import { parsePortOrService } from '../services.js';
import { WATCH_DEFAULTS } from '../watch.js';
import { HELP_OPTION, NETNS_OPTION, netnsOf, parseCommandArgs, parseDuration } from './args.js';
import { formatSocketTable, sortSockets } from './format.js';
import { EXIT, type CommandIO } from './io.js';
import { chooseFormat, emit, emitChunks, jsonArrayChunks, OUTPUT_OPTIONS } from './output.js';
import { formatExposition, isListener, listMetrics } from '../prometheus.js';
import { readEphemeralRange } from '../system.js';
import { runListWatch } from './list-watch.js';

export const LIST_HELP = `Usage: portclash list [--tcp] [--udp] [--listening] [--port N] [--owners] [--json]
                      [--format text|json|prometheus] [--output <file>] [--watch [--interval <duration>]]
                      [--netns <name|path>]

Lists the sockets of this network namespace (or of another, with --netns) from the kernel's tables.

Options:
  -t, --tcp         TCP sockets only
  -u, --udp         UDP sockets only
  -l, --listening   only sockets accepting new peers (TCP LISTEN, UDP unconnected)
      --port N      only sockets whose local port is N (a number or a service name)
  -p, --owners      add the processes holding each socket (name[pid]; - for none, ?(reason)
                    when it cannot be named)
      --json        print an array of socket records (indented on a terminal, else one
                    record a line)
      --format <fmt>
                    text (default), json (as --json), or prometheus: listeners by protocol,
                    address, port and process (their owners are always looked up), and
                    sockets by protocol and state, in Prometheus' text format
      --output <file>
                    write to <file> instead of stdout, atomically (a temporary file beside
                    it, then renamed), as node_exporter's textfile collector wants (*.prom)
  -w, --watch       look again every --interval until Ctrl-C: on a terminal the table is redrawn
                    in place; elsewhere one line per change (= there at the start, + opened,
                    - closed, ~ new state), or with --json one event object per line (NDJSON)
      --interval <duration>
                    time between looks with --watch (default 1s, at least 10ms): 500ms, 2s
      --netns <ns>  another network namespace: a name of /run/netns (ip netns), or a namespace
                    file such as /proc/<pid>/ns/net (a container's process); not with --watch
  -h, --help        show this help

Exit status: 0 listed (even if nothing matched), 2 usage error, 4 the tables could not be read
(or --output could not be written); --watch: 130 after Ctrl-C (SIGINT), 143 after SIGTERM.
`;

const OPTIONS = {
  ...HELP_OPTION,
  tcp: { type: 'boolean', short: 't' },
  udp: { type: 'boolean', short: 'u' },
  listening: { type: 'boolean', short: 'l' },
  port: { type: 'string' },
  owners: { type: 'boolean', short: 'p' },
  json: { type: 'boolean' },
  ...OUTPUT_OPTIONS,
  watch: { type: 'boolean', short: 'w' },
  interval: { type: 'string' },
  ...NETNS_OPTION,
} as const;

export async function runList(args: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommandArgs(args, OPTIONS);
  if (values.help === true) {
    io.stdout(LIST_HELP);
    return EXIT.ok;
  }
  const format = chooseFormat(values, ['text', 'json', 'prometheus'] as const);
  const filter: SocketFilter = {};
  // --tcp and --udp together mean both, as with ss.
  if (values.tcp === true && values.udp !== true) filter.protocol = 'tcp';
  if (values.udp === true && values.tcp !== true) filter.protocol = 'udp';
  if (values.listening === true) filter.listening = true;
  if (values.port !== undefined) filter.port = parsePortOrService(values.port, filter.protocol).port;
  if (values.interval !== undefined && values.watch !== true)
    throw new PortclashError('ERR_USAGE', '--interval is the time between looks of --watch: add --watch');
  if (values.watch === true) {
    if (values.netns !== undefined)
      throw new PortclashError('ERR_USAGE', '--watch looks at this network namespace only: leave out --netns, or run it inside the namespace');
    if (format === 'prometheus' || values.output !== undefined) {
      throw new PortclashError(
        'ERR_USAGE',
        '--watch writes a live view or a stream of events: --format prometheus and --output take one reading, without --watch',
      );
    }
    const interval = values.interval === undefined ? WATCH_DEFAULTS.interval : parseDuration(values.interval, '--interval');
    if (interval < WATCH_DEFAULTS.minInterval)
      throw new PortclashError('ERR_USAGE', `--interval must be at least ${WATCH_DEFAULTS.minInterval}ms, got ${JSON.stringify(values.interval)}`);
    return runListWatch({ filter, interval, owners: values.owners === true, json: format === 'json' }, io);
  }

  const { sockets, sources } = await readSocketTables(filter, netnsOf(values));
  for (const source of sources) {
    // a dump of both families is reported with each: warned about once
    if (source.malformed > 0 && !(source.bothFamilies === true && source.family === 'IPv6')) {
      // a /proc table has a path; a sock_diag dump is named by what it asked for
      const where = source.path ?? `the sock_diag dump of ${source.protocol} ${source.bothFamilies === true ? 'IPv4 and IPv6' : source.family}`;
      const what = source.source === 'proc' ? 'line(s)' : 'message(s)';
      io.stderr(`portclash: warning: skipped ${source.malformed} malformed ${what} in ${where}\n`);
    }
  }
  sortSockets(sockets);
  if (format === 'prometheus') {
    // the process label is part of every listener's series, so owners are looked up, for the listeners alone
    emit(
      io,
      formatExposition(listMetrics(sockets, await findOwners(sockets.filter(isListener), netnsOf(values)), readEphemeralRange(netnsOf(values)))),
      values.output,
    );
    return EXIT.ok;
  }
  const rows = values.owners === true ? await findOwners(sockets, netnsOf(values)) : sockets;
  if (format === 'json') {
    // indented for a reader at a terminal; for a program (a pipe, a file) one record a line
    await emitChunks(io, jsonArrayChunks(rows, io.terminal !== undefined && values.output === undefined), values.output);
  } else {
    emit(io, rows.length === 0 ? 'No sockets match.\n' : formatSocketTable(rows), values.output);
  }
  return EXIT.ok;
}
