// findOwners and `portclash who` against real processes: this one, children, another user, and races; who's parent chains.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type OwnerQuery } from '../lib/binding.js';
import { cgroup2Mountpoint } from '../lib/linux/cgroupfs.js';
import { shorten } from '../lib/describe.js';
import { findOwners, findOwnersSync, listSockets, type OwnedSocket, type ProcessInfo, type SocketRecord } from '../lib/index.js';
import { CHAIN_DEPTH, parentChain, readProcess } from '../lib/processes.js';
import { createChildCgroup, type ChildCgroup } from './helpers/cgroup.js';
import { runCli } from './helpers/cli.js';
import { holdSockets, runCommand, type Holder } from './helpers/holders.js';
import { holdPort } from './helpers/node-holder.js';
import { fdOf, inodeOf, OPTIONS_UNREAD_WITHOUT_CAP_NET_ADMIN, portOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
// As root nothing skips: without a cgroup v2 hierarchy the cgroup-first tests fail, naming what is missing.
if (!isRoot) console.warn('owners.test: tests with another user or child cgroups need root and are skipped');

/** As nobody: the owner is named, its socket's options are not read (the reason says why) and none is claimed. */
function expectOptionsUnread(owned: OwnedSocket | undefined, what: string): void {
  expect(owned, what).toMatchObject({ optionsUnread: expect.stringMatching(OPTIONS_UNREAD_WITHOUT_CAP_NET_ADMIN), owner: expect.anything() });
  expect(owned, what).not.toHaveProperty('reuseAddr');
  expect(owned, what).not.toHaveProperty('reusePort');
}

const ownCmdline = readFileSync('/proc/self/cmdline', 'utf8')
  .split('\0')
  .filter((arg, index, all) => arg !== '' || index < all.length - 1);

describe.runIf(process.platform === 'linux')('findOwners', () => {
  const pool = new SocketPool();
  const holders: Holder[] = [];
  afterEach(async () => {
    await pool.closeAll();
    for (const holder of holders.splice(0)) await holder.close();
  });

  // A port number may be shared with sockets of other test files (another address, the other protocol,
  // a TIME_WAIT), so each test picks its own sockets out of a listing by inode.
  const withInode = (inode: number) => (socket: SocketRecord) => socket.inode === inode;

  const hold = async (...args: Parameters<typeof holdSockets>) => {
    const holder = await holdSockets(...args);
    holders.push(holder);
    return holder;
  };

  it('names this process as the owner of its sockets, with its fd and facts', async () => {
    const server = await pool.listen('127.0.0.1');
    const { client } = await pool.connect(server, '127.0.0.1');
    for (const scan of ['all', 'first'] as const) {
      const owned = await findOwners(await listSockets({ port: portOf(server) }), { scan });
      const listener = owned.find(withInode(inodeOf(server)))!;
      expect(listener.state).toBe('LISTEN');
      expect(listener.owners).toHaveLength(1);
      expect(listener.owner).toMatchObject({
        pid: process.pid,
        fd: fdOf(server),
        name: readFileSync('/proc/self/comm', 'utf8').trim(),
        cmdline: ownCmdline,
        uid: process.getuid!(),
        user: isRoot ? 'root' : expect.any(String),
      });
      expect(listener).not.toHaveProperty('ownerUnknown');
      expect(Math.abs(listener.owner!.startTime!.getTime() - (Date.now() - process.uptime() * 1000))).toBeLessThan(2000);
    }
    const [outgoing] = findOwnersSync((await listSockets({ port: client.localPort! })).filter(withInode(inodeOf(client))));
    expect(outgoing).toMatchObject({ state: 'ESTABLISHED', owner: { pid: process.pid, fd: fdOf(client) } });
  });

  it('names a child process holding sockets Node cannot make', async () => {
    const holder = await hold([
      { protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true },
      { protocol: 'tcp', family: 6, address: '::1' },
      { protocol: 'udp', family: 4, address: '127.0.0.1' },
    ]);
    for (const [index, protocol] of [
      [0, 'tcp'],
      [1, 'tcp'],
      [2, 'udp'],
    ] as const) {
      const held = holder.socket(index);
      const [socket] = await findOwners((await listSockets({ port: held.localPort, protocol })).filter(withInode(held.inode)), { scan: 'first' });
      expect(socket).toMatchObject({ inode: held.inode, owner: { pid: holder.pid, fd: held.fd, name: 'python3' }, owners: [expect.anything()] });
    }
  });

  it('lists every process sharing a socket, as after fork or SCM_RIGHTS', async () => {
    const server = await pool.listen('127.0.0.1');
    // hand the listening socket to a child over IPC: both processes now hold it
    const child = spawn(process.execPath, ['-e', "process.on('message', (m, handle) => { process.send('got it'); })"], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      child.send('server', server);
      await once(child, 'message');
      for (const scan of ['all', 'first'] as const) {
        const [listener] = await findOwners((await listSockets({ port: portOf(server), listening: true })).filter(withInode(inodeOf(server))), { scan });
        expect(listener!.owners.map((owner) => owner.pid).sort()).toEqual([process.pid, child.pid].sort());
      }
    } finally {
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    }
  });

  it.runIf(isRoot)('names an owner running as another user, and the socket keeps its creator uid', async () => {
    const asNobody = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }], { user: 'nobody' });
    const dropped = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }], { user: 'nobody', dropAfter: true });
    const [first] = await findOwners((await listSockets({ port: asNobody.socket(0).localPort })).filter(withInode(asNobody.socket(0).inode)));
    expect(first).toMatchObject({ uid: 65534, owner: { pid: asNobody.pid, uid: 65534, user: 'nobody' } });
    const [second] = await findOwners((await listSockets({ port: dropped.socket(0).localPort })).filter(withInode(dropped.socket(0).inode)));
    expect(second).toMatchObject({ uid: 0, owner: { pid: dropped.pid, uid: 65534, user: 'nobody' } });
  });

  it.runIf(isRoot)('run as nobody, reports root-owned sockets as ownerUnknown: permission, without failing', async () => {
    const server = await pool.listen('127.0.0.1');
    const script = `import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then(async (portclash) => {
      const sockets = await portclash.listSockets({ port: ${portOf(server)} });
      const owned = await portclash.findOwners(sockets.filter((socket) => socket.inode === ${inodeOf(server)}));
      console.log(JSON.stringify(owned.map((socket) => [socket.owners.length, socket.ownerUnknown])));
    })`;
    const result = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual([[0, 'permission']]);
  });

  it('says kernel for TIME_WAIT and gone for a socket closed before the scan', async () => {
    const server = await pool.listen('127.0.0.1');
    const clientPort = await pool.leaveTimeWait(server, '127.0.0.1');
    const timeWait = await waitFor(
      async () => (await listSockets({ port: clientPort })).find((socket) => socket.state === 'TIME_WAIT' && socket.remotePort === portOf(server)),
      'TIME_WAIT',
    );
    expect((await findOwners([timeWait]))[0]).toMatchObject({ owner: null, owners: [], ownerUnknown: 'kernel' });

    const doomed = await pool.listen('127.0.0.1');
    const listed = (await listSockets({ port: portOf(doomed) })).filter(withInode(inodeOf(doomed)));
    expect(listed).toHaveLength(1);
    await new Promise((resolve) => doomed.close(resolve));
    expect((await findOwners(listed))[0]).toMatchObject({ owner: null, ownerUnknown: 'gone' });
  });

  it('reads SO_REUSEADDR, SO_REUSEPORT and V6ONLY back from the owner, without changing them', async () => {
    const holder = await hold([
      { protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true },
      { protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, reuseAddr: true },
      { protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, reusePort: true },
      { protocol: 'udp', family: 6, address: '::', reuseAddr: true, reusePort: true, ipv6Only: true },
    ]);
    const expected = [
      { reuseAddr: false, reusePort: false },
      { reuseAddr: true, reusePort: false },
      { reuseAddr: false, reusePort: true },
      { reuseAddr: true, reusePort: true, ipv6Only: true },
    ];
    for (const [index, options] of expected.entries()) {
      const held = holder.socket(index);
      const sockets = (await listSockets({ port: held.localPort })).filter((socket) => socket.inode === held.inode);
      const [owned] = await findOwners(sockets, { socketOptions: true });
      if (!isRoot) {
        // V6ONLY of a bound socket comes from sock_diag, read or not
        expectOptionsUnread(owned, `socket ${index}`);
        if (options.ipv6Only !== undefined) expect(owned, `socket ${index}`).toMatchObject({ ipv6Only: options.ipv6Only });
        continue;
      }
      expect(owned, `socket ${index}`).toMatchObject(options);
      // read twice: the first read changed nothing
      expect((await findOwners(sockets, { socketOptions: true }))[0]).toMatchObject(options);
    }
    // without socketOptions, nothing is read, and nothing claimed
    const [plain] = await findOwners((await listSockets({ port: holder.socket(1).localPort })).filter(withInode(holder.socket(1).inode)));
    expect(plain).toBeDefined();
    expect(plain).not.toHaveProperty('reuseAddr');
  });

  it('reads V6ONLY of established IPv6 sockets, which sock_diag does not report', async () => {
    const server = await pool.listen('::1');
    const { client, accepted } = await pool.connect(server, '::1');
    const inodes = pool.inodes();
    const sockets = [...(await listSockets({ port: client.localPort! })), ...(await listSockets({ port: portOf(server) }))].filter((socket) =>
      inodes.has(socket.inode),
    );
    expect(sockets).toHaveLength(3);
    const established = sockets.filter((socket) => socket.state === 'ESTABLISHED');
    expect(established).toHaveLength(2);
    expect(established.every((socket) => !('ipv6Only' in socket))).toBe(true);
    const owned = await findOwners(sockets, { socketOptions: true });
    if (!isRoot) {
      // unread, so V6ONLY stays unknown: not claimed either way
      for (const socket of [client, accepted]) {
        expectOptionsUnread(owned.find(withInode(inodeOf(socket))), 'established');
        expect(owned.find(withInode(inodeOf(socket)))).not.toHaveProperty('ipv6Only');
      }
      return;
    }
    // connect() binds the client implicitly and leaves V6ONLY off; the accepted socket inherits
    // it from the listener, which bind() to a specific IPv6 address turned on
    expect(owned.find(withInode(inodeOf(client)))).toMatchObject({ state: 'ESTABLISHED', ipv6Only: false, reuseAddr: false });
    expect(owned.find(withInode(inodeOf(accepted)))).toMatchObject({ state: 'ESTABLISHED', ipv6Only: true, reuseAddr: true });
  });

  describe.runIf(isRoot)("reading the sockets' own cgroups first", () => {
    const cgroups: ChildCgroup[] = [];
    afterEach(async () => {
      for (const holder of holders.splice(0)) await holder.close();
      for (const cgroup of cgroups.splice(0)) cgroup.remove();
      setBinding(null);
    });

    /**
     * The real binding, with every owner scan it is asked for written down; `byHandle: false` takes
     * away opening a cgroup by its id, as for a caller without CAP_DAC_READ_SEARCH.
     */
    function recordScans({ byHandle = true } = {}): OwnerQuery[] {
      const { readCgroupProcs, ...real } = getBinding();
      const scans: OwnerQuery[] = [];
      setBinding({
        ...real,
        ...(byHandle ? { readCgroupProcs } : {}),
        findSocketOwners: (query) => {
          scans.push(query);
          return real.findSocketOwners!(query);
        },
      });
      return scans;
    }

    it('scans the processes of the cgroup that made the socket before anyone else', async () => {
      const cgroup = createChildCgroup();
      cgroups.push(cgroup);
      const holder = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }], { cgroup: cgroup.directory });
      const [socket] = (await listSockets({ port: holder.socket(0).localPort })).filter(withInode(holder.socket(0).inode));
      expect(socket?.cgroupId).toBe(statSync(cgroup.directory).ino);
      // as root the cgroup opens by its id; once removed, its id opens nothing
      const mountpoint = cgroup2Mountpoint(readFileSync('/proc/self/mountinfo', 'utf8'))!;
      expect(getBinding().readCgroupProcs!(mountpoint, socket!.cgroupId!)).toEqual({ errno: 0, syscall: null, text: `${holder.pid}\n` });
      const removed = createChildCgroup();
      const removedId = statSync(removed.directory).ino;
      removed.remove();
      expect(getBinding().readCgroupProcs!(mountpoint, removedId)).toMatchObject({ errno: constants.errno.ESTALE, syscall: 'open_by_handle_at' });

      for (const byHandle of [true, false]) {
        const scans = recordScans({ byHandle });
        const [owned] = await findOwners([socket!], { scan: 'first' });
        expect(owned).toMatchObject({ owner: { pid: holder.pid, fd: holder.socket(0).fd } });
        // found in the first scan, of that cgroup's one process; then only its descendants (none)
        expect(scans).toEqual([{ inodes: [socket!.inode], pids: [holder.pid], stopWhenFound: true }]);
      }
    });

    it('goes on to every process when the holder has left the cgroup that made the socket', async () => {
      const [made, moved] = [createChildCgroup(), createChildCgroup()];
      cgroups.push(made, moved);
      const holder = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }], { cgroup: made.directory });
      const stayer = await hold([{ protocol: 'udp', family: 4, address: '127.0.0.1' }], { cgroup: made.directory });
      writeFileSync(join(moved.directory, 'cgroup.procs'), String(holder.pid));
      const [socket] = (await listSockets({ port: holder.socket(0).localPort })).filter(withInode(holder.socket(0).inode));

      const scans = recordScans();
      const [owned] = await findOwners([socket!], { scan: 'first' });
      expect(owned).toMatchObject({ owner: { pid: holder.pid } });
      expect(scans.slice(0, 2)).toEqual([
        { inodes: [socket!.inode], pids: [stayer.pid], stopWhenFound: true },
        { inodes: [socket!.inode], pids: null, stopWhenFound: true },
      ]);
    });
  });
});

