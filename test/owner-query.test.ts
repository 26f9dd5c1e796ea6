// The addon's owner and option calls refuse numbers they cannot take exactly, and an empty list asks for nothing.
import { constants } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type OwnerScanResult } from '../lib/binding.js';
import { findOwners } from '../lib/owners.js';
import { listSockets } from '../lib/sockets.js';
import { fdOf, inodeOf, OPTIONS_UNREAD_WITHOUT_CAP_NET_ADMIN, portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;

describe.runIf(process.platform === 'linux')('owner queries', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('reads no socket for inodes: [] and no process for pids: [], every one for null', async () => {
    const binding = getBinding();
    const server = await pool.listen('127.0.0.1');
    const mine = { inodes: [inodeOf(server)], pids: [process.pid], stopWhenFound: false };
    // the listener is there to be found: the queries below find nothing because they ask for nothing
    expect(binding.findSocketOwnersSync!(mine).count).toBe(1);
    expect(binding.findSocketOwnersSync!({ ...mine, pids: null }).count).toBe(1);
    expect(binding.findSocketOwnersSync!({ ...mine, inodes: null }).count).toBeGreaterThanOrEqual(1);
    for (const query of [
      { ...mine, inodes: [] },
      { ...mine, inodes: [], pids: null },
      { ...mine, pids: [] },
      { ...mine, pids: [], inodes: null },
      { ...mine, pids: [], stopWhenFound: true },
    ]) {
      expect(binding.findSocketOwnersSync!(query)).toMatchObject({ count: 0, processes: 0, errno: 0 });
      expect(await binding.findSocketOwners!(query)).toMatchObject({ count: 0, processes: 0, errno: 0 });
    }
  });

  it('throws a RangeError for a pid, fd, inode or cgroup id that is negative, fractional, too large or NaN', async () => {
    const binding = getBinding();
    const server = await pool.listen('127.0.0.1');
    const [pid, fd, inode] = [process.pid, fdOf(server), inodeOf(server)];
    expect(binding.readSocketOptions!(pid, fd, inode)).toMatchObject({ errno: 0 });
    const bad = [-1, 1.5, Number.NaN, Infinity, 2 ** 53, 2 ** 64];
    for (const number of bad) {
      expect(() => binding.readSocketOptions!(pid, fd, number), `inode ${number}`).toThrow(RangeError);
      expect(() => binding.readSocketOptions!(number, fd, inode), `pid ${number}`).toThrow(RangeError);
      expect(() => binding.readSocketOptions!(pid, number, inode), `fd ${number}`).toThrow(RangeError);
      expect(() => binding.readCgroupProcs!('/sys/fs/cgroup', number), `cgroup id ${number}`).toThrow(RangeError);
      expect(() => binding.findSocketOwnersSync!({ inodes: [number], pids: null, stopWhenFound: false }), `inodes [${number}]`).toThrow(RangeError);
      expect(() => binding.findSocketOwnersSync!({ inodes: null, pids: [number], stopWhenFound: false }), `pids [${number}]`).toThrow(RangeError);
    }
    // the largest exact values are taken: the inode is simply not this socket's
    expect(binding.readSocketOptions!(pid, fd, 2 ** 53 - 1)).toMatchObject({ errno: expect.any(Number), reuseAddr: null });
  });

  it('throws a RangeError for a table query whose port, protocol, family or states would wrap', () => {
    const binding = getBinding();
    const query = { protocol: 6 as const, family: 4 as const, states: 1 << 10, port: -1 };
    expect(binding.readSockDiagSync!([query]).sources[0]).toMatchObject({ errno: 0 });
    // Int32Value/Uint32Value would have taken 2^32 + 80 as port 80, and 2^32 + 6 as TCP
    for (const port of [2 ** 32 + 80, 65536, -2, 1.5, Number.NaN]) {
      expect(() => binding.readSockDiagSync!([{ ...query, port }]), `port ${port}`).toThrow(RangeError);
    }
    for (const protocol of [2 ** 32 + 6, -1, 6.5]) {
      expect(() => binding.readSockDiagSync!([{ ...query, protocol: protocol as 6 }]), `protocol ${protocol}`).toThrow(RangeError);
      expect(() => binding.readProcNetSync!([{ path: '/proc/net/tcp', protocol: protocol as 6, family: 4 }]), `protocol ${protocol}`).toThrow(RangeError);
    }
    expect(() => binding.readSockDiagSync!([{ ...query, family: (2 ** 32 + 4) as 4 }])).toThrow(RangeError);
    expect(() => binding.readSockDiagSync!([{ ...query, states: 2 ** 32 }])).toThrow(RangeError);
  });

  it('does not duplicate an fd whose link no longer names the socket asked about', async () => {
    const binding = getBinding();
    const server = await pool.listen('127.0.0.1');
    // another inode than the fd's: the check before pidfd_getfd refuses, so nothing is received
    const reading = binding.readSocketOptions!(process.pid, fdOf(server), inodeOf(server) + 1);
    expect(reading).toMatchObject({ syscall: 'readlink', errno: constants.errno.ESTALE, reuseAddr: null, reusePort: null });
  });

  it('reads the options through the next owner when the first let its fd go since the scan', async () => {
    const real = getBinding();
    const server = await pool.listen('127.0.0.1');
    const [fd, inode] = [fdOf(server), inodeOf(server)];
    const [record] = (await listSockets({ protocol: 'tcp', port: portOf(server), listening: true })).filter((socket) => socket.inode === inode);
    expect(record).toBeDefined();
    // The scan reports, first, an owner fd that is no longer open: as if that holder closed it
    // between the scan and the read. The real socket's own fd comes second.
    const gone = 1_000_000;
    const withGoneOwner = (scan: OwnerScanResult): OwnerScanResult => {
      const rows = new Uint32Array(scan.count * 4 + 4);
      rows.set([process.pid, gone, inode % 2 ** 32, Math.floor(inode / 2 ** 32)]);
      rows.set(new Uint32Array(scan.rows, 0, scan.count * 4), 4);
      return { ...scan, rows: rows.buffer, count: scan.count + 1 };
    };
    setBinding({
      ...real,
      findSocketOwners: async (query) => withGoneOwner(await real.findSocketOwners!(query)),
      findSocketOwnersSync: (query) => withGoneOwner(real.findSocketOwnersSync!(query)),
    });
    try {
      const [owned] = await findOwners([record!], { socketOptions: true });
      expect(owned!.owners.map((owner) => owner.fd)).toEqual([gone, fd]);
      if (isRoot) {
        expect(owned!.optionsUnread).toBeUndefined();
        expect(owned!.reuseAddr).toBe(true); // libuv sets it on every TCP socket
      } else {
        // without CAP_NET_ADMIN no owner's fd is tried: the options stay unread, with the reason
        expect(owned!.optionsUnread).toMatch(OPTIONS_UNREAD_WITHOUT_CAP_NET_ADMIN);
        expect(owned).not.toHaveProperty('reuseAddr');
      }
    } finally {
      setBinding(null);
    }
  });
});
