// The `portclash` command as scripts use it: output formats, exit codes, one-line errors.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';

import type { SocketRecord } from '../lib/index.js';
import { ownCgroupId } from './helpers/cgroup.js';
import { runCli } from './helpers/cli.js';
import { inodeOf, portOf, SocketPool, unusedPort } from './helpers/sockets.js';

describe('portclash usage errors', () => {
  it.each([
    [['list', '--port', '70000'], 'ERR_INVALID_PORT'],
    [['list', '--port', 'abc'], 'ERR_UNKNOWN_SERVICE'], // a name, but no service has it
    [['list', '--port', '8-0'], 'ERR_INVALID_PORT'],
    [['list', '--port', '-1'], 'ERR_USAGE'],
    [['list', '--port'], 'ERR_USAGE'],
    [['list', '--bogus'], 'ERR_USAGE'],
    [['list', 'extra'], 'ERR_USAGE'],
    [['frobnicate'], 'ERR_USAGE'],
    [['wait', '3000', '--timeout', '5x'], 'ERR_USAGE'],
    [['wait', '3000', '--timeout', '-1s'], 'ERR_USAGE'],
    [['wait', '3000', '--interval', '1ms'], 'ERR_INVALID_ARGUMENT'],
    [['wait'], 'ERR_USAGE'],
    [['wait', '70000'], 'ERR_INVALID_PORT'],
    [['wait', '3000/sctp'], 'ERR_INVALID_PORT'],
  ])('%j → exit 2 with %s on one line of stderr', async (args, code) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^portclash: ${code}: .+\\n$`));
  });

  it('prints help for the tool and for each command', async () => {
    const main = await runCli(['--help']);
    expect(main).toMatchObject({ code: 0, stderr: '' });
    expect(main.stdout).toMatch(/^Usage: portclash <command>/);
    for (const args of [
      ['list', '--help'],
      ['list', '-h'],
      ['help', 'list'],
    ]) {
      const result = await runCli(args);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^Usage: portclash list /);
    }
    expect((await runCli([])).code).toBe(2);
  });
});

describe.runIf(process.platform === 'linux')('portclash list', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  // These ask about a whole port, so each test's listener is alone on its port: a port 0 bind may get
  // a number that a socket on another address, or in the other protocol, already has.
  it('prints the records of --json for the sockets this test holds', async () => {
    const server = await pool.listenAlone('::1');
    const result = await runCli(['list', '--json', '--tcp', '--port', String(portOf(server))]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv6',
        localAddress: '::1',
        localPort: portOf(server),
        remoteAddress: '::',
        remotePort: 0,
        state: 'LISTEN',
        uid: process.getuid!(),
        inode: inodeOf(server),
        kernelOnly: false,
        source: 'sock_diag',
        ipv6Only: true,
        cgroupId: ownCgroupId(),
        classId: 0,
      },
    ]);
  });

  it('prints an aligned table with IPv6 in brackets', async () => {
    const server = await pool.listenAlone('::1');
    const port = portOf(server);
    const { client } = await pool.connect(server, '::1');
    const result = await runCli(['list', '--port', String(port)]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Proto\s+Local address:port\s+Remote address:port\s+State\s+UID$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/))).toEqual([
      ['tcp6', `[::1]:${port}`, '[::]:*', 'LISTEN', String(process.getuid!())],
      ['tcp6', `[::1]:${port}`, `[::1]:${client.localPort}`, 'ESTABLISHED', String(process.getuid!())],
    ]);
    // columns line up: every row starts its second column where the header does
    const column = lines[0]!.indexOf('Local');
    expect(lines.every((line) => line[column - 1] === ' ' && line[column] !== ' ')).toBe(true);
  });

  it('says so when nothing matches, and --listening leaves out connections', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const { client } = await pool.connectAlone(server, '127.0.0.1');
    const none = await runCli(['list', '--listening', '--port', String(client.localPort)]);
    expect(none).toMatchObject({ code: 0, stdout: 'No sockets match.\n' });
    const udpOnly = await runCli(['list', '--udp', '--json', '--port', String(portOf(server))]);
    expect(JSON.parse(udpOnly.stdout)).toEqual([]);
    // and the same question in TCP finds the listener: the empty answers above are the filters' doing
    const tcpOnly = await runCli(['list', '--tcp', '--listening', '--json', '--port', String(portOf(server))]);
    expect((JSON.parse(tcpOnly.stdout) as SocketRecord[]).map((socket) => socket.inode)).toEqual([inodeOf(server)]);
  });

  it('agrees with ss -tuanH on every socket this test made', async () => {
    const listeners = [await pool.listen('127.0.0.1'), await pool.listen('::1'), await pool.listen('::')];
    // the pool knows their inodes: isOurs finds them below
    await pool.udp('udp4', '127.0.0.1');
    await pool.udp('udp6', '::1');
    await pool.connect(listeners[0]!, '127.0.0.1');
    await pool.connect(listeners[2]!, '127.0.0.1');
    // Other test files run in parallel and earlier connections linger in TIME_WAIT, so port numbers
    // may match sockets that are not ours (a listener on another address, a UDP socket with the same
    // number, a bound-only socket ss does not show): select by inode, which ss -e prints too.
    const inodes = pool.inodes();
    const isOurs = (socket: { inode: number }) => inodes.has(socket.inode);

    const listed = JSON.parse((await runCli(['list', '--json'])).stdout) as SocketRecord[];
    // the whole machine's sockets: more than execFileSync's default 1 MB on a busy one
    const ssOutput = execFileSync('ss', ['-tuanHe'], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });

    const fromPortclash = listed
      .filter(isOurs)
      .map((socket) => [socket.protocol, ssState(socket.state), socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort].join(' '))
      .sort();
    const fromSs = ssOutput
      .trim()
      .split('\n')
      .map(parseSsLine)
      .filter(isOurs)
      .map((socket) => [socket.protocol, socket.state, socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort].join(' '))
      .sort();
    expect(fromPortclash.length).toBe(9);
    expect(fromPortclash).toEqual(fromSs);
  });
});

const SS_STATES: Record<string, string> = {
  ESTABLISHED: 'ESTAB',
  SYN_SENT: 'SYN-SENT',
  SYN_RECV: 'SYN-RECV',
  FIN_WAIT1: 'FIN-WAIT-1',
  FIN_WAIT2: 'FIN-WAIT-2',
  TIME_WAIT: 'TIME-WAIT',
  CLOSE: 'UNCONN',
  CLOSE_WAIT: 'CLOSE-WAIT',
  LAST_ACK: 'LAST-ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
  UNCONNECTED: 'UNCONN',
};

function ssState(state: string): string {
  return SS_STATES[state] ?? state;
}

/** One line of `ss -tuanHe`: netid state recv-q send-q local peer, then details with `ino:<inode>`. */
function parseSsLine(line: string) {
  const [protocol, state, , , local, peer] = line.trim().split(/\s+/) as [string, string, string, string, string, string];
  const [localAddress, localPort] = splitEndpoint(local);
  const [remoteAddress, remotePort] = splitEndpoint(peer);
  const inode = Number(/ ino:(\d+)/.exec(line)?.[1] ?? 0);
  return { protocol, state, localAddress, localPort, remoteAddress, remotePort, inode };
}

/** ss writes `[v6]:port`, `v4:port`, and `*` for the dual-stack wildcard `::` and for no port. */
function splitEndpoint(endpoint: string): [string, number] {
  const colon = endpoint.lastIndexOf(':');
  let address = endpoint.slice(0, colon);
  const port = endpoint.slice(colon + 1);
  if (address.startsWith('[')) address = address.slice(1, -1);
  if (address === '*') address = '::';
  return [address.replace(/%.*$/, ''), port === '*' ? 0 : Number(port)];
}

describe.runIf(process.platform === 'linux')('portclash wait', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  // that the wait sees a listener opened after it began is test/wait.test.ts's; here: the line and the exit code
  it('exits 0 with one line naming the listener, once something listens', async () => {
    const port = await unusedPort();
    const waiting = runCli(['wait', String(port), '--host', '127.0.0.1', '--timeout', '10s', '--interval', '20ms']);
    await pool.listen('127.0.0.1', { port });
    const result = await waiting;
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(new RegExp(`^${port}/tcp listening — \\S.* \\(pid ${process.pid}\\) on 127\\.0\\.0\\.1:${port}\\n$`));
  });

  it('exits 5 on timeout, the reason on stderr, and 0 for --free on a free port', async () => {
    const port = await unusedPort();
    const timedOut = await runCli(['wait', String(port), '--timeout', '200ms']);
    expect(timedOut).toEqual({
      code: 5,
      stdout: '',
      stderr: `portclash: ERR_TIMEOUT: nothing listened on ${port}/tcp within 200 ms: no socket listens on that port\n`,
    });
    expect(await runCli(['wait', `${port}/tcp`, '--free', '--timeout', '1s'])).toEqual({ code: 0, stdout: `${port}/tcp free\n`, stderr: '' });

    await pool.listen('127.0.0.1', { port });
    const held = await runCli(['wait', String(port), '--free', '--timeout', '0.2']);
    expect(held.code).toBe(5);
    expect(held.stderr).toMatch(
      new RegExp(
        `^portclash: ERR_TIMEOUT: ${port}/tcp on :: was not free within 200 ms: in-use .*; held by \\S.* \\(pid ${process.pid}\\) on 127\\.0\\.0\\.1:${port}\\n$`,
      ),
    );
  });

  it('prints the listeners as JSON with --json', async () => {
    const server = await pool.listen('::1', { port: await unusedPort() });
    const result = await runCli(['wait', String(portOf(server)), '--host', '::1', '--json', '--timeout', '5s']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toMatchObject({
      until: 'listening',
      port: portOf(server),
      protocol: 'tcp',
      addresses: ['::1'],
      listeners: [{ inode: inodeOf(server) }],
    });
  });
});
