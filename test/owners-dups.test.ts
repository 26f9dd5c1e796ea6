// findOwners against one socket behind tens of thousands of fds: every fd found, at linear cost.
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding } from '../lib/binding.js';
import { findOwners, findOwnersSync, listSockets } from '../lib/index.js';
import { dupOwners, holdDups, type HostileProcess } from './helpers/hostile.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

describe.runIf(process.platform === 'linux')('one socket behind very many fds', () => {
  const holders: HostileProcess<unknown>[] = [];
  const pool = new SocketPool();
  afterEach(async () => {
    setBinding(null);
    await pool.closeAll();
    for (const holder of holders.splice(0)) await holder.close();
  });

  // scan 'first' stops at the first fds that name each socket, by design; 'all' promises every fd
  it('names every fd of every process holding it', async () => {
    const holder = await holdDups(30_000);
    holders.push(holder);
    const { report } = holder;
    const expected = new Set(dupOwners(report).map(({ pid, fd }) => `${pid}/${fd}`));
    expect(expected.size).toBeGreaterThan(30_000);
    const listed = (await listSockets({ port: report.port, protocol: 'tcp' })).filter((socket) => socket.inode === report.inode);
    expect(listed).toHaveLength(1);

    for (const [owned] of [await findOwners(listed, { scan: 'all' }), findOwnersSync(listed)]) {
      const found = owned!.owners.map(({ pid, fd }) => `${pid}/${fd}`);
      // each exactly once, and nothing else
      expect(found).toHaveLength(expected.size);
      expect(new Set(found)).toEqual(expected);
    }
  }, 60_000);

  // A fake scan reports one socket through half a million fds, each twice (as two scans may). Matching
  // them used to compare each fd with every one found before: about 10^11 steps, minutes of main
  // thread, where linear matching takes a fraction of a second. The generous timeout is only the net.
  it('matches half a million fds of one socket in linear time, each reported once', async () => {
    const server = await pool.listen('127.0.0.1');
    const inode = inodeOf(server);
    const listed = (await listSockets({ port: portOf(server), protocol: 'tcp' })).filter((socket) => socket.inode === inode);
    expect(listed).toHaveLength(1);
    const count = 500_000;
    const rows = new Uint32Array(count * 2 * 4);
    for (let row = 0; row < count * 2; row++) {
      rows[row * 4] = process.pid;
      rows[row * 4 + 1] = 100 + (row % count);
      rows[row * 4 + 2] = inode;
      rows[row * 4 + 3] = 0;
    }
    const real = getBinding();
    const scan = { rows: rows.buffer, count: count * 2, deniedPids: [], processes: 1, vanished: 0, errno: 0 };
    setBinding({ ...real, findSocketOwners: async () => scan, findSocketOwnersSync: () => scan });
    const [owned] = await findOwners(listed, { scan: 'all' });
    expect(owned!.owners).toHaveLength(count);
    expect(owned!.owners[count - 1]).toMatchObject({ pid: process.pid, fd: 100 + count - 1 });
    expect(new Set(owned!.owners.map(({ fd }) => fd)).size).toBe(count);
  }, 60_000);
});
