// watchSockets and `list --watch`: pairing of looks, listeners opened and closed, state changes, owners, aborts, NDJSON and lines.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { getEventListeners, once } from 'node:events';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { describeTick, formatEvent, renderFrame, showWatch } from '../lib/cli/list-watch.js';
import { PortclashError, watchSockets, type OwnedSocket, type SocketEvent, type SocketRecord, type SocketTables } from '../lib/index.js';
import { platform } from '../lib/platform.js';
import { compareLooks, watchTicks } from '../lib/watch.js';
import { CLI, runCli } from './helpers/cli.js';
import { runCommand } from './helpers/holders.js';
import { inodeOf, portOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

function record(overrides: Partial<SocketRecord>): SocketRecord {
  return {
    protocol: 'tcp',
    family: 'IPv4',
    localAddress: '127.0.0.1',
    localPort: 3000,
    remoteAddress: '127.0.0.1',
    remotePort: 40000,
    state: 'ESTABLISHED',
    uid: 1000,
    inode: 100,
    kernelOnly: false,
    source: 'sock_diag',
    ...overrides,
  };
}

/** The events from one look to the next, as [type, state, inode], closed first, then state, then opened. */
function changes(before: SocketRecord[], after: SocketRecord[]): [string, string, number][] {
  const previous = compareLooks(new Map(), before).current;
  const change = compareLooks(previous, after);
  return [
    ...change.closed.map((socket): [string, string, number] => ['closed', socket.state, socket.inode]),
    ...change.changed.map(({ key, previousState }): [string, string, number] => {
      const socket = change.current.get(key)!;
      return ['state', `${previousState} → ${socket.state}`, socket.inode];
    }),
    ...change.opened.map((key): [string, string, number] => ['opened', change.current.get(key)!.state, change.current.get(key)!.inode]),
  ];
}

describe('compareLooks: which sockets of two looks are the same socket', () => {
  const listener = record({ state: 'LISTEN', remoteAddress: '0.0.0.0', remotePort: 0, inode: 7 });

  it.each([
    ['nothing changed', [listener], [listener], []],
    ['a new state, the same inode', [record({})], [record({ state: 'CLOSE_WAIT' })], [['state', 'ESTABLISHED → CLOSE_WAIT', 100]]],
    // close() leaves the socket to the kernel: its inode is 0 from then on, but it is the same connection
    ['the inode gone after close()', [record({})], [record({ state: 'TIME_WAIT', inode: 0, kernelOnly: true })], [['state', 'ESTABLISHED → TIME_WAIT', 0]]],
    // a connection in the accept queue has no inode until accept() gives it a file
    ['an inode given by accept()', [record({ inode: 0, kernelOnly: true })], [record({ inode: 55 })], []],
    [
      'another socket on the same endpoints (another inode)',
      [listener],
      [{ ...listener, inode: 8 }],
      [
        ['closed', 'LISTEN', 7],
        ['opened', 'LISTEN', 8],
      ],
    ],
    [
      'a connection after a TIME_WAIT on its endpoints',
      [record({ state: 'TIME_WAIT', inode: 0, kernelOnly: true })],
      [record({ inode: 0, kernelOnly: true })],
      [
        ['closed', 'TIME_WAIT', 0],
        ['opened', 'ESTABLISHED', 0],
      ],
    ],
    ['one of two SO_REUSEPORT listeners closed', [listener, { ...listener, inode: 9 }], [{ ...listener, inode: 9 }], [['closed', 'LISTEN', 7]]],
    // Windows: no inode, but the owning pid tells two listeners on the same endpoints apart
    [
      'Windows: the same pid, a new state',
      [record({ inode: 0, ownerPid: 40, source: 'iphlpapi' })],
      [record({ inode: 0, ownerPid: 40, source: 'iphlpapi', state: 'CLOSE_WAIT' })],
      [['state', 'ESTABLISHED → CLOSE_WAIT', 0]],
    ],
    [
      'Windows: another pid on the same endpoints',
      [{ ...listener, inode: 0, ownerPid: 40, source: 'iphlpapi' }],
      [{ ...listener, inode: 0, ownerPid: 41, source: 'iphlpapi' }],
      [
        ['closed', 'LISTEN', 0],
        ['opened', 'LISTEN', 0],
      ],
    ],
    // to a reader of the table a UDP socket that connect()ed is another row
    [
      'a UDP socket that connected',
      [record({ protocol: 'udp', state: 'UNCONNECTED', remoteAddress: '0.0.0.0', remotePort: 0 })],
      [record({ protocol: 'udp' })],
      [
        ['closed', 'UNCONNECTED', 100],
        ['opened', 'ESTABLISHED', 100],
      ],
    ],
  ] as const)('%s', (_, before, after, expected) => {
    expect(changes([...before], [...after])).toEqual(expected);
  });

  it('keeps the owners a socket had while a process holds it, and says none once only the kernel does', () => {
    const owned: OwnedSocket = { ...record({}), owner: null, owners: [], ownerUnknown: 'permission' };
    const previous = compareLooks(new Map(), [owned]).current;
    const held = compareLooks(previous, [record({ state: 'CLOSE_WAIT' })]);
    expect(held.current.get([...held.current.keys()][0]!)).toMatchObject({ state: 'CLOSE_WAIT', ownerUnknown: 'permission' });
    const orphaned = compareLooks(previous, [record({ state: 'FIN_WAIT2', inode: 0, kernelOnly: true })]);
    expect([...orphaned.current.values()][0]).toMatchObject({ state: 'FIN_WAIT2', owner: null, owners: [], ownerUnknown: 'kernel' });
  });
});

describe('watchSockets: bad input and aborts', () => {
  it.each([
    [{ interval: 5 }, 'ERR_INVALID_ARGUMENT'],
    [{ interval: Number.NaN }, 'ERR_INVALID_ARGUMENT'],
    [{ signal: {} }, 'ERR_INVALID_ARGUMENT'],
    [{ owners: 'yes' }, 'ERR_INVALID_ARGUMENT'],
  ])('watchSockets({}, %j) rejects its first step with %s', async (options, code) => {
    await expect(watchSockets({}, options as never).next()).rejects.toMatchObject({ code });
  });

  it('rejects a bad filter as listSockets does', async () => {
    await expect(watchSockets({ port: 70000 }).next()).rejects.toMatchObject({ code: 'ERR_INVALID_PORT' });
    await expect(watchSockets({ protocol: 'sctp' as never }).next()).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
  });

  it('rejects with ABORT_ERR, the reason as its cause, when aborted before it starts', async () => {
    const reason = new Error('stop');
    const error = await watchSockets({}, { signal: AbortSignal.abort(reason) })
      .next()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PortclashError);
    expect(error).toMatchObject({ code: 'ABORT_ERR', cause: reason });
  });
});

