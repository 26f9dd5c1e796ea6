// INET_DIAG_CLASS_ID in the records: a socket in a v1 net_cls cgroup reports its classid, as ss does.
// It mounts a net_cls hierarchy (in a private mount namespace, but the cgroup itself is global): the
// lead runs test/retag-*.test.ts on their own, after the other files.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { listSockets, listSocketsSync } from '../lib/index.js';
import { holdSockets, runCommand, type Holder } from './helpers/holders.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
const CLASS_ID = 0x100001; // tc handle 10:1

/** A v1 net_cls cgroup with classid CLASS_ID, in a mount namespace kept alive by a `cat`. */
interface NetClsCgroup {
  /** Moves a process of ours into the cgroup; the kernel re-tags the sockets it already holds. */
  add(pid: number): Promise<void>;
  close(): Promise<void>;
}

async function createNetClsCgroup(): Promise<NetClsCgroup> {
  const mountpoint = mkdtempSync(join(tmpdir(), 'portclash-net-cls-'));
  const child = join(mountpoint, `portclash-retag-${process.pid}`);
  // unshare -m without --fork execs sh, and sh execs cat: one pid, whose ns/mnt names the namespace.
  const keeper = spawn(
    'unshare',
    ['-m', 'sh', '-c', 'mount --make-rprivate / && mount -t cgroup -o net_cls none "$0" && mkdir "$1" && echo "$2" > "$1/net_cls.classid" && echo ready && exec cat', mountpoint, child, `0x${CLASS_ID.toString(16)}`],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  keeper.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const ready = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 10_000);
    keeper.stdout.setEncoding('utf8').once('data', (chunk: string) => (clearTimeout(timer), resolve(chunk.trim())));
    keeper.once('exit', (code) => (clearTimeout(timer), resolve(`exit ${code}`)));
  });
  const inNamespace = (script: string, ...args: string[]) =>
    runCommand('nsenter', [`--mount=/proc/${keeper.pid}/ns/mnt`, 'sh', '-c', script, ...args]);
  const close = async () => {
    // rmdir only succeeds once the holder has left the cgroup (exited); the mount goes with the namespace
    await inNamespace('rmdir "$0" 2>/dev/null; umount "$1"', child, mountpoint).catch(() => undefined);
    if (keeper.exitCode === null && keeper.signalCode === null) {
      const exited = new Promise((resolve) => keeper.once('exit', resolve));
      keeper.stdin.end();
      const timer = setTimeout(() => keeper.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmdirSync(mountpoint);
  };
  if (ready !== 'ready') {
    await close();
    throw new Error(`could not mount net_cls and make a child cgroup: ${ready}; ${stderr.trim()}`);
  }
  return {
    async add(pid) {
      const result = await inNamespace('echo "$1" > "$0/cgroup.procs"', child, String(pid));
      if (result.code !== 0) throw new Error(`could not move ${pid} into ${child}: ${result.stderr}`);
    },
    close,
  };
}

/** The class_id ss prints for the TCP listener with this inode (`ss --tos`: class_id:0x100001). */
async function ssClassId(port: number, inode: number): Promise<number | undefined> {
  const result = await runCommand('ss', ['-tlnHe', '--tos', 'sport', '=', `:${port}`]);
  expect(result.code).toBe(0);
  const line = result.stdout.split('\n').find((text) => text.includes(` ino:${inode} `));
  const match = line?.match(/class_id:(0x[0-9a-f]+|\d+)/);
  return match === undefined || match === null ? undefined : Number(match[1]);
}

describe.runIf(process.platform === 'linux' && isRoot)('the class id of a socket (INET_DIAG_CLASS_ID)', () => {
  let cgroup: NetClsCgroup;
  const pool = new SocketPool();
  const holders: Holder[] = [];
  beforeAll(async () => {
    cgroup = await createNetClsCgroup();
  });
  afterEach(async () => {
    await pool.closeAll();
    for (const holder of holders.splice(0)) await holder.close();
  });
  afterAll(async () => {
    await cgroup?.close();
  });

  it('is the net_cls classid of the socket, as ss reports it, and 0 for a plain socket', async () => {
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }]);
    holders.push(holder);
    await cgroup.add(holder.pid);
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
