// INET_DIAG_CLASS_ID in the records: a socket in a v1 net_cls cgroup reports its classid, as ss does.
// It mounts a net_cls hierarchy (in a private mount namespace, but the cgroup itself is global): the
// lead runs test/retag-*.test.ts on their own, after the other files.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { listSockets, listSocketsSync } from '../lib/index.js';
import { mountV1Hierarchy, type V1Hierarchy } from './helpers/cgroup-v1.js';
import { holdSockets, runCommand, type Holder } from './helpers/holders.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('retag-classid.test.ts: skipped, mounting a net_cls cgroup v1 hierarchy needs root');
const CLASS_ID = 0x100001; // tc handle 10:1

/** The class_id ss prints for the TCP listener with this inode (`ss --tos`: class_id:0x100001). */
async function ssClassId(port: number, inode: number): Promise<number | undefined> {
  const result = await runCommand('ss', ['-tlnHe', '--tos', 'sport', '=', `:${port}`]);
  expect(result.code).toBe(0);
  const line = result.stdout.split('\n').find((text) => text.includes(` ino:${inode} `));
  const match = line?.match(/class_id:(0x[0-9a-f]+|\d+)/);
  return match === undefined || match === null ? undefined : Number(match[1]);
}

describe.runIf(process.platform === 'linux' && isRoot)('the class id of a socket (INET_DIAG_CLASS_ID)', () => {
  let hierarchy: V1Hierarchy;
  let cgroup: string;
  const pool = new SocketPool();
  const holders: Holder[] = [];
  beforeAll(async () => {
    hierarchy = await mountV1Hierarchy('net_cls');
    cgroup = hierarchy.child('server', { 'net_cls.classid': String(CLASS_ID) });
  });
  afterEach(async () => {
    await pool.closeAll();
    for (const holder of holders.splice(0)) await holder.close();
  });
  afterAll(async () => {
    await hierarchy?.close();
  });

  it('is the net_cls classid of the socket, as ss reports it, and 0 for a plain socket', async () => {
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }]);
    holders.push(holder);
    hierarchy.add(cgroup, holder.pid);
    const held = holder.socket(0);
    const plain = await pool.listen('127.0.0.1');

    expect(await ssClassId(held.localPort, held.inode)).toBe(CLASS_ID);
    const sockets = await listSockets({ protocol: 'tcp', listening: true });
    expect(sockets.find((socket) => socket.inode === held.inode)).toMatchObject({ source: 'sock_diag', classId: CLASS_ID });
    expect(listSocketsSync({ protocol: 'tcp', port: held.localPort }).find((socket) => socket.inode === held.inode)?.classId).toBe(CLASS_ID);

    expect(await ssClassId(portOf(plain), inodeOf(plain))).toBe(0);
    expect(sockets.find((socket) => socket.inode === inodeOf(plain))).toMatchObject({ source: 'sock_diag', classId: 0 });

    // /proc has no class id, and does not pretend to
    const fromProc = await listSockets({ protocol: 'tcp', listening: true }, { source: 'proc' });
    expect(fromProc.find((socket) => socket.inode === held.inode)).not.toHaveProperty('classId');
  });
});
