// The test helpers themselves: held sockets, namespaces and no_netlink do what later tests rely on.
import { readFileSync, readlinkSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { compileHelper, createNetns, holdSockets, runCommand, type Holder, type Netns, type SocketSpec } from './helpers/holders.js';
import { unusedPort } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('helpers.test: tests of namespaces and of other users need root and are skipped');

/** Holders and namespaces opened by a test, closed after it, newest first (holders may sit in a namespace). */
const opened: Array<Holder | Netns> = [];

afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close();
});

async function hold(sockets: SocketSpec[], options: Parameters<typeof holdSockets>[1] = {}): Promise<Holder> {
  const holder = await holdSockets(sockets, options);
  opened.push(holder);
  return holder;
}

interface ProcNetRow {
  localPort: number;
  state: number;
  uid: number;
  inode: number;
}

/** Rows of a /proc/<pid>/net table: the table of that process's network namespace. */
function procNetRows(pid: number | 'self', table: 'tcp' | 'tcp6' | 'udp' | 'udp6'): ProcNetRow[] {
  const lines = readFileSync(`/proc/${pid}/net/${table}`, 'utf8').trim().split('\n').slice(1);
  return lines.map((line) => {
    const fields = line.trim().split(/\s+/);
    const local = fields[1] ?? '';
    return {
      localPort: parseInt(local.slice(local.indexOf(':') + 1), 16),
      state: parseInt(fields[3] ?? '', 16),
      uid: Number(fields[7]),
      inode: Number(fields[9]),
    };
  });
}

/** Local address:port column of `ss -H` output, one entry per socket. */
function ssLocalAddresses(output: string): string[] {
  return output
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.trim().split(/\s+/)[3] ?? '');
}

const TCP_LISTEN = 0x0a;

describe.runIf(process.platform === 'linux')('hold_sockets.py', () => {
  it('holds a bound, not listening TCP socket that only its fd shows', async () => {
    const holder = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1' }]);
    const socket = holder.socket(0);
    expect(socket.localPort).toBeGreaterThan(0);

    expect(readlinkSync(`/proc/${holder.pid}/fd/${socket.fd}`)).toBe(`socket:[${socket.inode}]`);
    // A bound-only socket sits in the bind hash alone, which neither /proc/net/tcp nor ss (iproute2 < 6.8) lists.
    const ss = await runCommand('ss', ['-tanH']);
    expect(ss.code).toBe(0);
    expect(ssLocalAddresses(ss.stdout)).not.toContain(`127.0.0.1:${socket.localPort}`);
    expect(procNetRows(holder.pid, 'tcp').map((row) => row.inode)).not.toContain(socket.inode);

    // ...yet the port is taken.
    const second = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: socket.localPort }]);
    expect(second.sockets[0]).toEqual({ fd: null, inode: null, error: 'EADDRINUSE', syscall: 'bind' });
  });

  it('shares a listening port between SO_REUSEPORT holders and refuses one without it', async () => {
    const first = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, reusePort: true }]);
    const port = first.socket(0).localPort;
    const second = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port, listen: true, reusePort: true }]);
    const third = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port, listen: true }]);

    expect(second.socket(0).localPort).toBe(port);
    expect(third.sockets[0]).toMatchObject({ error: 'EADDRINUSE', syscall: 'bind' });
    const ss = await runCommand('ss', ['-tlnH']);
    expect(ssLocalAddresses(ss.stdout).filter((local) => local === `127.0.0.1:${port}`)).toHaveLength(2);
    // by inode: a socket on another address (a TIME_WAIT, another program's) may have the same port
    const inodes = [first.socket(0).inode, second.socket(0).inode];
    const rows = procNetRows(first.pid, 'tcp').filter((row) => inodes.includes(row.inode));
    expect(rows.map((row) => row.inode).sort()).toEqual([...inodes].sort());
    expect(rows.every((row) => row.localPort === port && row.state === TCP_LISTEN)).toBe(true);
  });

  it('holds UDP sockets, IPv6-only and connected ones included', async () => {
    const receiver = await hold([
      { protocol: 'udp', family: 4, address: '127.0.0.1' },
      { protocol: 'udp', family: 6, address: '::1', ipv6Only: true },
    ]);
    const port = receiver.socket(0).localPort;
    const sender = await hold([{ protocol: 'udp', family: 4, address: '127.0.0.1', connect: { address: '127.0.0.1', port } }]);

    expect(sender.socket(0)).toMatchObject({ remoteAddress: '127.0.0.1', remotePort: port });
    const ss = await runCommand('ss', ['-uanH']);
    expect(ssLocalAddresses(ss.stdout)).toEqual(
      expect.arrayContaining([`127.0.0.1:${port}`, `[::1]:${receiver.socket(1).localPort}`, `127.0.0.1:${sender.socket(0).localPort}`]),
    );
    expect(procNetRows(receiver.pid, 'udp').find((row) => row.inode === receiver.socket(0).inode)?.localPort).toBe(port);
    expect(procNetRows(receiver.pid, 'udp6').find((row) => row.inode === receiver.socket(1).inode)?.localPort).toBe(receiver.socket(1).localPort);
  });

  it('exits 2 with a message when the spec is malformed', async () => {
    const result = await runCommand('python3', [
      new URL('./helpers/hold_sockets.py', import.meta.url).pathname,
      JSON.stringify([{ protocol: 'tcp', family: 4, address: '127.0.0.1', lisen: true }]),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown keys: lisen');
  });

  it.runIf(isRoot)('creates sockets as another user, or keeps root as their owner with dropAfter', async () => {
    const spec: SocketSpec[] = [{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true }];
    const asNobody = await hold(spec, { user: 'nobody' });
    const dropAfter = await hold(spec, { user: 'nobody', dropAfter: true });

    expect(asNobody.uid).toBe(65534);
    expect(dropAfter.uid).toBe(65534);
    const rows = procNetRows('self', 'tcp');
    expect(rows.find((row) => row.inode === asNobody.socket(0).inode)?.uid).toBe(65534);
    // The kernel records the creator's uid at socket() and never updates it.
    expect(rows.find((row) => row.inode === dropAfter.socket(0).inode)?.uid).toBe(0);
  });

  it.runIf(isRoot)('reports EACCES for a privileged port when it is not root', async () => {
    // in a namespace of the test's own, where ip_unprivileged_port_start (per namespace) is the default,
    // whatever this host or container set it to
    const netns = await createNetns();
    opened.push(netns);
    expect(await netns.run('sysctl', ['-q', '-w', 'net.ipv4.ip_unprivileged_port_start=1024'])).toMatchObject({ code: 0, stderr: '' });
    const holder = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 1 }], { user: 'nobody', netns: netns.path });
    expect(holder.sockets[0]).toMatchObject({ error: 'EACCES', syscall: 'bind' });
  });
});

