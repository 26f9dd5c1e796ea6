// What only sock_diag shows — V6ONLY, bound devices, bound-but-idle sockets — and the fallback to /proc.
import { afterEach, describe, expect, it } from 'vitest';

import { listSockets, readSocketTables, type SocketRecord } from '../lib/index.js';
import { CLI } from './helpers/cli.js';
import { compileHelper, createNetns, holdSockets, runCommand, type Holder, type Netns } from './helpers/holders.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('sock-diag.test: the network-namespace test needs root and is skipped');

const FIVE_TUPLE = (socket: SocketRecord) =>
  `${socket.protocol} ${socket.localAddress} ${socket.localPort} ${socket.remoteAddress} ${socket.remotePort} ${socket.state}`;

describe.runIf(process.platform === 'linux')('sock_diag', () => {
  const pool = new SocketPool();
  const opened: Array<Holder | Netns> = [];
  afterEach(async () => {
    await pool.closeAll();
    for (const resource of opened.splice(0).reverse()) await resource.close();
  });

  it('says whether an IPv6 wildcard takes IPv4 too (IPV6_V6ONLY)', async () => {
    const dual = await pool.listen('::');
    const v6only = await pool.listen('::', { ipv6Only: true });
    const sockets = await listSockets({ protocol: 'tcp', listening: true });
    expect(sockets.find((socket) => socket.inode === inodeOf(dual))).toMatchObject({ localAddress: '::', ipv6Only: false });
    expect(sockets.find((socket) => socket.inode === inodeOf(v6only))).toMatchObject({ localAddress: '::', ipv6Only: true });
    // /proc cannot tell them apart, so it does not pretend to
    const fromProc = await listSockets({ protocol: 'tcp', listening: true }, { source: 'proc' });
    expect(fromProc.find((socket) => socket.inode === inodeOf(v6only))).not.toHaveProperty('ipv6Only');
  });

  it('shows a TCP socket that is bound but neither listening nor connected as BOUND', async () => {
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1' }]);
    opened.push(holder);
    const held = holder.socket(0);
    // Another socket on the machine may have the same port number on another address (a port 0 bind
    // gives out numbers other addresses use): look at the holder's socket, and at the filter.
    const ours = (tables: { sockets: SocketRecord[] }) => {
      expect(tables.sockets.every((socket) => socket.protocol === 'tcp' && socket.localPort === held.localPort)).toBe(true);
      return tables.sockets.filter((socket) => socket.inode === held.inode);
    };
    const { sockets, sources } = await readSocketTables({ port: held.localPort, protocol: 'tcp' });
    expect(ours({ sockets })).toEqual([
      expect.objectContaining({
        protocol: 'tcp',
        family: 'IPv4',
        localAddress: '127.0.0.1',
        localPort: held.localPort,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: 'BOUND',
        uid: holder.uid,
        inode: held.inode,
        kernelOnly: false,
        source: 'sock_diag',
      }),
    ]);
    const tcpSources = sources.filter((source) => source.protocol === 'tcp');
    expect(tcpSources.map((source) => source.family)).toEqual(['IPv4', 'IPv6']);
    expect(tcpSources.every((source) => source.seesBoundSockets === true)).toBe(true);

    // neither /proc/net/tcp nor a listening-only question sees it, and the reports say so
    const fromProc = await readSocketTables({ port: held.localPort, protocol: 'tcp' }, { source: 'proc' });
    expect(ours(fromProc)).toEqual([]);
    expect(fromProc.sources).toHaveLength(2);
    expect(fromProc.sources.every((source) => source.seesBoundSockets === false)).toBe(true);
    const listening = await readSocketTables({ port: held.localPort, protocol: 'tcp', listening: true });
    expect(ours(listening)).toEqual([]);
    expect(listening.sources).toHaveLength(2);
    expect(listening.sources.every((source) => source.seesBoundSockets === false)).toBe(true);
  });

  it('gives the same five-tuples as /proc for the same sockets', async () => {
    const v4 = await pool.listen('127.0.0.1');
    const dual = await pool.listen('::');
    await pool.connect(v4, '127.0.0.1');
    await pool.connect(dual, '127.0.0.1');
    await pool.connect(dual, '::1');
    await pool.udp('udp6', '::1');
    const inodes = pool.inodes();
    const ours = (sockets: SocketRecord[]) =>
      sockets
        .filter((socket) => inodes.has(socket.inode))
        .map(FIVE_TUPLE)
        .sort();

    const fromSockDiag = ours(await listSockets({}, { source: 'sock_diag' }));
    const fromProc = ours(await listSockets({}, { source: 'proc' }));
    expect(fromSockDiag).toHaveLength(9); // two listeners, three connections seen from both ends, one UDP socket
    expect(fromSockDiag).toEqual(fromProc);
  });

  it.runIf(isRoot)('names the device of a socket bound with SO_BINDTODEVICE, inside a namespace of its own', async () => {
    const netns = await createNetns();
    opened.push(netns);
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', bindToDevice: 'lo', listen: true }], { netns: netns.path });
    opened.push(holder);
    const held = holder.socket(0);

    const result = await netns.runNode([CLI, 'list', '--json', '--port', String(held.localPort)]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual([
      expect.objectContaining({
        localAddress: '127.0.0.1',
        localPort: held.localPort,
        state: 'LISTEN',
        inode: held.inode,
        boundDevice: 'lo',
        boundDeviceIndex: 1,
      }),
    ]);
    // and the namespace is the test's own: this one does not see that socket
    expect((await listSockets({ port: held.localPort })).filter((socket) => socket.inode === held.inode)).toEqual([]);
  });

  it('falls back to /proc where seccomp refuses netlink, and says so in each record', async () => {
    // alone on its port, so that the listing holds this one record
    const server = await pool.listenAlone('127.0.0.1');
    const noNetlink = compileHelper('no_netlink');

    const fallback = await runCommand(noNetlink, [process.execPath, CLI, 'list', '--json', '--port', String(portOf(server))]);
    expect(fallback).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(fallback.stdout)).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv4',
        localAddress: '127.0.0.1',
        localPort: portOf(server),
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: 'LISTEN',
        uid: process.getuid!(),
        inode: inodeOf(server),
        kernelOnly: false,
        source: 'proc',
      },
    ]);

    const script = `import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then((portclash) => portclash.listSockets({}, { source: 'sock_diag' })).then(() => console.log('no error'), (error) => console.log(error.code, error.syscall))`;
    const insisted = await runCommand(noNetlink, [process.execPath, '-e', script]);
    expect(insisted.stdout.trim()).toBe('EPERM socket');
  });
});
