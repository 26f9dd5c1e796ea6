// listSockets against the real kernel: sockets this test opens must come back exactly.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import { listSockets, listSocketsSync, type SocketRecord, type SocketSource } from '../lib/index.js';
import { ownCgroupId } from './helpers/cgroup.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

const uid = process.getuid?.() ?? -1;

type Tuple = Pick<SocketRecord, 'protocol' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>;

/** What every source reports, and whether sock_diag will also say IPV6_V6ONLY. */
type Expected = Omit<SocketRecord, 'source' | 'ipv6Only' | 'cgroupId' | 'kernelOnly'> & { v6only?: boolean };

/**
 * Asserts that exactly one socket has the expected five-tuple and that it is exactly the record
 * the source gives: sock_diag adds V6ONLY (IPv6 listeners and unconnected UDP) and the cgroup id
 * (every socket a process holds, not TIME_WAIT). Only a TIME_WAIT is held by no process here.
 */
function expectSocket(sockets: SocketRecord[], source: SocketSource, { v6only, ...fields }: Expected): void {
  const base = { ...fields, kernelOnly: fields.state === 'TIME_WAIT' };
  const expected: SocketRecord =
    source === 'proc'
      ? { ...base, source }
      : {
          ...base,
          source,
          ...(v6only === undefined ? {} : { ipv6Only: v6only }),
          ...(base.state === 'TIME_WAIT' ? {} : { cgroupId: ownCgroupId(), classId: 0 }),
        };
  expect(findOne(sockets, expected), `a socket ${JSON.stringify(expected)}`).toEqual(expected);
}

function findOne(sockets: SocketRecord[], tuple: Tuple): SocketRecord | undefined {
  const found = sockets.filter(
    (socket) =>
      socket.protocol === tuple.protocol &&
      socket.localAddress === tuple.localAddress &&
      socket.localPort === tuple.localPort &&
      socket.remoteAddress === tuple.remoteAddress &&
      socket.remotePort === tuple.remotePort,
  );
  expect(found.length, `exactly one socket ${JSON.stringify(tuple)}`).toBeLessThanOrEqual(1);
  return found[0];
}

