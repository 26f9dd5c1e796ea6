// Real sockets for tests: opened on loopback at port 0, remembered, and closed after each test.
import dgram from 'node:dgram';
import { readlinkSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';

type Closable = net.Server | net.Socket | dgram.Socket;

/** Everything a test opened; `closeAll()` in afterEach ends it all, awaiting each close. */
export class SocketPool {
  private readonly open = new Set<Closable>();

  track<T extends Closable>(socket: T): T {
    this.open.add(socket);
    return socket;
  }

  async listen(host: string, options: { ipv6Only?: boolean } = {}): Promise<net.Server> {
    const server = this.track(net.createServer((peer) => this.track(peer)));
    server.listen({ port: 0, host, ipv6Only: options.ipv6Only ?? false });
    await once(server, 'listening');
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

  async closeAll(): Promise<void> {
    const closing = [...this.open].map(async (socket) => {
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
    this.open.clear();
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
