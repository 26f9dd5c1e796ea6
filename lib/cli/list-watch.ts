// `portclash list --watch`: the socket table redrawn in place on a terminal; elsewhere its changes, as lines or NDJSON events.
import { PortclashError } from '../errors.js';
import type { OwnedSocket } from '../owners.js';
import type { SocketRecord } from '../records.js';
import type { SocketFilter } from '../sockets.js';
import { watchSockets, watchTicks, type SocketEvent, type WatchTick } from '../watch.js';
import { describeSocket, formatSocketTable, ownerColumn, sortSockets } from './format.js';
import type { CommandIO } from './io.js';

export interface ListWatch {
  filter: SocketFilter;
  /** Milliseconds between looks. */
  interval: number;
  owners: boolean;
  json: boolean;
}

// Ctrl-C (or a kill) is how a watch ends: the status a shell expects of a process that signal stopped
const SIGNAL_STATUS = { SIGINT: 130, SIGTERM: 143 } as const;

/** Runs the watch until SIGINT or SIGTERM, then returns 130 or 143, with the terminal as it was. */
export async function runListWatch(watch: ListWatch, io: CommandIO): Promise<number> {
  const controller = new AbortController();
  let status: number = SIGNAL_STATUS.SIGINT;
  const onSignal = (signal: NodeJS.Signals) => {
    status = signal === 'SIGTERM' ? SIGNAL_STATUS.SIGTERM : SIGNAL_STATUS.SIGINT;
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await showWatch(watch, io, controller.signal);
  } catch (error) {
    if (error instanceof PortclashError && error.code === 'ABORT_ERR' && controller.signal.aborted) return status;
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return status;
}

/**
 * The watch itself, until `signal` fires (then it rejects with ABORT_ERR): NDJSON with `json`, the
 * table redrawn on a terminal, else a line per change.
 */
export async function showWatch(watch: ListWatch, io: CommandIO, signal: AbortSignal): Promise<void> {
  const options = { interval: watch.interval, signal, owners: watch.owners };
  if (watch.json) {
    // one event a line, written as it comes: a reader of the pipe sees each change at once
    for await (const event of watchSockets(watch.filter, options)) io.stdout(`${JSON.stringify(event)}\n`);
  } else if (io.terminal === undefined) {
    for await (const event of watchSockets(watch.filter, options)) io.stdout(`${formatEvent(event)}\n`);
  } else {
    await redrawTable(watch, io.terminal, io, signal);
  }
}

/** `12:00:01 + tcp 127.0.0.1:3000 LISTEN node[4121]`; `=` there at the start, `-` closed, `~` a new state. */
export function formatEvent(event: SocketEvent<SocketRecord | OwnedSocket>): string {
  const { socket } = event;
  const owner = 'owners' in socket ? ` ${ownerColumn(socket)}` : '';
  const clock = formatClock(event.at);
  if (event.type === 'state') return `${clock} ~ ${describeSocket({ ...socket, state: event.previousState })} → ${socket.state}${owner}`;
  return `${clock} ${EVENT_MARKS[event.type]} ${describeSocket(socket)}${owner}`;
}

const EVENT_MARKS = { present: '=', opened: '+', closed: '-' } as const;

// The alternate screen keeps the user's scrollback as it was; the cursor is hidden while the table is drawn.
const ENTER_SCREEN = '\x1b[?1049h\x1b[?25l';
const LEAVE_SCREEN = '\x1b[?25h\x1b[?1049l';
const CURSOR_HOME = '\x1b[H';
const CLEAR_TO_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';

async function redrawTable(watch: ListWatch, terminal: NonNullable<CommandIO['terminal']>, io: CommandIO, signal: AbortSignal): Promise<void> {
  const since = new Date();
  const totals = { opened: 0, closed: 0, changed: 0 };
  io.stdout(ENTER_SCREEN);
  try {
    for await (const tick of watchTicks(watch.filter, { interval: watch.interval, signal, owners: watch.owners })) {
      for (const event of tick.events) {
        if (event.type === 'opened') totals.opened++;
        else if (event.type === 'closed') totals.closed++;
        else if (event.type === 'state') totals.changed++;
      }
      io.stdout(renderFrame(describeTick(tick, { since, totals, interval: watch.interval, rows: sizeOf(terminal).rows }), terminal));
    }
  } finally {
    io.stdout(LEAVE_SCREEN);
  }
}

/**
 * The header line (time, counts by state, changes since the start) and list's table, of as many
 * sockets as `rows` has room for: a busy host's 100 000 rows are counted, not formatted, each look.
 */
export function describeTick(
  tick: WatchTick<SocketRecord | OwnedSocket>,
  view: { since: Date; totals: { opened: number; closed: number; changed: number }; interval: number; rows: number },
): string[] {
  const byState = new Map<string, number>();
  const sockets = sortSockets([...tick.sockets.values()]);
  for (const socket of sockets) byState.set(socket.state, (byState.get(socket.state) ?? 0) + 1);
  const states = [...byState].map(([state, count]) => `${count} ${state}`).join(', ');
  const { opened, closed, changed } = view.totals;
  const count = `${sockets.length} socket${sockets.length === 1 ? '' : 's'}${states === '' ? '' : ` (${states})`}`;
  const header = `${formatClock(tick.at)}  ${count}  since ${formatClock(view.since)}: ${opened} opened, ${closed} closed, ${changed} changed state  every ${formatInterval(view.interval)}, Ctrl-C ends`;
  if (sockets.length === 0) return [header, '', 'No sockets match.'];
  // the header, a blank line and the table's own header come first
  const room = Math.max(1, view.rows - 3);
  const shown = sockets.length <= room ? sockets : sockets.slice(0, room - 1);
  const table = formatSocketTable(shown).trimEnd().split('\n');
  const more = sockets.length - shown.length;
  return [header, '', ...table, ...(more === 0 ? [] : [`… ${more} more sockets: a taller window, or --port or --listening, shows them`])];
}

/**
 * One redraw: the cursor home, each line written over the last frame's and cleared to its end,
 * then the rest of the screen cleared. Nothing is erased before it is drawn over, so nothing
 * flickers. Lines are cut to the width (the last column is left empty: a character written there
 * leaves the cursor waiting to wrap, where clearing to the line's end would erase it), and to the
 * height, with a last line saying how many more there are: a frame that scrolled would not be
 * drawn over by the next.
 */
export function renderFrame(lines: readonly string[], terminal: { readonly columns: number; readonly rows: number }): string {
  const { columns, rows } = sizeOf(terminal);
  const width = Math.max(1, columns - 1);
  const height = Math.max(1, rows);
  const shown =
    lines.length <= height
      ? lines
      : [...lines.slice(0, height - 1), `… ${lines.length - height + 1} more lines: a taller window, or --port or --listening, shows them`];
  return `${CURSOR_HOME}${shown.map((line) => `${line.slice(0, width)}${CLEAR_TO_LINE_END}`).join('\n')}${CLEAR_BELOW}`;
}

/** The terminal's size, or the VT100's 80×24 where it says none (a pseudo-terminal whose size was never set). */
function sizeOf(terminal: { readonly columns: number; readonly rows: number }): { columns: number; rows: number } {
  const known = (value: number) => Number.isInteger(value) && value > 0;
  return { columns: known(terminal.columns) ? terminal.columns : 80, rows: known(terminal.rows) ? terminal.rows : 24 };
}

/** `14:03:07`, local time, as the lines of a log are read beside the clock on the wall. */
function formatClock(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