describe.runIf(process.platform === 'linux').each(['sock_diag', 'proc'] as const)('listSockets from %s on the real kernel', (source) => {
  const list = (filter: Parameters<typeof listSockets>[0]) => listSockets(filter, { source });
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('finds TCP listeners on 127.0.0.1, ::1 and dual-stack ::', async () => {
    const v4 = await pool.listen('127.0.0.1');
    const v6 = await pool.listen('::1');
    const dual = await pool.listen('::');
    const sockets = await list({ protocol: 'tcp' });

    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: portOf(v4),
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'LISTEN',
      uid,
      inode: inodeOf(v4),
    });
    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv6',
      localAddress: '::1',
      localPort: portOf(v6),
      remoteAddress: '::',
      remotePort: 0,
      state: 'LISTEN',
      uid,
      inode: inodeOf(v6),
      v6only: true, // a specific IPv6 address implies V6ONLY
    });
    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv6',
      localAddress: '::',
      localPort: portOf(dual),
      remoteAddress: '::',
      remotePort: 0,
      state: 'LISTEN',
      uid,
      inode: inodeOf(dual),
      v6only: false,
    });
  });

  it('finds both ends of an established loopback connection', async () => {
    const server = await pool.listen('127.0.0.1');
    const { client, accepted } = await pool.connect(server, '127.0.0.1');
    const sockets = await list({ protocol: 'tcp', family: 'IPv4' });
    const serverPort = portOf(server);

    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: client.localPort!,
      remoteAddress: '127.0.0.1',
      remotePort: serverPort,
      state: 'ESTABLISHED',
      uid,
      inode: inodeOf(client),
    });
    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: serverPort,
      remoteAddress: '127.0.0.1',
      remotePort: client.localPort!,
      state: 'ESTABLISHED',
      uid,
      inode: inodeOf(accepted),
    });
  });

  it('shows an IPv4 peer of a dual-stack listener as a v4-mapped address, as Node does', async () => {
    const server = await pool.listen('::');
    const { client, accepted } = await pool.connect(server, '127.0.0.1');
    expect(accepted.localAddress).toBe('::ffff:127.0.0.1');
    const sockets = await list({ port: portOf(server) });

    expectSocket(sockets, source, {
      protocol: 'tcp',
      family: 'IPv6',
      localAddress: '::ffff:127.0.0.1',
      localPort: portOf(server),
      remoteAddress: '::ffff:127.0.0.1',
      remotePort: client.localPort!,
      state: 'ESTABLISHED',
      uid,
      inode: inodeOf(accepted),
    });
  });

  it('finds the TIME_WAIT left by the side that closed first, held by no file', async () => {
    const server = await pool.listen('127.0.0.1');
    const clientPort = await pool.leaveTimeWait(server, '127.0.0.1');

    const tuple = { protocol: 'tcp', localAddress: '127.0.0.1', localPort: clientPort, remoteAddress: '127.0.0.1', remotePort: portOf(server) } as const;
    const record = await waitFor(async () => findOne(await list({ port: clientPort }), tuple), 'the TIME_WAIT row');
    expect(record).toEqual({ ...tuple, family: 'IPv4', state: 'TIME_WAIT', uid: 0, inode: 0, kernelOnly: true, source });
  });

  it('finds a bound UDP socket and a connected one', async () => {
    const bound = await pool.udp('udp4', '127.0.0.1');
    const bound6 = await pool.udp('udp6', '::1');
    const connected = await pool.udp('udp4', '127.0.0.1');
    connected.connect(portOf(bound), '127.0.0.1');
    await once(connected, 'connect');
    const sockets = listSocketsSync({ protocol: 'udp' }, { source });

    expectSocket(sockets, source, {
      protocol: 'udp',
      family: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: portOf(bound),
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'UNCONNECTED',
      uid,
      inode: inodeOf(bound),
    });
    expectSocket(sockets, source, {
      protocol: 'udp',
      family: 'IPv6',
      localAddress: '::1',
      localPort: portOf(bound6),
      remoteAddress: '::',
      remotePort: 0,
      state: 'UNCONNECTED',
      uid,
      inode: inodeOf(bound6),
      v6only: true,
    });
    expectSocket(sockets, source, {
      protocol: 'udp',
      family: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: portOf(connected),
      remoteAddress: '127.0.0.1',
      remotePort: portOf(bound),
      state: 'ESTABLISHED',
      uid,
      inode: inodeOf(connected),
    });
  });

  it('filters by protocol, family, listening and port', async () => {
    const server = await pool.listen('::');
    const { client, accepted } = await pool.connect(server, '::1');
    const port = portOf(server);
    // a UDP socket on the listener's port number, so that the protocol filter has something to leave out
    const udp = await pool.udpOn(port, '::1');
    const udp4 = await pool.udp('udp4', '127.0.0.1');
    // Other sockets on the machine (a UDP socket of another test file, or this one's) may share the
    // port number: the filters are checked on every record, and the test's own sockets by inode.
    const inodes = pool.inodes();
    const ours = (sockets: SocketRecord[]) => sockets.filter((socket) => inodes.has(socket.inode));

    const onPort = await list({ port });
    expect(
      ours(onPort)
        .map((socket) => socket.inode)
        .sort(),
    ).toEqual([inodeOf(server), inodeOf(accepted), inodeOf(udp)].sort());
    expect(onPort.every((socket) => socket.localPort === port)).toBe(true);

    const listening = await list({ listening: true });
    expect(
      ours(listening)
        .map((socket) => socket.inode)
        .sort(),
    ).toEqual([inodeOf(server), inodeOf(udp), inodeOf(udp4)].sort());
    expect(listening.every((socket) => socket.state === 'LISTEN' || socket.state === 'UNCONNECTED')).toBe(true);
    expect(listening.some((socket) => socket.inode === inodeOf(client))).toBe(false);

    // each filtered listing holds exactly the test's sockets that match, so no check below runs on an empty list
    const udpOnly = await list({ protocol: 'udp' });
    expect(
      ours(udpOnly)
        .map((socket) => socket.inode)
        .sort(),
    ).toEqual([inodeOf(udp), inodeOf(udp4)].sort());
    expect(udpOnly.every((socket) => socket.protocol === 'udp')).toBe(true);
    const v4Only = await list({ family: 'IPv4' });
    expect(ours(v4Only).map((socket) => socket.inode)).toEqual([inodeOf(udp4)]);
    expect(v4Only.every((socket) => socket.family === 'IPv4')).toBe(true);
    const udpOnPort = await list({ protocol: 'udp', port });
    expect(ours(udpOnPort).map((socket) => socket.inode)).toEqual([inodeOf(udp)]);
    expect(udpOnPort.every((socket) => socket.protocol === 'udp' && socket.localPort === port)).toBe(true);
  });

  it('gives the same records from the async and sync calls', async () => {
    // alone on its port, so that nothing but this listener is in either answer
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    const asynchronous = await list({ port });
    expect(asynchronous.map((socket) => socket.inode)).toEqual([inodeOf(server)]);
    expect(asynchronous).toEqual(listSocketsSync({ port }, { source }));
  });

  it('rejects a bad filter with a stable code', async () => {
    await expect(listSockets({ port: 70000 })).rejects.toMatchObject({ code: 'ERR_INVALID_PORT' });
    await expect(listSockets({ port: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_PORT' });
    await expect(listSockets({ protocol: 'sctp' as 'tcp' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    expect(() => listSocketsSync({ family: 'IPv5' as 'IPv4' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