/** Reads a watch in the background, so that a test can await the event it expects. */
class EventLog<S extends SocketRecord> {
  readonly events: SocketEvent<S>[] = [];
  readonly finished: Promise<unknown>;

  constructor(events: AsyncIterable<SocketEvent<S>>) {
    this.finished = (async () => {
      for await (const event of events) this.events.push(event);
    })().catch((error: unknown) => error);
  }

  next(what: string, match: (event: SocketEvent<S>) => boolean): Promise<SocketEvent<S>> {
    return waitFor(() => this.events.find(match), what);
  }
}

describe.runIf(process.platform === 'linux')('watchSockets on real sockets', () => {
  const pool = new SocketPool();
  const controllers: AbortController[] = [];
  afterEach(async () => {
    for (const controller of controllers.splice(0)) controller.abort();
    vi.restoreAllMocks();
    await pool.closeAll();
  });

  function watch<S extends SocketRecord>(start: (signal: AbortSignal) => AsyncIterable<SocketEvent<S>>): EventLog<S> {
    const controller = new AbortController();
    controllers.push(controller);
    return new EventLog(start(controller.signal));
  }

  it('reports a listener opened after the first look, then closed, from one narrow read per look', async () => {
    const port = await unusedPort();
    const reads = vi.spyOn(platform(), 'readTables');
    const log = watch((signal) => watchSockets({ port, protocol: 'tcp', listening: true }, { interval: 20, signal }));
    const first = await waitFor<SocketTables>(() => reads.mock.results[0]?.value as Promise<SocketTables> | undefined, 'the first look');
    expect(first.sockets).toEqual([]);
    const server = await pool.listen('127.0.0.1', { port });
    const inode = inodeOf(server);
    const opened = await log.next('the listener opened', (event) => event.type === 'opened');
    expect(opened).toMatchObject({ type: 'opened', socket: { localAddress: '127.0.0.1', localPort: port, state: 'LISTEN', inode } });
    expect(opened.at).toBeInstanceOf(Date);
    await new Promise((resolve) => server.close(resolve));
    const closed = await log.next('the listener closed', (event) => event.type === 'closed');
    expect(closed).toMatchObject({ type: 'closed', socket: { localPort: port, state: 'LISTEN', inode } });
    expect(log.events.map((event) => event.type)).toEqual(['opened', 'closed']);
    // every look asked the kernel the one narrow question
    expect(reads.mock.calls).toEqual(reads.mock.calls.map(() => [{ port, protocol: 'tcp', listening: true }, 'auto']));
  });

  it('follows a connection through its states as the kernel takes it: CLOSE_WAIT on one side, FIN_WAIT2 and TIME_WAIT on the other', async () => {
    // half-open allowed, so the accepted end stays in CLOSE_WAIT until the test ends it
    const server = pool.track(net.createServer({ allowHalfOpen: true }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const serverPort = portOf(server);
    const { client, accepted } = await pool.connect(server, '127.0.0.1');
    pool.track(accepted);
    const clientPort = client.localPort!;
    const ours = (event: SocketEvent) => event.socket.remotePort === clientPort || event.socket.remotePort === serverPort;
    const serverSide = watch((signal) => watchSockets({ port: serverPort, protocol: 'tcp' }, { interval: 10, signal }));
    const clientSide = watch((signal) => watchSockets({ port: clientPort, protocol: 'tcp' }, { interval: 10, signal }));
    await serverSide.next('the accepted connection', (event) => event.type === 'present' && event.socket.remotePort === clientPort);
    await clientSide.next('the client connection', (event) => event.type === 'present' && event.socket.remotePort === serverPort);

    client.end();
    const closeWait = await serverSide.next('CLOSE_WAIT', (event) => event.type === 'state' && event.socket.state === 'CLOSE_WAIT');
    expect(closeWait).toMatchObject({ type: 'state', previousState: 'ESTABLISHED', socket: { localPort: serverPort, remotePort: clientPort } });
    accepted.end();
    // the client's socket leaves its file behind for TIME_WAIT (inode 0): still the same socket, a state event
    await clientSide.next('TIME_WAIT', (event) => event.type === 'state' && event.socket.state === 'TIME_WAIT');
    await serverSide.next('the accepted connection gone', (event) => event.type === 'closed' && event.socket.remotePort === clientPort);
    const clientEvents = clientSide.events.filter(ours);
    expect(clientEvents.map((event) => event.type)).toEqual(['present', ...clientEvents.slice(1).map(() => 'state')]);
    expect(clientEvents.at(-1)).toMatchObject({ socket: { state: 'TIME_WAIT', inode: 0, kernelOnly: true } });
    const serverEvents = serverSide.events.filter((event) => event.socket.remotePort === clientPort);
    expect(serverEvents[0]).toMatchObject({ type: 'present', socket: { state: 'ESTABLISHED' } });
    expect(serverEvents.at(-1)?.type).toBe('closed');
    expect(serverEvents.slice(1, -1).every((event) => event.type === 'state')).toBe(true);
  });

  it("names the owner of a socket when it opens, this process's pid, once; a closed event carries it", async () => {
    const port = await unusedPort();
    const reads = vi.spyOn(platform(), 'readTables');
    const lookups = vi.spyOn(platform(), 'findOwners');
    const log = watch((signal) => watchSockets({ port, protocol: 'tcp', listening: true }, { interval: 10, owners: true, signal }));
    await waitFor(() => reads.mock.results[0]?.value as Promise<SocketTables> | undefined, 'the first look');
    const server = await pool.listen('127.0.0.1', { port });
    const opened = await log.next('the listener opened', (event) => event.type === 'opened');
    expect(opened.socket.owner).toMatchObject({ pid: process.pid });
    // a few more looks: the owner is not looked up again
    const looks = reads.mock.calls.length;
    await waitFor(() => (reads.mock.calls.length >= looks + 3 ? true : undefined), 'three more looks');
    expect(lookups.mock.calls.map(([records, options]) => [records.map((socket) => socket.inode), options])).toEqual([[[inodeOf(server)], { scan: 'first' }]]);
    await new Promise((resolve) => server.close(resolve));
    const closed = await log.next('the listener closed', (event) => event.type === 'closed');
    expect(closed.socket.owner).toMatchObject({ pid: process.pid });
  });

  it('ends promptly when aborted while it sleeps, and a break ends it too', async () => {
    const server = await pool.listen('127.0.0.1');
    const port = portOf(server);
    for await (const event of watchSockets({ port, listening: true }, { interval: 60_000 })) {
      expect(event).toMatchObject({ type: 'present', socket: { localPort: port } });
      break;
    }
    const started = Date.now();
    const events: string[] = [];
    const error = await (async () => {
      for await (const event of watchSockets({ port, listening: true }, { interval: 60_000, signal: AbortSignal.timeout(200) })) events.push(event.type);
    })().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ABORT_ERR' });
    expect(events).toEqual(['present']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('keeps nothing per look: no listener stays on the signal between looks, and only the last look is kept', async () => {
    const server = await pool.listen('127.0.0.1');
    const controller = new AbortController();
    controllers.push(controller);
    const ticks = watchTicks({ port: portOf(server), listening: true }, { interval: 10, signal: controller.signal });
    let looks = 0;
    for await (const tick of ticks) {
      // suspended at a yield: the read and the sleep of this look are over, and took their listeners with them
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(tick.sockets.size).toBe(1);
      if (++looks === 20) break;
    }
  });

  it('leaves no timer behind: a process that watched with a long interval exits on its own after a break or an abort', async () => {
    const server = await pool.listen('127.0.0.1');
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      const { watchSockets } = await import(${JSON.stringify(index)});
      const filter = { port: ${portOf(server)}, listening: true };
      for await (const event of watchSockets(filter, { interval: 300000 })) { console.log(event.type); break; }
      const controller = new AbortController();
      try {
        for await (const event of watchSockets(filter, { interval: 300000, owners: true, signal: controller.signal })) {
          console.log(event.type);
          setImmediate(() => controller.abort());
        }
      } catch (error) {
        console.log(error.code);
      }
      console.log('done');
    `;
    // a timer left behind keeps the child alive past the bound, and runCommand rejects
    const { code, signal, stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 20_000 });
    expect({ code, signal, stdout }).toEqual({ code: 0, signal: null, stdout: 'present\npresent\nABORT_ERR\ndone\n' });
  });
});

describe('list --watch: lines and frames', () => {
  const at = new Date(2026, 0, 2, 14, 3, 7);
  const listener = record({ state: 'LISTEN', remoteAddress: '0.0.0.0', remotePort: 0 });

  it.each([
    ['14:03:07 = tcp 127.0.0.1:3000 LISTEN', { type: 'present', at, socket: listener }],
    ['14:03:07 + tcp 127.0.0.1:3000 → 127.0.0.1:40000 ESTABLISHED', { type: 'opened', at, socket: record({}) }],
    ['14:03:07 - tcp 127.0.0.1:3000 LISTEN', { type: 'closed', at, socket: listener }],
    [
      '14:03:07 ~ tcp 127.0.0.1:3000 → 127.0.0.1:40000 ESTABLISHED → CLOSE_WAIT',
      { type: 'state', at, previousState: 'ESTABLISHED', socket: record({ state: 'CLOSE_WAIT' }) },
    ],
    ['14:03:07 + tcp 127.0.0.1:3000 LISTEN node[4121]', { type: 'opened', at, socket: { ...listener, owner: null, owners: [{ pid: 4121, name: 'node' }] } }],
  ] as const)('%s', (line, event) => {
    expect(formatEvent(event as unknown as SocketEvent)).toBe(line);
  });

  it('formats only the sockets the window has room for, and counts the others', () => {
    const sockets = new Map([3003, 3001, 3002, 3000].map((localPort) => [String(localPort), { ...listener, localPort }]));
    const view = { since: at, totals: { opened: 1, closed: 2, changed: 3 }, interval: 1000, rows: 5 };
    expect(describeTick({ at, events: [], sockets }, view)).toEqual([
      '14:03:07  4 sockets (4 LISTEN)  since 14:03:07: 1 opened, 2 closed, 3 changed state  every 1s, Ctrl-C ends',
      '',
      'Proto  Local address:port  Remote address:port  State   UID',
      'tcp    127.0.0.1:3000      0.0.0.0:*            LISTEN  1000',
      '… 3 more sockets: a taller window, or --port or --listening, shows them',
    ]);
    expect(describeTick({ at, events: [], sockets: new Map() }, view).slice(1)).toEqual(['', 'No sockets match.']);
  });

  it('draws over the last frame line by line, cut to the width less one column and to the height', () => {
    const lines = ['header', '', 'a'.repeat(30), 'b', 'c', 'd'];
    expect(renderFrame(lines, { columns: 80, rows: 24 })).toBe(`\x1b[Hheader\x1b[K\n\x1b[K\n${'a'.repeat(30)}\x1b[K\nb\x1b[K\nc\x1b[K\nd\x1b[K\x1b[J`);
    const small = renderFrame(lines, { columns: 11, rows: 4 });
    expect(small.split('\n')).toEqual(['\x1b[Hheader\x1b[K', '\x1b[K', `${'a'.repeat(10)}\x1b[K`, '… 3 more l\x1b[K\x1b[J']);
    // a terminal that says no size (0 × 0) is taken to be 80 × 24
    expect(renderFrame(lines, { columns: 0, rows: 0 })).toBe(renderFrame(lines, { columns: 80, rows: 24 }));
  });
});

/** The CLI, started as users start it, its stdout read a line at a time. */
function startCli(args: string[]): { child: ChildProcessByStdio<null, Readable, Readable>; lines: string[]; stderr: () => string } {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return { child, lines, stderr: () => stderr };
}

async function stop(child: ChildProcessByStdio<null, Readable, Readable>, signal: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null]> {
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

describe('portclash list --watch: usage', () => {
  it.each([
    [['list', '--interval', '1s'], '--interval is the time between looks of --watch'],
    [['list', '--watch', '--interval', '5ms'], '--interval must be at least 10ms'],
    [['list', '--watch', '--interval', 'soon'], '--interval must be a duration'],
  ])('%j is a usage error', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe.runIf(process.platform === 'linux')('portclash list --watch', () => {
  const pool = new SocketPool();
  const children: ChildProcessByStdio<null, Readable, Readable>[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) await stop(child, 'SIGKILL');
    await pool.closeAll();
  });

  it('--json streams an NDJSON event per change, and Ctrl-C ends it with 130 and nothing on stderr', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    const cli = startCli(['list', '--watch', '--json', '--interval', '20ms', '--tcp', '--port', String(port)]);
    children.push(cli.child);
    const events = () => cli.lines.map((line) => JSON.parse(line) as SocketEvent & { at: string });
    await waitFor(() => events().find((event) => event.type === 'present' && event.socket.state === 'LISTEN'), 'the listener, present');
    const { client } = await pool.connect(server, '127.0.0.1');
    const clientPort = client.localPort!;
    const accepted = await waitFor(() => events().find((event) => event.type === 'opened' && event.socket.remotePort === clientPort), 'the connection');
    expect(accepted).toMatchObject({ type: 'opened', socket: { protocol: 'tcp', localAddress: '127.0.0.1', localPort: port, state: 'ESTABLISHED' } });
    expect(new Date(accepted.at).toISOString()).toBe(accepted.at);
    client.destroy();
    await waitFor(() => events().find((event) => event.type === 'closed' && event.socket.remotePort === clientPort), 'the connection closed');
    expect(await stop(cli.child, 'SIGINT')).toEqual([130, null]);
    expect(cli.stderr()).toBe('');
    // every line is one whole event
    expect(events().every((event) => ['present', 'opened', 'closed', 'state'].includes(event.type))).toBe(true);
  });

  it('writes a line per change where stdout is not a terminal, and SIGTERM ends it with 143', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    const cli = startCli(['list', '--watch', '--interval', '20ms', '--listening', '--port', String(port), '--owners']);
    children.push(cli.child);
    const present = await waitFor(() => cli.lines.find((line) => line.includes(' = ')), 'the listener, present');
    expect(present).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d = tcp 127\\.0\\.0\\.1:${port} LISTEN node\\[${process.pid}\\]$`));
    await new Promise((resolve) => server.close(resolve));
    const closed = await waitFor(() => cli.lines.find((line) => line.includes(' - ')), 'the listener closed');
    expect(closed).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d - tcp 127\\.0\\.0\\.1:${port} LISTEN node\\[${process.pid}\\]$`));
    expect(await stop(cli.child, 'SIGTERM')).toEqual([143, null]);
    expect(cli.stderr()).toBe('');
  });

  // util-linux's script gives the CLI a pseudo-terminal, and a ^C written to it is the kernel's SIGINT, as a user's is;
  // without it the test fails (spawn ENOENT): .ci/run installs it
  it('on a real terminal, Ctrl-C leaves the alternate screen, shows the cursor and exits 130', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    const command = `stty cols 120 rows 20; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} list --watch --interval 20ms --port ${port}`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    try {
      await waitFor(() => (output.includes(`127.0.0.1:${port}`) ? true : undefined), 'the first frame');
      child.stdin.write('\x03');
      expect(await exited).toEqual([130, null]);
    } finally {
      clearTimeout(timer);
    }
    expect(output).toContain('\x1b[?1049h\x1b[?25l');
    expect(output.endsWith('\x1b[?25h\x1b[?1049l')).toBe(true);
    expect(output).not.toContain('Error');
  });

  it('on a terminal, draws the table in the alternate screen and restores the terminal when it ends', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    let output = '';
    const io = { stdout: (text: string) => (output += text), stderr: (text: string) => (output += text), terminal: { columns: 140, rows: 20 } };
    const controller = new AbortController();
    const watching = showWatch({ filter: { port, protocol: 'tcp' }, interval: 20, owners: false, json: false }, io, controller.signal).catch(
      (error: unknown) => error,
    );
    await waitFor(() => (output.includes(`127.0.0.1:${port}`) ? true : undefined), 'the first frame');
    controller.abort();
    expect(await watching).toMatchObject({ code: 'ABORT_ERR' });
    expect(output.startsWith('\x1b[?1049h\x1b[?25l\x1b[H')).toBe(true);
    expect(output.endsWith('\x1b[J\x1b[?25h\x1b[?1049l')).toBe(true);
    const frame = output.slice(output.indexOf('\x1b[H') + 3, output.indexOf('\x1b[J')).split('\x1b[K\n');
    expect(frame[0]).toMatch(
      /^\d\d:\d\d:\d\d {2}1 socket \(1 LISTEN\) {2}since \d\d:\d\d:\d\d: 0 opened, 0 closed, 0 changed state {2}every 20ms, Ctrl-C ends$/,
    );
    expect(frame[1]).toBe('');
    expect(frame[2]).toMatch(/^Proto +Local address:port +Remote address:port +State +UID$/);
    expect(frame[3]).toMatch(new RegExp(`^tcp +127\\.0\\.0\\.1:${port} +0\\.0\\.0\\.0:\\* +LISTEN +${process.getuid!()}\x1b\\[K$`));
  });
});