describe.runIf(process.platform === 'linux')('portclash who', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('names the process holding a port, exit 0', async () => {
    // alone on its port: who reads the options of every socket on it, and must meet only the test's
    const server = await pool.listenAlone('::');
    const port = portOf(server);
    const human = await runCli(['who', String(port)]);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toContain(`Port ${port} is held by:`);
    expect(human.stdout).toContain(`(pid ${process.pid}, user `);
    expect(human.stdout).toContain(`tcp6 [::]:${port} LISTEN`);

    const json = await runCli(['who', '--json', `${port}/tcp`]);
    const owned = JSON.parse(json.stdout) as OwnedSocket[];
    expect(owned).toEqual([
      expect.objectContaining({
        localPort: port,
        state: 'LISTEN',
        inode: inodeOf(server),
        ...(isRoot ? { reuseAddr: true, reusePort: false } : {}),
        owner: expect.objectContaining({ pid: process.pid, fd: fdOf(server) }),
      }),
    ]);
    if (!isRoot) expectOptionsUnread(owned[0], 'who --json');
  });

  it("shows each holder's parents: a child's is this test process", async () => {
    const holder = await holdPort('tcp');
    try {
      const parent = readProcess(process.pid)!;
      const human = await runCli(['who', `${holder.port}/tcp`]);
      expect(human).toMatchObject({ code: 0, stderr: '' });
      const line = human.stdout.split('\n').find((text) => text.includes(`(pid ${holder.pid}, `));
      expect(line).toMatch(new RegExp(`^ {2}\\S.* \\(pid ${holder.pid}, [^)]*\\) ← `));
      // nearest first, at most three, then …
      const parents = line!.split(' ← ').slice(1);
      expect(parents[0]).toBe(`${shorten(parent.command, 40)} (pid ${process.pid})`);
      expect(parents.length).toBeLessThanOrEqual(4);
      if (parents.length === 4) expect(parents[3]).toBe('…');

      const owned = JSON.parse((await runCli(['who', '--json', `${holder.port}/tcp`])).stdout) as (OwnedSocket & {
        owner: { parents: ProcessInfo[] };
        owners: { parents: ProcessInfo[] }[];
      })[];
      const held = owned.find((socket) => socket.owner?.pid === holder.pid)!;
      expect(held.owner.parents[0]).toMatchObject({ pid: process.pid, command: parent.command });
      expect(held.owner.parents.map((process) => process.pid)).toEqual([parent.pid, ...parentChain(parent, CHAIN_DEPTH - 1).map((process) => process.pid)]);
      expect(held.owners[0]!.parents).toEqual(held.owner.parents);
    } finally {
      await holder.stop();
    }
  });

  it('says nothing holds a free port, exit 1', async () => {
    // Not a port 0 listener closed again: another socket may share its number or take it at once.
    const port = await unusedPort();
    expect(await runCli(['who', `${port}/udp`])).toMatchObject({ code: 1, stdout: `Nothing holds ${port}/udp.\n`, stderr: '' });
    expect(await runCli(['who', '--json', String(port)])).toMatchObject({ code: 1, stdout: '[]\n' });
  });

  it.each([[['who']], [['who', '70000']], [['who', 'abc']], [['who', '80/sctp']], [['who', '80', '81']], [['who', '--bogus', '80']]])(
    '%j is a usage error, exit 2',
    async (args) => {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^portclash: ERR_[A-Z_]+: .+\n$/);
    },
  );

  it('adds owners to list with --owners', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const result = await runCli(['list', '--owners', '--port', String(portOf(server))]);
    expect(result.stdout.split('\n')[0]).toMatch(/UID\s+Process$/);
    expect(result.stdout).toContain(`[${process.pid}]`);
  });
});
