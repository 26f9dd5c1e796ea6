// `portclash wait <port>[/udp]`: block until a port is listening (or free), from the kernel's tables; exit 5 on timeout.
import { PortclashError } from '../errors.js';
import { findOwners } from '../owners.js';
import type { Protocol } from '../records.js';
import { parsePortOrService } from '../services.js';
import { describeHeld, WAIT_DEFAULTS, waitForPort, type WaitResult } from '../wait.js';
import { HELP_OPTION, parseCommandArgs, parseDuration, splitPortProtocol } from './args.js';
import { EXIT, type CommandIO } from './io.js';

export const WAIT_HELP = `Usage: portclash wait <port|service>[/tcp|/udp] [--free] [--host <addr>] [--timeout <duration>]
                      [--interval <duration>] [--json]

Waits until something listens on the port (or, with --free, until a bind would succeed), by reading
the kernel's socket tables; it never connects, so a server with a full accept queue, or one on ::1
only, counts as listening, and the server sees no probe.

Options:
      --free                 wait until bind()+listen() with Node's defaults would succeed (the
                             prediction of 'check'; an unknown answer keeps waiting)
      --host <addr>          only a listener a client connecting to <addr> would reach: the address,
                             its family's wildcard, or a dual-stack ::; a name such as localhost
                             counts every address it resolves to. With --free: the address to bind
      --timeout <duration>   give up after this long (default 30s): 500ms, 30s, 2m; a plain number is
                             seconds
      --interval <duration>  time between looks (default 100ms, at least 10ms)
      --json                 the listeners (or the prediction) as one JSON object
  -h, --help                 show this help

Exit status: 0 the port is listening (or free), 2 usage error, 4 the tables could not be read,
5 timed out (the reason, naming who still holds the port, on stderr).
`;

const OPTIONS = {
  ...HELP_OPTION,
  free: { type: 'boolean' },
  host: { type: 'string' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function runWait(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(WAIT_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new PortclashError('ERR_USAGE', `wait takes one port (like 3000 or 5353/udp), got ${positionals.length}`);
  const { port, protocol } = parseTarget(positionals[0]!);
  const timeout = values.timeout === undefined ? WAIT_DEFAULTS.timeout : parseDuration(values.timeout, '--timeout');
  const interval = values.interval === undefined ? WAIT_DEFAULTS.interval : parseDuration(values.interval, '--interval');
  // Ctrl-C ends the wait at once, with the usual status of a SIGINT
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  let result: WaitResult;
  try {
    result = await waitForPort(port, {
      until: values.free === true ? 'free' : 'listening',
      protocol,
      timeout,
      interval,
      signal: controller.signal,
      ...(values.host === undefined ? {} : { host: values.host }),
    });
  } catch (error) {
    if (error instanceof PortclashError && error.code === 'ERR_TIMEOUT') {
      io.stderr(`portclash: ERR_TIMEOUT: ${error.message}\n`);
      return EXIT.timeout;
    }
    if (error instanceof PortclashError && error.code === 'ABORT_ERR') return 130;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (values.json === true) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
  } else if (result.until === 'free') {
    io.stdout(`${result.port}/${result.protocol} free\n`);
  } else if (result.source === 'connect') {
    io.stdout(`${result.port}/${result.protocol} listening — ${result.connectedTo ?? '?'} accepted a connection (no socket tables on this platform)\n`);
  } else {
    const owned = await findOwners(result.listeners, { scan: 'first' });
    io.stdout(`${result.port}/${result.protocol} listening — ${owned.map(describeHeld).join('; ')}\n`);
  }
  return EXIT.ok;
}

/** `3000`, `http`, `3000/tcp` or `5353/udp`. */
function parseTarget(input: string): { port: number; protocol: Protocol } {
  const target = splitPortProtocol(input);
  if (target === null) {
    throw new PortclashError('ERR_INVALID_PORT', `expected a port or service like 3000, http, 3000/tcp or 5353/udp, got ${JSON.stringify(input)}`);
  }
  const protocol = target.protocol ?? 'tcp';
  return { port: parsePortOrService(target.port, protocol).port, protocol };
}
