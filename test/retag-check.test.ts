// check never re-tags the sockets it reads: a server's net_cls classid and net_prio index stay as they were.
//
// Each test mounts a v1 net_cls or net_prio hierarchy in a private mount namespace, which makes
// that hierarchy exist for the whole machine while it runs; so these files run on their own,
// after the others (vitest.config.ts), where no other test's check can meet it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { cgroupCount, mountV1Hierarchy, type V1Hierarchy } from './helpers/cgroup-v1.js';
import { checkTraced } from './helpers/cli.js';
import { createNetns, holdSockets, type Holder, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('retag-check.test.ts: skipped, mounting cgroup v1 hierarchies and entering namespaces needs root');

const CLASS_ID = 0x100001;

/** The class_id `ss --tos` prints for the socket with this inode: sock_diag's INET_DIAG_CLASS_ID, read by another tool. */
async function classIdOf(netns: Netns, inode: number): Promise<number> {
  const listing = await netns.run('ss', ['-tuanHe', '--tos']);
  const line = listing.stdout.split('\n').find((entry) => new RegExp(`\\bino:${inode}\\b`).test(entry));
  const match = line === undefined ? null : /\bclass_id:(0x[\da-f]+|\d+)/.exec(line);
  if (match === null) throw new Error(`ss shows no class_id for inode ${inode}:\n${listing.stdout}`);
  return Number(match[1]);
}

describe.runIf(process.platform === 'linux' && isRoot)('check leaves the tags of the sockets it reads as they were', () => {
  let netns: Netns;
  let holder: Holder | undefined;
  let hierarchy: V1Hierarchy | undefined;

  beforeEach(async () => {
    netns = await createNetns();
  });

  afterEach(async () => {
    await holder?.close();
    holder = undefined;
    await hierarchy?.close();
    hierarchy = undefined;
    await netns.close();
  });

  it('reads the options of a socket whose tags a duplicate would not change (the control)', async () => {
    holder = await holdSockets([{ protocol: 'udp', family: 4, address: '127.0.0.1', reusePort: true }], { netns: netns.path });
    const { localPort: port } = holder.socket(0);
    const checked = await checkTraced(netns, [String(port), '--udp', '--host', '127.0.0.1', '--reuse-port']);
    expect(checked.getfdCalls).toBe(1);
    expect(checked.verdict).toBe('free');
  });

  it('leaves the classid of a listener in a net_cls cgroup: check --reuse-port', async () => {
    hierarchy = await mountV1Hierarchy('net_cls');
    const cgroup = hierarchy.child('server', { 'net_cls.classid': String(CLASS_ID) });
    holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', reusePort: true, listen: true }], { netns: netns.path, cgroup });
    const { localPort: port, inode } = holder.socket(0);
    expect(await classIdOf(netns, inode)).toBe(CLASS_ID);

    const checked = await checkTraced(netns, [String(port), '--host', '127.0.0.1', '--reuse-port']);
    expect(await classIdOf(netns, inode)).toBe(CLASS_ID);
    expect(checked.getfdCalls).toBe(0);
    expect(checked.verdict).toBe('unknown');
    expect(checked.assumptions.join('\n')).toContain('net_cls class id 0x100001');
  });

  it('leaves the classid of a connection in a net_cls cgroup whose listener closed: plain check', async () => {
    hierarchy = await mountV1Hierarchy('net_cls');
    const cgroup = hierarchy.child('server', { 'net_cls.classid': String(CLASS_ID) });
    holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', selfConnect: 'accepted' }], { netns: netns.path, cgroup });
    const { localPort: port, inode } = holder.socket(0);
    expect(await classIdOf(netns, inode)).toBe(CLASS_ID);

    const checked = await checkTraced(netns, [String(port), '--host', '127.0.0.1']);
    expect(await classIdOf(netns, inode)).toBe(CLASS_ID);
    expect(checked.getfdCalls).toBe(0);
    expect(checked.verdict).toBe('unknown');
    expect(checked.assumptions.join('\n')).toContain('net_cls class id 0x100001');
  });

  it('does not duplicate a socket whose net_prio index it cannot see', async () => {
    // No interface shows a socket's priority index, and on some kernels an ifpriomap does not
    // reach loopback traffic either; so this test holds check to never duplicating the socket.
    hierarchy = await mountV1Hierarchy('net_prio');
    const cgroup = hierarchy.child('server');
    holder = await holdSockets([{ protocol: 'udp', family: 4, address: '127.0.0.1', reusePort: true }], { netns: netns.path, cgroup });
    const { localPort: port } = holder.socket(0);
    const cgroups = cgroupCount('net_prio');
    const checked = await checkTraced(netns, [String(port), '--udp', '--host', '127.0.0.1', '--reuse-port']);
    expect(checked.getfdCalls).toBe(0);
    expect(checked.verdict).toBe('unknown');
    expect(checked.assumptions.join('\n')).toContain(`net_prio has ${cgroups} cgroups`);
  });
});