describe.runIf(process.platform === 'linux')('unusedPort', () => {
  it('gives a port that binds for real in TCP and UDP, without SO_REUSEADDR, on every address', async () => {
    const port = await unusedPort();
    const holder = await hold([
      { protocol: 'tcp', family: 6, address: '::', port, ipv6Only: false },
      { protocol: 'udp', family: 6, address: '::', port, ipv6Only: false },
    ]);
    expect(holder.sockets.map((socket) => ('error' in socket ? `${socket.syscall} ${socket.error}` : socket.localPort))).toEqual([port, port]);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('createNetns', () => {
  it('holds a socket bound to lo inside a namespace of its own', async () => {
    const netns = await createNetns();
    opened.push(netns);
    const holder = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, bindToDevice: 'lo' }], { netns: netns.path });
    const { localPort, inode } = holder.socket(0);

    const inside = await netns.run('ss', ['-tlnH']);
    expect(inside.code).toBe(0);
    expect(ssLocalAddresses(inside.stdout)).toEqual([`127.0.0.1%lo:${localPort}`]);
    expect(procNetRows(holder.pid, 'tcp').map((row) => row.inode)).toContain(inode);
    expect(procNetRows('self', 'tcp').map((row) => row.inode)).not.toContain(inode);

    // A socket bound to a device still conflicts with one bound to none (inet_bind_conflict), so Node,
    // started inside the namespace, cannot listen on that address and port.
    const node = await netns.runNode([
      '-e',
      `const server = require('node:net').createServer();
       server.on('error', (error) => console.log(error.code));
       server.listen(${localPort}, '127.0.0.1', () => { console.log('listening'); server.close(); });`,
    ]);
    expect(node.stdout.trim()).toBe('EADDRINUSE');
  });
});

describe.runIf(process.platform === 'linux')('no_netlink', () => {
  let noNetlink = '';
  // In a hook, not the suite body: vitest runs the bodies of skipped suites too while collecting.
  beforeAll(() => {
    noNetlink = compileHelper('no_netlink');
  });

  it('makes socket(AF_NETLINK) fail with EPERM', async () => {
    const result = await runCommand(noNetlink, ['python3', '-c', 'import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('PermissionError: [Errno 1]');
  });

  it('leaves other sockets and files alone', async () => {
    const python = await runCommand(noNetlink, ['python3', '-c', 'import socket; socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close(); print("ok")']);
    expect(python).toMatchObject({ code: 0, stdout: 'ok\n' });
    const cat = await runCommand(noNetlink, ['cat', '/proc/net/tcp']);
    expect(cat.code).toBe(0);
    expect(cat.stdout).toMatch(/^\s*sl\s+local_address/);
  });

  it('drives ss onto its /proc fallback', async () => {
    // ss does not fail without netlink: it says so on stderr and reads /proc/net/tcp instead.
    const ss = await runCommand(noNetlink, ['ss', '-tanH']);
    expect(ss.stderr).toContain('Cannot open netlink socket: Operation not permitted');
    expect(ss.code).toBe(0);
  });

  it('exits 127 when the program cannot be run', async () => {
    const result = await runCommand(noNetlink, ['/nonexistent/program']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('No such file or directory');
  });
});
