// An owner scan that meets a process exiting under it: held at that process by a test seam while it is killed and reaped.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { holdSockets, type Holder } from './helpers/holders.js';
import { holdDeep, spawnSeamChild, type DeepReport, type HostileProcess } from './helpers/hostile.js';

const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const DIST_BINDING = fileURLToPath(new URL('../dist/binding.js', import.meta.url));

// Enough fds that /proc/<pid>/fd takes several getdents batches (32 KiB, about 1,360 entries each).
const DEEP_FDS = 5000;

interface ScannerReport {
  pid: number;
  own: { inode: number; fd: number };
  listed: number;
  owned: { inode: number; owners: { pid: number; fd: number }[]; ownerUnknown?: string }[];
  scans: { errno: number; cancelled: boolean; deniedPids: number[]; vanishedPids: number[]; vanished: number; victimFds: number[] }[];
}

// The scanner, a child Node with the test seam on fd 3: it holds a listener of its own, lists the
// sockets asked about, and runs findOwners through a binding that records each raw scan. When the
// scan reaches the victim (before opening its fd directory, or after its first batch of entries),
// it writes a byte to fd 3 and waits for one: the test kills the victim meanwhile.
const scannerScript = (victim: DeepReport, survivor: { port: number; inode: number }, where: 'open' | 'batch', scan: 'all' | 'first') => `
import net from 'node:net';
import { once } from 'node:events';
import { readlinkSync } from 'node:fs';
const { findOwners, listSockets } = await import(${JSON.stringify(DIST_INDEX)});
const { getBinding, setBinding } = await import(${JSON.stringify(DIST_BINDING)});
const server = net.createServer().listen(0, '127.0.0.1');
await once(server, 'listening');
const fd = server._handle.fd;
const own = { fd, inode: Number(/^socket:\\[(\\d+)\\]$/.exec(readlinkSync('/proc/self/fd/' + fd))[1]) };
const wanted = [[${victim.low.port}, ${victim.low.inode}], [${victim.high.port}, ${victim.high.inode}], [${survivor.port}, ${survivor.inode}], [server.address().port, own.inode]];
const listed = [];
for (const [port, inode] of wanted) listed.push(...(await listSockets({ port, protocol: 'tcp' })).filter((socket) => socket.inode === inode));
const real = getBinding();
const scans = [];
setBinding({
  ...real,
  findSocketOwners: async (query) => {
    const result = await real.findSocketOwners(query);
    const u32 = new Uint32Array(result.rows, 0, result.count * 4);
    const victimFds = [];
    for (let row = 0; row < result.count; row++) if (u32[row * 4] === ${victim.pid}) victimFds.push(u32[row * 4 + 1]);
    const { errno, cancelled, deniedPids, vanishedPids, vanished } = result;
    scans.push({ errno, cancelled, deniedPids, vanishedPids, vanished, victimFds });
    return result;
  },
});
real.debugPauseScan(3, ${victim.pid}, '${where}');
const owned = await findOwners(listed, { scan: '${scan}' });
real.debugPauseScan(3, 0, 'open');
process.stdout.write(JSON.stringify({
  pid: process.pid,
  own,
  listed: listed.length,
  owned: owned.map(({ inode, owners, ownerUnknown }) => ({ inode, owners: owners.map(({ pid, fd }) => ({ pid, fd })), ownerUnknown })),
  scans,
}));
process.exit(0);
`;

describe.runIf(process.platform === 'linux')('a process exiting while the owner scan reads it', () => {
  const victims: HostileProcess<DeepReport>[] = [];
  const holders: Holder[] = [];
  afterEach(async () => {
    for (const victim of victims.splice(0)) await victim.close();
    for (const holder of holders.splice(0)) await holder.close();
  });

  // 'open': the victim is gone before its fd directory is opened (openat: ENOENT). 'batch': the scan
  // has read its first entries, then it is reaped, and the next getdents of the open directory fails
  // with ENOENT (with scan 'first', that or the next round's openat). Either way it is vanished, never
  // denied: the sockets of the others keep their owners, and the victim's are gone, not unknown.
  // Each of these fails if the scanner takes that ENOENT for a denial, or does not count it.
  it.each([
    ['open', 'all'],
    ['batch', 'all'],
    ['open', 'first'],
    ['batch', 'first'],
  ] as const)(
    'meets it vanished (paused at %s, scan %s) and loses nothing else',
    async (where, scan) => {
      const victim = await holdDeep(DEEP_FDS);
      victims.push(victim);
      const survivorHolder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }]);
      holders.push(survivorHolder);
      const survivor = survivorHolder.socket(0);
      const { report } = victim;

      const child = spawnSeamChild(scannerScript(report, { port: survivor.localPort, inode: survivor.inode }, where, scan));
      const { seam, exited } = child;
      let pauses = '';
      const paused = new Promise<void>((resolve) => {
        seam.on('data', (chunk: Buffer) => {
          pauses += chunk.toString();
          resolve();
        });
      });
      try {
        // the scan waits at the victim: kill it, and go on only once it is reaped
        await Promise.race([paused, exited]);
        expect(pauses, child.stderr()).toBe(where === 'open' ? 'o' : 'b');
        await victim.kill();
        expect(existsSync(`/proc/${report.pid}`)).toBe(false);
        seam.write('g');
        const [code, signal] = await exited;
        expect({ code, signal }, child.stderr()).toEqual({ code: 0, signal: null });
      } finally {
        child.dispose();
      }
      expect(child.stderr()).toBe('');
      // the scan stopped there once, and only there
      expect(pauses).toHaveLength(1);

      const result = JSON.parse(child.stdout()) as ScannerReport;
      expect(result.listed).toBe(4);
      for (const recorded of result.scans) {
        expect(recorded).toMatchObject({ errno: 0, cancelled: false });
        expect(recorded.deniedPids).not.toContain(report.pid);
        expect(recorded.vanished).toBe(recorded.vanishedPids.length);
      }
      // counted as vanished exactly once, by the scan that met it
      expect(result.scans.flatMap(({ vanishedPids }) => vanishedPids).filter((pid) => pid === report.pid)).toEqual([report.pid]);

      const victimFds = result.scans.flatMap((recorded) => recorded.victimFds);
      if (where === 'open') {
        expect(victimFds).toEqual([]);
      } else {
        // part of its directory was read, all of it true: fds of `low`, never `high`, listed last
        const [first, last] = report.low.range;
        expect(victimFds.length).toBeGreaterThan(0);
        expect(victimFds.length).toBeLessThan(DEEP_FDS);
        expect(victimFds.every((fd) => fd === report.low.fd || (fd >= first && fd <= last))).toBe(true);
      }

      const byInode = new Map(result.owned.map((owned) => [owned.inode, owned]));
      expect(byInode.get(survivor.inode)).toEqual({ inode: survivor.inode, owners: [{ pid: survivorHolder.pid, fd: survivor.fd }] });
      expect(byInode.get(result.own.inode)).toEqual({ inode: result.own.inode, owners: [{ pid: result.pid, fd: result.own.fd }] });
      // its sockets closed with it: gone, not 'permission' as for a process whose fds were denied
      for (const inode of [report.low.inode, report.high.inode]) {
        expect(byInode.get(inode)).toEqual({ inode, owners: [], ownerUnknown: 'gone' });
      }
    },
    60_000,
  );
});
