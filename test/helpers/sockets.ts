// Real sockets for tests: opened on loopback at port 0, remembered, and closed after each test.
import dgram from 'node:dgram';
import { readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';

import { listSockets, type SocketRecord } from '../../lib/index.js';
import { runCommand } from './holders.js';

type Closable = net.Server | net.Socket | dgram.Socket;

/** Everything a test opened; `closeAll()` in afterEach ends it all, awaiting each close. */
export class SocketPool {
  private readonly open = new Set<Closable>();

  track<T extends Closable>(socket: T): T {
    this.open.add(socket);
    return socket;
  }

  /** A listener on `host`, on port 0 (the kernel chooses) unless `port` says otherwise. */
  async listen(host: string, options: { ipv6Only?: boolean; port?: number } = {}): Promise<net.Server> {
    const server = this.track(net.createServer((peer) => this.track(peer)));
    const failed = new Promise<never>((_, reject) => server.once('error', reject));
    server.listen({ port: options.port ?? 0, host, ipv6Only: options.ipv6Only ?? false });
    await Promise.race([once(server, 'listening'), failed]);
    return server;
  }

  /** Connects to a server of this pool and returns both ends, once both exist. */
  async connect(server: net.Server, host: string): Promise<{ client: net.Socket; accepted: net.Socket }> {
    const acceptedPromise = once(server, 'connection') as Promise<[net.Socket]>;
    const client = this.track(net.connect({ port: portOf(server), host }));
    await once(client, 'connect');
    const [accepted] = await acceptedPromise;
    return { client, accepted };
  }

  /**
   * Connects to a server of this pool and closes the client's end first, so that it is the side
   * left in TIME_WAIT; resolves once both ends have closed. Returns the client's port.
   */
  async leaveTimeWait(server: net.Server, host: string): Promise<number> {
    const { client, accepted } = await this.connect(server, host);
    const clientPort = client.localPort!;
    accepted.on('end', () => accepted.end());
    client.end();
    await Promise.all([once(client, 'close'), once(accepted, 'close')]);
    return clientPort;
  }

  /**
   * Like listen(), on a port no other socket on the machine has as its local port, in any protocol,
   * family or address. The kernel hands out a port 0 bind a number that a socket on another address
   * (a ::1 listener, a TIME_WAIT on 127.0.0.1) or in the other protocol may already use, and a test
   * that asks about the whole port (`check`, `who`, `list --port`) would meet that socket too.
   */
  async listenAlone(host: string, options: { ipv6Only?: boolean } = {}): Promise<net.Server> {
    return this.alone('a listener', async () => {
      const server = await this.listen(host, options);
      const inode = inodeOf(server);
      return { made: server, port: portOf(server), isMine: (socket) => socket.inode === inode };
    });
  }

  /** Like connect(), with a client port no other socket on the machine uses (see listenAlone). */
  async connectAlone(server: net.Server, host: string): Promise<{ client: net.Socket; accepted: net.Socket }> {
    return this.alone('a client port', async () => {
      const ends = await this.connect(server, host);
      const inode = inodeOf(ends.client);
      return { made: ends, port: ends.client.localPort!, isMine: (socket) => socket.inode === inode };
    });
  }

  /**
   * Like leaveTimeWait(), with a client port that nothing but that TIME_WAIT uses: connect() shares
   * a local port among connections to different peers, so another test's connection may hold it too.
   */
  async leaveTimeWaitAlone(server: net.Server, host: string): Promise<number> {
    const serverPort = portOf(server);
    return this.alone('a TIME_WAIT port', async () => {
      const port = await this.leaveTimeWait(server, host);
      const isMine = (socket: SocketRecord) => socket.state === 'TIME_WAIT' && socket.protocol === 'tcp' && socket.remotePort === serverPort;
      return { made: port, port, isMine };
    });
  }

  /**
   * Makes something until the port it got is the test's alone; what came out shared is closed (a
   * TIME_WAIT stays behind, on a port the test no longer looks at).
   */
  private async alone<T>(what: string, make: () => Promise<{ made: T; port: number; isMine: (socket: SocketRecord) => boolean }>): Promise<T> {
    const shared: number[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      const before = new Set(this.open);
      const { made, port, isMine } = await make();
      const sockets = await listSockets({ port });
      // the other end of a connection the test made on this port is the test's too
      const held = this.inodes();
      // the listing must show what the test made, or `every` below would pass on a listing that shows nothing
      if (!sockets.some(isMine)) throw new Error(`listSockets({ port: ${port} }) does not show ${what} the test just made`);
      if (sockets.every((socket) => isMine(socket) || (socket.inode !== 0 && held.has(socket.inode)))) return made;
      shared.push(port);
      await this.closeAll([...this.open].filter((socket) => !before.has(socket)));
    }
    throw new Error(`found no port for ${what} that nothing else uses; shared: ${shared.join(', ')}`);
  }

  /**
   * A UDP socket on `port` (a number a TCP socket of the test got), on `host`. Another program may
   * hold that UDP port already, so that is an error naming it, not a retry on another port.
   */
  async udpOn(port: number, host: string): Promise<dgram.Socket> {
    const socket = this.track(dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4'));
    const failed = new Promise<never>((_, reject) => socket.once('error', (error) => reject(new Error(`UDP ${host}:${port} is taken: ${error.message}`))));
    socket.bind(port, host);
    await Promise.race([once(socket, 'listening'), failed]);
    return socket;
  }

  async udp(type: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
    const socket = this.track(dgram.createSocket(type));
    socket.bind(0, host);
    await once(socket, 'listening');
    return socket;
  }

  /**
   * The inodes of every socket this pool holds open. Other test files run in parallel and old
   * connections linger in TIME_WAIT, so a port number alone may also match sockets that are not ours.
   */
  inodes(): Set<number> {
    return new Set([...this.open].filter((socket) => !isClosed(socket)).map(inodeOf));
  }

  /** Closes every socket of the pool, or only `sockets`, awaiting each close. */
  async closeAll(sockets: readonly Closable[] = [...this.open]): Promise<void> {
    const closing = sockets.map(async (socket) => {
      if (socket instanceof net.Socket) {
        if (!socket.destroyed) socket.destroy();
      } else if (socket instanceof net.Server) {
        if (socket.listening) await new Promise((resolve) => socket.close(resolve));
      } else {
        await new Promise<void>((resolve) => {
          try {
            socket.close(() => resolve());
          } catch {
            resolve(); // already closed
          }
        });
      }
    });
    for (const socket of sockets) this.open.delete(socket);
    await Promise.all(closing);
  }
}

function isClosed(socket: Closable): boolean {
  if (socket instanceof net.Socket) return socket.destroyed;
  if (socket instanceof net.Server) return !socket.listening;
  try {
    socket.address();
    return false;
  } catch {
    return true;
  }
}

/**
 * Why findOwners leaves a socket's options unread for a caller without CAP_NET_ADMIN (nobody): it
 * cannot count the cgroup-BPF getsockopt programs that getsockopt() on the socket would run
 * (lib/linux/sockopthooks.ts), so it reads none and claims none.
 */
export const OPTIONS_UNREAD_WITHOUT_CAP_NET_ADMIN =
  /^the cgroup-BPF getsockopt programs \(BPF_CGROUP_GETSOCKOPT\) of its cgroup v2 \(id \d+\) cannot be counted: bpf failed with EPERM \(counting needs CAP_NET_ADMIN\)$/;

export function portOf(server: net.Server | dgram.Socket): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not bound to an IP address');
  return address.port;
}

/** The file descriptor behind a net or dgram socket (internal handles, Linux only). */
export function fdOf(socket: Closable): number {
  if (socket instanceof dgram.Socket) {
    const state = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
    const handle = state === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: number } }>)[state]?.handle;
    if (handle?.fd === undefined) throw new Error('dgram socket has no fd');
    return handle.fd;
  }
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) throw new Error('socket has no fd');
  return fd;
}

