// Ephemeral ports: the range read in a namespace, and exhaustion caught before connect() fails.
import { afterEach, describe, expect, it } from 'vitest';

import { buildReport } from '../lib/linux/ephemeral.js';
import type { SocketRecord } from '../lib/records.js';
import { CLI, runCli } from './helpers/cli.js';
import { createNetns, holdSockets, type Holder, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('ephemeral.test: the exhaustion scenario and the service-name commands need root (a network namespace) and are skipped');

const tcp = (localPort: number, remotePort: number, state: SocketRecord['state'], remoteAddress = '127.0.0.1'): SocketRecord => ({
  protocol: 'tcp',
  family: 'IPv4',
  localAddress: '127.0.0.1',
  localPort,
  remoteAddress,
  remotePort,
  state,
  uid: 0,
  inode: 1,
  kernelOnly: false,
  source: 'sock_diag',
});

describe('buildReport', () => {
  it('groups outgoing connections by destination, leaving out accepted ones and ports held by bind()', () => {
    const range = { low: 40000, high: 40009, size: 10 };
    const sockets = [
      tcp(5000, 0, 'LISTEN'),
      tcp(40000, 5000, 'ESTABLISHED'),
      tcp(40001, 5000, 'ESTABLISHED'),
      tcp(40002, 5000, 'TIME_WAIT'),
      tcp(5000, 40000, 'ESTABLISHED'), // the accepted end: local port 5000, outside the range
      tcp(40005, 0, 'LISTEN'), // a server inside the range: connect() skips its port
      tcp(40005, 40007, 'ESTABLISHED'), // accepted by that server: not outgoing
      tcp(40007, 40005, 'ESTABLISHED'),
      tcp(40008, 443, 'SYN_SENT', '192.0.2.9'),
    ];
    const report = buildReport(sockets, range, [[40009, 40009]]);
    expect(report).toMatchObject({ boundInRange: 1, outgoing: 5, timeWait: 1 });
    expect(report.destinations.map((d) => [d.remoteAddress, d.remotePort, d.connections, d.timeWait, d.available])).toEqual([
      ['127.0.0.1', 5000, 3, 1, 8],
      ['127.0.0.1', 40005, 1, 0, 8],
      ['192.0.2.9', 443, 1, 0, 8],
    ]);
    expect(report.warnings).toEqual([]);
    const busy = buildReport([...sockets, tcp(40003, 5000, 'ESTABLISHED'), tcp(40004, 5000, 'TIME_WAIT'), tcp(40006, 5000, 'ESTABLISHED')], range, [
      [40009, 40009],
    ]);
    expect(busy.destinations[0]).toMatchObject({ connections: 6, usage: 0.75 });
    // a 4-tuple needs only to differ: 40007 serves this destination too
    const more = [
      tcp(40003, 5000, 'ESTABLISHED'),
      tcp(40004, 5000, 'TIME_WAIT'),
      tcp(40006, 5000, 'ESTABLISHED'),
      tcp(40009, 5000, 'ESTABLISHED'),
      tcp(40007, 5000, 'ESTABLISHED'),
    ];
    const full = buildReport([...sockets, ...more], range, []);
    expect(full.warnings).toHaveLength(1);
    expect(full.warnings[0]).toMatch(/^127\.0\.0\.1 → 127\.0\.0\.1:5000 uses 8 of 9 ephemeral ports \(89%, 2 in TIME_WAIT\)/);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('ephemeral ports in a namespace', () => {
  let netns: Netns | undefined;
  afterEach(async () => {
    await netns?.close();
    netns = undefined;
  });

  it('reads a narrowed range, and reports a destination near exhaustion before connect() fails', async () => {
    netns = await createNetns();
    expect((await netns.run('sysctl', ['-w', 'net.ipv4.ip_local_port_range=40000 40049'])).code).toBe(0);
    const dist = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      const net = require('node:net');
      import(${JSON.stringify(dist)}).then(async (portclash) => {
        const server = net.createServer((socket) => socket.on('error', () => {})).listen(5000, '127.0.0.1');
        await new Promise((resolve) => server.once('listening', resolve));
        const connect = () => new Promise((resolve) => {
          const socket = net.connect(5000, '127.0.0.1');
          socket.once('connect', () => resolve({ socket })).once('error', (error) => resolve({ error }));
        });
        const held = [];
        for (let i = 0; i < 45; i++) held.push((await connect()).socket);
        const report = await portclash.ephemeralReport();
        const range = (await import(${JSON.stringify(new URL('../dist/linux/ranges.js', import.meta.url).href)})).readEphemeralRange();
        let failure;
        for (let i = 0; i < 20 && failure === undefined; i++) {
          const result = await connect();
          if (result.error) failure = { after: held.length, code: result.error.code };
          else held.push(result.socket);
        }
        console.log(JSON.stringify({ range, report, failure }));
        process.exit(0);
      });`;
    const result = await netns.runNode(['-e', script], { timeoutMs: 20_000 });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const { range, report, failure } = JSON.parse(result.stdout) as {
      range: unknown;
      report: { destinations: unknown[]; warnings: string[] };
      failure: unknown;
    };
    expect(range).toEqual({ low: 40000, high: 40049, size: 50 });
    expect(report.destinations[0]).toMatchObject({
      localAddress: '127.0.0.1',
      remoteAddress: '127.0.0.1',
      remotePort: 5000,
      connections: 45,
      available: 50,
      usage: 0.9,
    });
    expect(report.warnings[0]).toMatch(/uses 45 of 50 ephemeral ports \(90%.*EADDRNOTAVAIL/);
    // and the kernel agrees: the destination ran out exactly where the report said it would
    expect(failure).toEqual({ after: 50, code: 'EADDRNOTAVAIL' });

    const cli = await netns.runNode([new URL('../dist/cli/launcher.cjs', import.meta.url).pathname, 'ephemeral']);
    expect(cli.code).toBe(0); // the script's connections are gone with it
    expect(cli.stdout).toMatch(/^Ephemeral range: 40000–40049 \(50 ports\)/);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('portclash info and service names, in a namespace with holders of its own', () => {
  // The well-known ports asked about here are the host's: there other processes hold them, and asking
  // would read their sockets. In a namespace the test made, the only holders are the test's.
  let netns: Netns | undefined;
  let holder: Holder | undefined;
  afterEach(async () => {
    await holder?.close();
    await netns?.close();
    holder = netns = undefined;
  });

  async function withHolders(): Promise<{ netns: Netns; holder: Holder }> {
    netns = await createNetns();
    holder = await holdSockets(
      [
        { protocol: 'tcp', family: 4, address: '0.0.0.0', port: 22, listen: true },
        { protocol: 'tcp', family: 6, address: '::', port: 80, ipv6Only: false, listen: true },
        { protocol: 'udp', family: 4, address: '127.0.0.1', port: 53 },
        { protocol: 'tcp', family: 4, address: '127.0.0.1', port: 8080, listen: true },
      ],
      { netns: netns.path },
    );
    holder.sockets.forEach((_socket, index) => holder!.socket(index)); // throws naming any that failed
    return { netns, holder };
  }

  const cli = (inside: Netns, args: string[]) => inside.runNode([CLI, ...args]);

  it('describes a port by number or service name', async () => {
    const { netns, holder } = await withHolders();
    const byName = await cli(netns, ['info', 'ssh', '--json']);
    expect(byName).toMatchObject({ code: 0, stderr: '' });
    const info = JSON.parse(byName.stdout) as { services: unknown[]; prediction: unknown };
    expect(info).toMatchObject({ port: 22, service: 'ssh', class: { class: 'well-known' }, bsdClass: 'privileged', ephemeral: { inRange: false } });
    expect(info.services[0]).toMatchObject({ name: 'ssh', port: 22, protocol: 'tcp' });
    expect(info.prediction).toMatchObject({
      port: 22,
      protocol: 'tcp',
      verdict: 'in-use',
      errno: 'EADDRINUSE',
      conflicts: [
        expect.objectContaining({
          localAddress: '0.0.0.0',
          localPort: 22,
          state: 'LISTEN',
          inode: holder.socket(0).inode,
          owner: expect.objectContaining({ pid: holder.pid }),
        }),
      ],
    });
    const human = await cli(netns, ['info', '22']);
    expect(human.stdout).toMatch(/^Port 22 — ssh\n {2}services: {3}ssh 22\/tcp/);
    expect(human.stdout).toContain(`(pid ${holder.pid}`);
  });

  it('takes service names wherever a port goes, and refuses unknown ones with exit 2', async () => {
    const { netns, holder } = await withHolders();
    const http = await cli(netns, ['check', 'http', '--json']);
    expect(http.code).toBe(1);
    expect(JSON.parse(http.stdout)).toMatchObject({
      port: 80,
      protocol: 'tcp',
      verdict: 'in-use',
      conflicts: [
        expect.objectContaining({ localAddress: '::', localPort: 80, inode: holder.socket(1).inode, owner: expect.objectContaining({ pid: holder.pid }) }),
      ],
    });
    const httpAlt = await cli(netns, ['list', '--json', '--port', 'http-alt']);
    expect(httpAlt.code).toBe(0);
    expect(JSON.parse(httpAlt.stdout)).toEqual([
      expect.objectContaining({ localAddress: '127.0.0.1', localPort: 8080, state: 'LISTEN', inode: holder.socket(3).inode }),
    ]);
    const domain = await cli(netns, ['who', '--json', 'domain/udp']);
    expect(domain).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(domain.stdout)).toEqual([
      expect.objectContaining({
        protocol: 'udp',
        localAddress: '127.0.0.1',
        localPort: 53,
        inode: holder.socket(2).inode,
        owner: expect.objectContaining({ pid: holder.pid }),
      }),
    ]);
    const unknown = await runCli(['check', 'no-such-service']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^portclash: ERR_UNKNOWN_SERVICE: no tcp service named 'no-such-service'/);
  });
});
