// TCP through one sock_diag dump of both families (TCPDIAG_GETSOCK): the same sockets as a dump per family, on the real kernel; the fallback where a kernel refuses it; a socket seen by both of the dumps that run side by side.
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type NativeBinding, type SockDiagQuery, type SourceReading } from '../lib/binding.js';
import { listSockets, listSocketsSync, readSocketTables, type SocketRecord } from '../lib/index.js';
import { kernelShowsBoundSockets } from '../lib/linux/kernel.js';
import { packRows, type RawRow } from '../lib/rows.js';
import { portOf, SocketPool } from './helpers/sockets.js';

const key = (socket: SocketRecord) =>
  `${socket.family} ${socket.localAddress}:${socket.localPort} ${socket.remoteAddress}:${socket.remotePort} ${socket.state} ${socket.inode}`;

/** The real addon, with every sock_diag query it is asked kept in `asked`, and a query of both families refused with errno `refuse` when given. */
function watched(asked: SockDiagQuery[], refuse?: number): NativeBinding {
  const real = getBinding();
  const keep = (queries: readonly SockDiagQuery[]) => (refuse === undefined ? queries : queries.filter((query) => query.family !== 0));
  // each query's result: the real one, or the refusal for a query that was not sent
  const answer = <R extends { sources: SourceReading[] }>(queries: readonly SockDiagQuery[], kept: readonly SockDiagQuery[], reading: R): R => ({
    ...reading,
    sources: queries.map((query) => {
      const at = kept.indexOf(query);
      return at === -1 ? { errno: refuse!, syscall: 'recvmsg', rows: 0, malformed: 0 } : reading.sources[at]!;
    }),
  });
  return {
    ...real,
    readSockDiag: async (queries, onRows) => {
      asked.push(...queries);
      const kept = keep(queries);
      return answer(queries, kept, await real.readSockDiag!(kept, onRows));
    },
    readSockDiagSync: (queries) => {
      asked.push(...queries);
      const kept = keep(queries);
      return answer(queries, kept, real.readSockDiagSync!(kept));
    },
  };
}

describe.runIf(process.platform === 'linux')('TCP in one sock_diag dump of both families', () => {
  const pool = new SocketPool();
  afterEach(async () => {
    setBinding(null);
    await pool.closeAll();
  });

  it('lists what one dump per family lists, IPv4, IPv6 and dual-stack alike, sync and async', async () => {
    // alone on their ports: another socket of the machine on one (another address, a peer's end) would be counted too
    const servers = [await pool.listenAlone('127.0.0.1'), await pool.listenAlone('::1'), await pool.listenAlone('::')];
    await pool.connect(servers[1]!, '::1');
    const ports = servers.map(portOf);
    const asked: SockDiagQuery[] = [];
    setBinding(watched(asked));
    const mine = (sockets: SocketRecord[]) =>
      sockets
        .filter((socket) => ports.includes(socket.localPort) || ports.includes(socket.remotePort))
        .map(key)
        .sort();
    const together = mine(await listSockets({ protocol: 'tcp' }));
    expect(asked.filter((query) => query.family === 0).map((query) => query.states)).toEqual(kernelShowsBoundSockets() ? [0x1ffe, 1 << 13] : [0x1ffe]);
    expect(mine(listSocketsSync({ protocol: 'tcp' }))).toEqual(together);
    // one family at a time, as the filter asks
    const apart = mine([...(await listSockets({ protocol: 'tcp', family: 'IPv4' })), ...(await listSockets({ protocol: 'tcp', family: 'IPv6' }))]).sort();
    expect(together).toEqual(apart);
    expect(together.length).toBe(5);
  });

  it('asks for the listeners of one port in one dump of both families', async () => {
    const server = await pool.listen('::1');
    const asked: SockDiagQuery[] = [];
    setBinding(watched(asked));
    const sockets = await listSockets({ port: portOf(server), listening: true });
    expect(sockets.map((socket) => socket.localAddress)).toEqual(['::1']);
    expect(asked.filter((query) => query.protocol === 6)).toEqual([{ protocol: 6, family: 0, states: 1 << 10, port: portOf(server) }]);
  });

  it('asks one family at a time where the kernel refuses the dump of both, and from then on', async () => {
    const servers = [await pool.listenAlone('127.0.0.1'), await pool.listenAlone('::1')];
    const asked: SockDiagQuery[] = [];
    const binding = watched(asked, 22 /* EINVAL */);
    setBinding(binding);
    const { sockets, sources } = await readSocketTables({ protocol: 'tcp' });
    expect(
      sockets
        .filter((socket) => servers.map(portOf).includes(socket.localPort))
        .map((socket) => socket.localAddress)
        .sort(),
    ).toEqual(['127.0.0.1', '::1']);
    expect(sources.map((source) => [source.source, source.family, source.error, source.bothFamilies ?? false])).toEqual([
      ['sock_diag', 'IPv4', null, false],
      ['sock_diag', 'IPv6', null, false],
    ]);
    expect(asked.map((query) => query.family)).toContain(4);
    asked.length = 0;
    await listSockets({ protocol: 'tcp' });
    expect(asked.map((query) => query.family).sort()).toEqual([4, 6]);
  });

  // before Linux 6.8 no dump of bound-only sockets is asked for, so none can repeat a socket
  it.runIf(kernelShowsBoundSockets())('keeps one record of a socket bound in one of the two dumps and listening in the other', async () => {
    const listener: RawRow = {
      protocol: 6,
      family: 4,
      localAddress: Uint8Array.of(127, 0, 0, 1),
      localPort: 4000,
      remoteAddress: Uint8Array.of(0, 0, 0, 0),
      remotePort: 0,
      state: 10,
      uid: 0,
      inode: 77,
      flags: 1,
    };
    const reply = (queries: readonly SockDiagQuery[]) => {
      const rows = queries.flatMap((query) => (query.family !== 0 ? [] : query.states === 1 << 13 ? [{ ...listener, state: 7 }] : [listener]));
      return { rows: packRows(rows), count: rows.length, sources: queries.map(() => ({ errno: 0, syscall: null, rows: 1, malformed: 0 })) };
    };
    setBinding({
      ...getBinding(),
      readSockDiagSync: reply,
      readSockDiag: async (queries, onRows) => {
        const { rows, count, sources } = reply(queries);
        onRows(rows, count);
        return { sources };
      },
    });
    for (const sockets of [await listSockets({ protocol: 'tcp' }), listSocketsSync({ protocol: 'tcp' })]) {
      expect(sockets.filter((socket) => socket.inode === 77).map((socket) => socket.state)).toEqual(['LISTEN']);
    }
  });
});