/** The socket's inode as /proc/self/fd shows it: `socket:[12345]`. */
export function inodeOf(socket: Closable): number {
  const link = readlinkSync(`/proc/self/fd/${fdOf(socket)}`);
  const match = /^socket:\[(\d+)\]$/.exec(link);
  if (match === null) throw new Error(`fd is not a socket: ${link}`);
  return Number(match[1]);
}

/**
 * Tries real binds of each candidate port, in order, without SO_REUSEADDR or SO_REUSEPORT, on the
 * dual-stack wildcard `::` in TCP and in UDP, closing each socket at once; prints the first port both
 * binds got. Such a bind conflicts with every socket on that port and protocol, in any state, family
 * or address (a TIME_WAIT and a bound-only socket included), so success means nothing holds the port.
 * A bound socket that never connected leaves nothing behind when closed.
 */
const PROBE_PORTS = `
import json, socket, sys
def binds(port):
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        probe = socket.socket(socket.AF_INET6, kind)
        try:
            probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            probe.bind(('::', port))
        except OSError:
            return False
        finally:
            probe.close()
    return True
run = int(sys.argv[2])
for port in json.loads(sys.argv[1]):
    if port + run - 1 <= 65535 and all(binds(port + offset) for offset in range(run)):
        print(port)
        break
`;

/**
 * A port nothing on this machine uses right now, found by really binding it (see PROBE_PORTS), not by
 * asking the library under test, which could miss a socket and so make a free-port test pass on a port
 * that is not free. It lies outside the ephemeral range, where no port 0 bind and no connect() of
 * another test or program can land on it a moment later, and is picked at random, so that test files
 * running side by side ask about different ones. The probe closes its sockets before returning: a test
 * that asks whether the port is free needs it unbound.
 */
export async function unusedPort(options: { privileged?: boolean; run?: number } = {}): Promise<number> {
  const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
  const between = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, index) => from + index);
  const shuffled = (ports: number[]) =>
    ports
      .map((port) => [Math.random(), port] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, port]) => port);
  let candidates: number[];
  if (options.privileged === true) {
    // only a caller with CAP_NET_BIND_SERVICE can tell a free low port from EACCES by binding it
    if (process.getuid?.() !== 0) throw new Error('unusedPort({ privileged: true }) binds ports below 1024 and needs root');
    candidates = shuffled(between(1, 1023));
  } else {
    // Above the range first, where fewer services live than in the registered ports below it; a range
    // that covers every unprivileged port leaves only ports inside it.
    candidates = [...shuffled(between(high + 1, 65535)), ...shuffled(between(1024, low - 1))];
    if (candidates.length === 0) candidates = shuffled(between(1024, 65535));
  }
  // 200 tries bound the probe; `run` asks for that many free ports in a row, from the one returned
  candidates = candidates.slice(0, 200);
  const probe = await runCommand('python3', ['-c', PROBE_PORTS, JSON.stringify(candidates), String(options.run ?? 1)]);
  const port = Number(probe.stdout.trim());
  if (probe.code !== 0 || !Number.isInteger(port) || port === 0) {
    throw new Error(`no port of ${candidates.length} tried could be bound in TCP and UDP (exit ${probe.code}): ${probe.stderr.trim()}`);
  }
  return port;
}
