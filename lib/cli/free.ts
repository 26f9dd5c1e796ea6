// `portclash free <port>`: end the processes that hold a port, after showing them; a supervised one gets the command that stops it instead.
import { PortclashError } from '../errors.js';
import { carryOut, FREE_DEFAULTS, planFree, type FreePlan, type FreeResult, type PortHolder } from '../free.js';
import { HELP_OPTION, parseCommandArgs, parseDuration, splitPortProtocol } from './args.js';
import { describePrediction, describeSocket, describeWithParents } from './format.js';
import { EXIT, type CommandIO } from './io.js';

export const FREE_HELP = `Usage: portclash free <port>[/tcp|/udp] [--signal <name>] [--timeout <duration>] [--kill-after]
                      [--force] [--other-users] [--yes] [--dry-run] [--json]

Ends the processes that hold a listening or bound socket on exactly this port (never a client whose
remote port it is, never another port), then waits until the kernel's tables show the port released.
A client whose connection comes from the port is shown, not ended (its connection would linger).
Each holder is shown with the processes that started it; on a terminal you are asked first.

A holder that a supervisor starts again is not ended: a systemd service, a container, docker-proxy
(Docker's proxy for a published port), a Windows service. The command that stops it for good is
printed instead (systemctl stop api.service, docker stop <id>, sc stop <name>); --force ends it anyway.
PID 1, the kernel's own sockets and this process are never signalled; other users' processes only as
root with --other-users.

Options:
      --signal <name>       the signal to send (default TERM): TERM, INT, HUP, KILL, or SIGTERM…
      --timeout <duration>  how long to wait for the port to be released (default 5s)
      --kill-after          send KILL to the holders still there after the timeout
      --force               end supervised holders too (they may come back)
      --other-users         as root: end other users' processes too
  -y, --yes                 do not ask (needed when stdin is not a terminal)
      --dry-run             show the holders and what would be done; signal nothing
      --json                the plan, or the result, as one JSON object
  -h, --help                show this help

Exit status: 0 a server can bind the port now (its holders ended, or there were none), 1 it cannot
(a holder was left to its supervisor, refused, or outlived the timeout; a client's connection from
the port, or a TIME_WAIT, is in the way; or you answered no), 2 usage error (or no --yes without a
terminal), 4 the tables could not be read.
`;

