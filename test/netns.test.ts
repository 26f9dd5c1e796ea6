// --netns / { netns }: another network namespace's tables, facts and binds, read from inside it (as root) or through /proc/<pid>/net (as nobody).
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  ephemeralReport,
  findOwners,
  listSockets,
  listSocketsSync,
  predictBind,
  predictBinds,
  readEphemeralRange,
  readReservedPorts,
  readSocketTables,
  readSystemFacts,
  type SocketRecord,
} from '../lib/index.js';
import type { LinuxFacts } from '../lib/linux/facts.js';
import { CLI, runCli } from './helpers/cli.js';
import { createNetns, holdSockets, runCommand, type Holder, type Netns } from './helpers/holders.js';
import { portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('netns.test: every test makes network namespaces, which needs root; skipped');

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

/** `tcp 127.0.0.1:5000 LISTEN`: what ss and portclash both say of a socket. */
function key(socket: Pick<SocketRecord, 'protocol' | 'localAddress' | 'localPort' | 'state'>): string {
  return `${socket.protocol} ${socket.localAddress}:${socket.localPort} ${socket.state}`;
}

/** The TCP and UDP sockets `ss` sees inside the namespace, as keys; asked per family, since it shows either wildcard as `*`. */
async function ssInside(netns: string): Promise<string[]> {
  const states: Record<string, string> = { LISTEN: 'LISTEN', ESTAB: 'ESTABLISHED', UNCONN: 'UNCONNECTED' };
  const keys: string[] = [];
  for (const [flag, wildcard] of [
    ['-4', '0.0.0.0'],
    ['-6', '::'],
  ] as const) {
    const result = await runCommand('nsenter', [`--net=${netns}`, 'ss', '-tuanH', flag]);
    expect(result.code, result.stderr).toBe(0);
    for (const line of result.stdout.split('\n').filter((text) => text.trim() !== '')) {
      const [protocol, state, , , local] = line.trim().split(/\s+/);
      const at = local!.lastIndexOf(':');
      const address = local!
        .slice(0, at)
        .replace(/^\[|\]$/g, '')
        .replace(/%.*$/, '');
      keys.push(`${protocol} ${address === '*' ? wildcard : address}:${local!.slice(at + 1)} ${states[state!] ?? state}`);
    }
  }
  return keys.sort();
}

/** The netns file of every thread of this process: readings enter namespaces on threads of their own, which must leave none behind. */
function threadNamespaces(): string[] {
  return readdirSync('/proc/self/task').map((tid) => readlinkSync(`/proc/self/task/${tid}/ns/net`));
}

describe.skipIf(!isRoot)('another network namespace, as root', () => {
  let netns: Netns;
  let holder: Holder;

  beforeAll(async () => {
    netns = await createNetns();
    holder = await holdSockets(
      [
        { protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true },
        { protocol: 'udp', family: 6, address: '::1' },
        { protocol: 'tcp', family: 6, address: '::', ipv6Only: false, listen: true },
      ],
      { netns: netns.path },
    );
  });
  afterAll(async () => {
    await holder?.close();
    await netns?.close();
  });

  it('lists exactly the sockets ss sees inside it, through sock_diag opened there, and none of this namespace', async () => {
    const own = new SocketPool();
    try {
      const here = portOf(await own.listen('127.0.0.1'));
      const { sockets, sources } = await readSocketTables({}, { netns: netns.path });
      expect(sockets.map(key).sort()).toEqual(await ssInside(netns.path));
      expect(sources.every((source) => source.source === 'sock_diag' && source.error === null)).toBe(true);
      expect(sockets.map((socket) => socket.inode)).toContain(holder.socket(0).inode);
      expect(sockets.some((socket) => socket.localPort === here)).toBe(false);
      // and this namespace's listing does not show the other's sockets
      expect((await listSockets()).map((socket) => socket.inode)).not.toContain(holder.socket(0).inode);
    } finally {
      await own.closeAll();
    }
  });

  it('reads /proc/thread-self/net inside it when /proc is asked for, sync and async alike', async () => {
    const viaProc = await readSocketTables({}, { netns: netns.path, source: 'proc' });
    expect(viaProc.sources.map((source) => source.path)).toEqual([
      '/proc/thread-self/net/tcp',
      '/proc/thread-self/net/tcp6',
      '/proc/thread-self/net/udp',
      '/proc/thread-self/net/udp6',
    ]);
    expect(viaProc.sockets.map(key).sort()).toEqual(await ssInside(netns.path));
    expect(listSocketsSync({}, { netns: netns.path }).map(key).sort()).toEqual(await ssInside(netns.path));
  });

  it('leaves every thread of this process in its own namespace', async () => {
    const before = readlinkSync('/proc/self/ns/net');
    for (let round = 0; round < 20; round++) {
      await listSockets({}, { netns: netns.path });
      listSocketsSync({}, { netns: netns.path, source: 'proc' });
      readSystemFacts({ netns: netns.path });
    }
    expect(new Set(threadNamespaces())).toEqual(new Set([before]));
  });

  it("names the owner, which is found in every process, and knows a socket of that namespace that closed (gone), not this one's", async () => {
    const sockets = await listSockets({ port: holder.socket(0).localPort, protocol: 'tcp' }, { netns: netns.path });
    const [owned] = await findOwners(sockets, { netns: netns.path });
    expect(owned?.owner?.pid).toBe(holder.pid);

    const brief = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }], { netns: netns.path });
    const listed = await listSockets({ port: brief.socket(0).localPort, protocol: 'tcp' }, { netns: netns.path });
    await brief.close();
    const [gone] = await findOwners(listed, { netns: netns.path });
    expect(gone?.ownerUnknown).toBe('gone');
  });

  it('predicts from its sockets: in use there by the holder, free there while this namespace holds the port, and the real bind there agrees', async () => {
    const own = new SocketPool();
    try {
      const heldThere = holder.socket(0).localPort;
      const there = await predictBind({ port: heldThere, host: '127.0.0.1' }, { netns: netns.path });
      expect(there.verdict).toBe('in-use');
      expect(there.conflicts[0]?.inode).toBe(holder.socket(0).inode);
      expect(there.reason).toContain(`pid ${holder.pid}`);

      const heldHere = portOf(await own.listen('127.0.0.1'));
      const [free, busy] = [
        await predictBind({ port: heldHere, host: '127.0.0.1' }, { netns: netns.path }),
        await predictBind({ port: heldHere, host: '127.0.0.1' }),
      ];
      expect(free.verdict).toBe('free');
      expect(busy.verdict).toBe('in-use');
      // the kernel agrees: in the namespace, the port binds; its held port does not
      const real = await holdSockets(
        [
          { protocol: 'tcp', family: 4, address: '127.0.0.1', port: heldHere, listen: true },
          { protocol: 'tcp', family: 4, address: '127.0.0.1', port: heldThere, listen: true },
        ],
        { netns: netns.path },
      );
      try {
        expect(real.sockets[0]).toMatchObject({ localPort: heldHere });
        expect(real.sockets[1]).toMatchObject({ error: 'EADDRINUSE' });
      } finally {
        await real.close();
      }
      // many ports share one reading of that namespace's table
      const ports = Array.from({ length: 12 }, (_, index) => ({ port: heldThere - 6 + index, host: '127.0.0.1' }));
      const batch = await predictBinds(ports, { netns: netns.path });
      expect(batch.find((prediction) => prediction.port === heldThere)?.verdict).toBe('in-use');
    } finally {
      await own.closeAll();
    }
  });

  it('reads its own sysctls and addresses: the ranges, ip_unprivileged_port_start, a local address only it has', async () => {
    const set = await netns.run('sh', [
      '-c',
      'sysctl -qw net.ipv4.ip_local_port_range="20000 20999" net.ipv4.ip_local_reserved_ports=20500 net.ipv4.ip_unprivileged_port_start=555 && ip addr add 192.0.2.7/32 dev lo',
    ]);
    expect(set.code, set.stderr).toBe(0);
    const facts = readSystemFacts({ netns: netns.path }) as LinuxFacts;
    expect(facts).toMatchObject({
      ephemeralRange: [20000, 20999],
      reservedPorts: [[20500, 20500]],
      unprivilegedPortStart: 555,
      netns: { path: netns.path, entered: true },
      sysctlsUnread: null,
    });
    expect(readEphemeralRange({ netns: netns.path })).toEqual({ low: 20000, high: 20999, size: 1000 });
    expect(readReservedPorts({ netns: netns.path })).toEqual([[20500, 20500]]);
    expect((readSystemFacts() as LinuxFacts).netns).toBeNull();
    expect((await ephemeralReport({ netns: netns.path })).range).toEqual({ low: 20000, high: 20999, size: 1000 });

    // 192.0.2.7 is local there, not here
    const port = 20700;
    expect((await predictBind({ port, host: '192.0.2.7' }, { netns: netns.path })).verdict).toBe('free');
    expect((await predictBind({ port, host: '192.0.2.7' })).verdict).toBe('unavailable');
    expect((await predictBind({ port: 20100 }, { netns: netns.path })).warnings.join(' ')).toContain('ephemeral range 20000–20999');
  });

  it('takes a name of /run/netns, as ip netns makes them', async () => {
    const name = `portclash-${randomBytes(4).toString('hex')}`;
    const added = await runCommand('ip', ['netns', 'add', name]);
    expect(added.code, added.stderr).toBe(0);
    try {
      await runCommand('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      const named = await holdSockets([{ protocol: 'udp', family: 4, address: '127.0.0.1' }], { netns: `/run/netns/${name}` });
      try {
        const sockets = await listSockets({}, { netns: name });
        expect(sockets.map((socket) => socket.inode)).toEqual([named.socket(0).inode]);
        const cli = await runCli(['who', `${named.socket(0).localPort}/udp`, '--netns', name, '--json']);
        expect(cli.code, cli.stderr).toBe(0);
        expect((JSON.parse(cli.stdout) as { owner: { pid: number } }[])[0]?.owner.pid).toBe(named.pid);
      } finally {
        await named.close();
      }
    } finally {
      await runCommand('ip', ['netns', 'delete', name]);
    }
  });

  it('treats its own namespace file as no other namespace', async () => {
    expect((readSystemFacts({ netns: '/proc/self/ns/net' }) as LinuxFacts).netns).toBeNull();
    const own = new SocketPool();
    try {
      const port = portOf(await own.listen('127.0.0.1'));
      expect((await listSockets({ port }, { netns: `/proc/${process.pid}/ns/net` })).length).toBe(1);
    } finally {
      await own.closeAll();
    }
  });

  it('refuses what names no network namespace, with stable codes', async () => {
    const cases: [unknown, string][] = [
      [`portclash-none-${randomBytes(4).toString('hex')}`, 'ERR_NO_SUCH_NETNS'],
      ['/nonexistent/ns/net', 'ERR_NO_SUCH_NETNS'],
      ['/proc/self/ns/pid', 'ERR_NOT_A_NETNS'],
      ['/etc/hostname', 'ERR_NOT_A_NETNS'],
      ['', 'ERR_INVALID_ARGUMENT'],
      ['..', 'ERR_INVALID_ARGUMENT'],
      [42, 'ERR_INVALID_ARGUMENT'],
    ];
    for (const [netns, code] of cases) {
      await expect(listSockets({}, { netns: netns as string }), String(netns)).rejects.toMatchObject({ code });
      expect(() => readSystemFacts({ netns: netns as string }), String(netns)).toThrow(expect.objectContaining({ code }) as Error);
    }
  });

  it('the CLI: list, check and info read it; --watch and the probing backend refuse it', async () => {
    const port = holder.socket(0).localPort;
    const list = await runCli(['list', '--netns', netns.path, '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as SocketRecord[]).map(key).sort()).toEqual(await ssInside(netns.path));

    const check = await runCli(['check', `${port}`, '--host', '127.0.0.1', '--netns', netns.path, '--json']);
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout)).toMatchObject({ verdict: 'in-use', errno: 'EADDRINUSE' });

    const info = await runCli(['info', `${port}`, '--netns', netns.path, '--json']);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ sockets: [{ inode: holder.socket(0).inode, owner: { pid: holder.pid } }] });

    const watch = await runCli(['list', '--watch', '--netns', netns.path]);
    expect(watch).toMatchObject({ code: 2 });
    expect(watch.stderr).toContain('ERR_USAGE');

    const missing = await runCli(['check', '3000', '--netns', 'portclash-no-such-namespace']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ERR_NO_SUCH_NETNS');

    const probing = await runCli(['check', '3000', '--netns', netns.path], 15_000, { PORTCLASH_BACKEND: 'probing' });
    expect(probing.code).toBe(4);
    expect(probing.stderr).toContain('ERR_UNSUPPORTED_PLATFORM');
  });

  describe('as nobody, who cannot enter it', () => {
    /** Runs the CLI as uid/gid 65534 with no groups and no capabilities. */
    const asNobody = (args: string[]) => runCommand('setpriv', [...NOBODY, process.execPath, CLI, ...args]);

    it('lists its sockets through /proc/<pid>/net of the process the path names', async () => {
      const result = await runCommand('setpriv', [
        ...NOBODY,
        process.execPath,
        '--input-type=module',
        '-e',
        `const { readSocketTables } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
         process.stdout.write(JSON.stringify(await readSocketTables({}, { netns: ${JSON.stringify(netns.path)} })));`,
      ]);
      expect(result.code, result.stderr).toBe(0);
      const { sockets, sources } = JSON.parse(result.stdout) as { sockets: SocketRecord[]; sources: { path?: string }[] };
      expect(sockets.map(key).sort()).toEqual(await ssInside(netns.path));
      expect(sources.map((source) => source.path)).toEqual(['tcp', 'tcp6', 'udp', 'udp6'].map((table) => `/proc/${netns.pid}/net/${table}`));
    });

    it('says unknown where a verdict turns on a sysctl it cannot read, and names the socket that fails the bind either way', async () => {
      const held = await asNobody(['check', `${holder.socket(0).localPort}`, '--host', '127.0.0.1', '--netns', netns.path, '--json']);
      expect(held.code, held.stderr).toBe(3);
      const prediction = JSON.parse(held.stdout) as { verdict: string; reason: string; conflicts: SocketRecord[]; assumptions: string[] };
      expect(prediction.verdict).toBe('unknown');
      expect(prediction.reason).toMatch(/ip_unprivileged_port_start.*fails either way/);
      expect(prediction.conflicts.map((socket) => socket.inode)).toEqual([holder.socket(0).inode]);

      const open = await asNobody(['check', '40999', '--netns', netns.path, '--json']);
      expect(open.code).toBe(3);
      expect(JSON.parse(open.stdout)).toMatchObject({ verdict: 'unknown', assumptions: [expect.stringContaining('ip_unprivileged_port_start')] });

      const owner = await asNobody(['who', `${holder.socket(0).localPort}`, '--netns', netns.path, '--json']);
      expect(owner.code, owner.stderr).toBe(0);
      expect(JSON.parse(owner.stdout)).toMatchObject([{ owner: null, ownerUnknown: 'permission' }]);
    });

    it('fails with ERR_NETNS_UNREADABLE where nothing outside shows what was asked: the ranges, a /run/netns name with no process of its own inside', async () => {
      const ephemeral = await asNobody(['ephemeral', '--netns', netns.path]);
      expect(ephemeral.code).toBe(4);
      expect(ephemeral.stderr).toMatch(/ERR_NETNS_UNREADABLE: cannot read the ephemeral and reserved port ranges/);

      const name = `portclash-${randomBytes(4).toString('hex')}`;
      expect((await runCommand('ip', ['netns', 'add', name])).code).toBe(0);
      try {
        const listed = await asNobody(['list', '--netns', name]);
        expect(listed.code).toBe(4);
        expect(listed.stderr).toMatch(/ERR_NETNS_UNREADABLE: .*setns: EPERM.*no process inside it is known/);
      } finally {
        await runCommand('ip', ['netns', 'delete', name]);
      }
    });
  });
});