const OPTIONS = {
  ...HELP_OPTION,
  signal: { type: 'string' },
  timeout: { type: 'string' },
  'kill-after': { type: 'boolean' },
  force: { type: 'boolean' },
  'other-users': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

export async function runFree(args: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(args, OPTIONS, true);
  if (values.help === true) {
    io.stdout(FREE_HELP);
    return EXIT.ok;
  }
  if (positionals.length !== 1) throw new PortclashError('ERR_USAGE', `free takes one port (like 3000 or 5353/udp), got ${positionals.length}`);
  const target = splitPortProtocol(positionals[0]!);
  if (target === null) throw new PortclashError('ERR_INVALID_PORT', `expected a port like 3000 or 5353/udp, got ${JSON.stringify(positionals[0])}`);
  const options = {
    protocol: target.protocol ?? 'tcp',
    signal: values.signal === undefined ? FREE_DEFAULTS.signal : parseSignal(values.signal),
    timeout: values.timeout === undefined ? FREE_DEFAULTS.timeout : parseDuration(values.timeout, '--timeout'),
    killAfter: values['kill-after'] === true,
    force: values.force === true,
    otherUsers: values['other-users'] === true,
  };
  const plan = await planFree(target.port, options);
  const ending = plan.holders.filter((holder) => holder.action === 'end');

  if (values['dry-run'] === true || ending.length === 0) {
    io.stdout(values.json === true ? `${JSON.stringify(plan, null, 2)}\n` : describePlan(plan));
    return plan.holders.length === 0 && plan.prediction.verdict === 'free' ? EXIT.ok : EXIT.negative;
  }
  if (values.json !== true) io.stdout(describePlan(plan));
  if (values.yes !== true) {
    if (io.confirm === undefined) {
      throw new PortclashError('ERR_USAGE', `refusing to end ${count(ending.length, 'process', 'processes')} without a terminal to ask on: add --yes`);
    }
    const yes = await io.confirm(`End ${count(ending.length, 'process', 'processes')} with ${options.signal}? [y/N] `);
    if (!yes) {
      io.stdout('Nothing was signalled.\n');
      return EXIT.negative;
    }
  }
  const result = await carryOut(plan, options);
  io.stdout(values.json === true ? `${JSON.stringify(result, null, 2)}\n` : describeResult(result));
  return result.freed ? EXIT.ok : EXIT.negative;
}

function parseSignal(text: string): NodeJS.Signals {
  const name = text.toUpperCase().startsWith('SIG') ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
  if (!/^SIG[A-Z0-9]+$/.test(name)) throw new PortclashError('ERR_USAGE', `--signal must be a signal name like TERM or SIGINT, got ${JSON.stringify(text)}`);
  return name as NodeJS.Signals;
}

function count(number: number, one: string, many: string): string {
  return `${number} ${number === 1 ? one : many}`;
}

/** The holders, each with its parents, sockets and what will be done. */
export function describePlan(plan: FreePlan): string {
  const label = `${plan.port}/${plan.protocol}`;
  if (plan.holders.length === 0) {
    if (plan.prediction.verdict === 'free') return `Nothing holds ${label}: no socket listens on it or is bound to it.\n`;
    return `No process holds ${label}, but a new bind is not free: ${describePrediction(plan.prediction)}\n${waitHint(plan)}`;
  }
  const lines = [`${label} is held by:`];
  for (const holder of plan.holders) lines.push(...describeHolder(holder));
  return `${lines.join('\n')}\n`;
}

function describeHolder(holder: PortHolder): string[] {
  const who = holder.owner === null ? 'the kernel (no process)' : describeWithParents(holder.owner, holder.parents);
  const action =
    holder.action === 'end'
      ? `→ ${holder.reason}`
      : holder.action === 'supervised'
        ? `→ not ended: ${holder.reason}. To stop it for good: ${holder.stopCommand ?? '?'} (or --force)`
        : `→ not ended: ${holder.reason}`;
  return [`  ${who}`, ...holder.sockets.map((socket) => `    ${describeSocket(socket)}`), `    ${action}`];
}

function describeResult(result: FreeResult): string {
  const lines: string[] = [];
  for (const outcome of result.outcomes) {
    const sent = outcome.sent.length === 0 ? 'nothing sent' : `sent ${outcome.sent.join(', then ')}`;
    const what = {
      exited: 'it exited',
      running: 'it is still running',
      replaced: 'the pid now belongs to another process, left alone',
      failed: `the signal failed (${outcome.error ?? 'unknown error'})`,
    }[outcome.result];
    lines.push(`pid ${outcome.pid}: ${sent}; ${what}.`);
  }
  const label = `${result.port}/${result.protocol}`;
  if (result.remaining.length > 0) {
    lines.push(`${label} is still held: ${result.remaining.map(describeSocket).join('; ')}.`);
  } else if (result.freed) {
    lines.push(`${label} is released (after ${result.waitedMs} ms); a server can bind it now.`);
  } else {
    lines.push(
      `No process listens on or is bound to ${label} any more (after ${result.waitedMs} ms), but a new bind is not free: ${describePrediction(result.prediction)}`,
    );
    return `${lines.join('\n')}\n${waitHint(result)}`;
  }
  return `${lines.join('\n')}\n`;
}

/** What an unknown or a TIME_WAIT in the way calls for: waiting, which `wait --free` does. */
function waitHint(plan: FreePlan): string {
  const timeWait = plan.prediction.conflicts.some((socket) => socket.state === 'TIME_WAIT');
  const why = timeWait ? 'a TIME_WAIT ends within 60 s on Linux (4 min on Windows); ' : '';
  return `  ${why}to wait until a bind would succeed: portclash wait ${plan.port}${plan.protocol === 'udp' ? '/udp' : ''} --free\n`;
}
