// waitForPort: listeners that appear later, ::1-only and full-backlog servers, free after close, timeouts, aborts.
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import tcpPortUsed from 'tcp-port-used';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { PortclashError, waitForPort, WaitTimeoutError, type SocketRecord, type SocketTables } from '../lib/index.js';
import { platform } from '../lib/platform.js';
import { acceptsOn } from '../lib/wait.js';
import { holdSockets, runCommand, type Holder } from './helpers/holders.js';
import { inodeOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

function listener(localAddress: string, ipv6Only?: boolean): SocketRecord {
  const family = localAddress.includes(':') ? 'IPv6' : 'IPv4';
  return {
    protocol: 'tcp',
    family,
    localAddress,
    localPort: 3000,
    remoteAddress: family === 'IPv6' ? '::' : '0.0.0.0',
    remotePort: 0,
    state: 'LISTEN',
    uid: 1000,
    inode: 1,
    kernelOnly: false,
    source: 'proc',
    ...(ipv6Only === undefined ? {} : { ipv6Only }),
  };
}

describe('acceptsOn: would a connection to this address reach this listener', () => {
  it.each([
    ['127.0.0.1', undefined, '127.0.0.1', true],
    ['127.0.0.1', undefined, '127.0.0.2', false],
    ['127.0.0.1', undefined, '::1', false],
    ['0.0.0.0', undefined, '127.0.0.1', true],
    ['0.0.0.0', undefined, '::1', false],
    ['::1', true, '::1', true],
    ['::1', true, '127.0.0.1', false],
    ['::', false, '::1', true],
    ['::', false, '127.0.0.1', true],
    ['::', true, '127.0.0.1', false],
    ['::', true, '::1', true],
    // unknown V6ONLY (/proc): dual-stack assumed, Linux's and Node's default
    ['::', undefined, '127.0.0.1', true],
    ['::ffff:127.0.0.1', undefined, '127.0.0.1', true],
    // an IPv4 address written v4-mapped is that IPv4 address
    ['127.0.0.1', undefined, '::ffff:127.0.0.1', true],
    ['0:0:0:0:0:0:0:1', true, '::1', true],
  ] as const)('a listener on %s (ipv6Only %s) and a client of %s: %s', (local, ipv6Only, address, expected) => {
    expect(acceptsOn(listener(local, ipv6Only), address)).toBe(expected);
  });

  it("takes any of localhost's addresses, as Node 17+ resolves it (::1 first) and Node 20's connect() tries them all", () => {
    const localhost = ['::1', '127.0.0.1'];
    expect(localhost.some((address) => acceptsOn(listener('::1', true), address))).toBe(true);
    expect(localhost.some((address) => acceptsOn(listener('127.0.0.1'), address))).toBe(true);
  });
});

describe('waitForPort: bad input', () => {
  it.each([
    [70000, { until: 'listening' }, 'ERR_INVALID_PORT'],
    [0, { until: 'listening' }, 'ERR_INVALID_PORT'],
    ['no-such-service-x', { until: 'listening' }, 'ERR_UNKNOWN_SERVICE'],
    [3000, { until: 'x' }, 'ERR_INVALID_ARGUMENT'],
    [3000, undefined, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', timeout: -1 }, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', timeout: Number.NaN }, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', interval: 1 }, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', protocol: 'sctp' }, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', signal: {} }, 'ERR_INVALID_ARGUMENT'],
    [3000, { until: 'listening', host: 'not an address!' }, 'ERR_INVALID_HOST'],
    [3000, { until: 'free', host: 'not an address!' }, 'ERR_INVALID_HOST'],
  ])('waitForPort(%j, %j) rejects with %s', async (port, options, code) => {
    const error = await waitForPort(port as number, options as never).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PortclashError);
    expect(error).toMatchObject({ code });
  });
});

describe.runIf(process.platform === 'linux')('waitForPort on real sockets', () => {
  const pool = new SocketPool();
  const holders: Holder[] = [];
  const clients: net.Socket[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    await Promise.all(holders.splice(0).map((holder) => holder.close()));
    await pool.closeAll();
  });

  it('resolves when a listener appears after the wait began', async () => {
    const port = await unusedPort();
    // the wait's own reads of the table: the listener is opened only once the first has seen nothing
    const reads = vi.spyOn(platform(), 'readTables');
    try {
      const waiting = waitForPort(port, { until: 'listening', host: '127.0.0.1', timeout: 10_000, interval: 20 });
      // waitFor awaits what the probe returns: the first read's answer, once that read has begun
      const first = await waitFor<SocketTables>(() => reads.mock.results[0]?.value as Promise<SocketTables> | undefined, 'the first look');
      expect(first.sockets).toEqual([]);
      const server = await pool.listen('127.0.0.1', { port });
      const result = await waiting;
      expect(result).toMatchObject({ until: 'listening', port, protocol: 'tcp', addresses: ['127.0.0.1'] });
      if (result.until !== 'listening') throw new Error('unreachable');
      expect(result.listeners.map((socket) => socket.inode)).toEqual([inodeOf(server)]);
      // the narrowest question: this port's listeners, in TCP
      expect(reads.mock.calls[0]).toEqual([{ port, protocol: 'tcp', listening: true }, 'auto']);
      expect(reads.mock.calls.length).toBeGreaterThan(1);
    } finally {
      reads.mockRestore();
    }
  });

  it('sees a listener on ::1 only with host ::1 and with localhost where it resolves to ::1, not with 127.0.0.1', async () => {
    const port = await unusedPort();
    const server = await pool.listen('::1', { port });
    const seen = await waitForPort(port, { until: 'listening', host: '::1', timeout: 5000 });
    expect(seen.until === 'listening' && seen.listeners.map((socket) => socket.inode)).toEqual([inodeOf(server)]);

    const missed = await waitForPort(port, { until: 'listening', host: '127.0.0.1', timeout: 200 }).catch((caught: unknown) => caught);
    expect(missed).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect((missed as Error).message).toContain(`nothing listened on ${port}/tcp on 127.0.0.1`);
    expect((missed as Error).message).toContain(`(pid ${process.pid}) on [::1]:${port}`);
    expect((missed as WaitTimeoutError).lastSeen).toMatchObject({ until: 'listening', listeners: [{ localAddress: '::1', owner: { pid: process.pid } }] });

    // localhost is what the resolver says here (this machine's /etc/hosts may give 127.0.0.1 alone)
    const localhost = (await lookup('localhost', { all: true })).map(({ address }) => address);
    const viaLocalhost = waitForPort(port, { until: 'listening', host: 'localhost', timeout: 200 });
    if (localhost.includes('::1')) {
      await expect(viaLocalhost).resolves.toMatchObject({ until: 'listening', addresses: localhost });
    } else {
      await expect(viaLocalhost).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringContaining(`localhost (${localhost.join(', ')})`) });
    }
    // and without a host, any listener on the port counts
    await expect(waitForPort(port, { until: 'listening', timeout: 5000 })).resolves.toMatchObject({ until: 'listening', addresses: [] });
  });

  it('sees a listener whose accept queue is full, which a connecting probe (tcp-port-used) does not', async () => {
    // backlog 0: the kernel queues one connection (sk_ack_backlog > sk_max_ack_backlog is full), and the holder never accepts
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, backlog: 0 }]);
    holders.push(holder);
    const port = holder.socket(0).localPort;
    const client = net.connect({ port, host: '127.0.0.1' });
    clients.push(client);
    await once(client, 'connect');
    // the queue is full, so a probe's SYN is dropped: tcp-port-used waits in vain
    await expect(tcpPortUsed.waitUntilUsed(port, 100, 1000)).rejects.toThrow(/timeout/i);
    const result = await waitForPort(port, { until: 'listening', host: '127.0.0.1', timeout: 5000 });
    expect(result.until === 'listening' && result.listeners.map((socket) => socket.inode)).toEqual([holder.socket(0).inode]);
  });

  it("names the holder's pid on timeout, then resolves once the holder has closed", async () => {
    const port = await unusedPort();
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port, listen: true }]);
    holders.push(holder);
    const error = await waitForPort(port, { until: 'free', host: '127.0.0.1', timeout: 200 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PortclashError);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT' });
    expect((error as Error).message).toMatch(new RegExp(`^${port}/tcp on 127\\.0\\.0\\.1 was not free within 200 ms: in-use \\(EADDRINUSE\\) — `));
    expect((error as Error).message).toContain(`held by python3 (pid ${holder.pid}) on 127.0.0.1:${port}`);
    // the same, as data: the last prediction, its conflict with the owner named
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).lastSeen).toMatchObject({
      until: 'free',
      prediction: { verdict: 'in-use', conflicts: [{ localPort: port, state: 'LISTEN', owner: { pid: holder.pid } }] },
    });

    const waiting = waitForPort(port, { until: 'free', host: '127.0.0.1', timeout: 10_000, interval: 20 });
    await holder.close();
    const result = await waiting;
    expect(result).toMatchObject({ until: 'free', port, protocol: 'tcp', prediction: { verdict: 'free', host: '127.0.0.1' } });
  });

  it('says nothing listens when nothing does', async () => {
    const port = await unusedPort();
    const error = await waitForPort(port, { until: 'listening', timeout: 150 }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', message: `nothing listened on ${port}/tcp within 150 ms: no socket listens on that port` });
  });

  it('waits for UDP sockets with protocol udp', async () => {
    const port = await unusedPort();
    await expect(waitForPort(port, { until: 'listening', protocol: 'udp', timeout: 0 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    await pool.udpOn(port, '127.0.0.1');
    await expect(waitForPort(port, { until: 'listening', protocol: 'udp', host: '127.0.0.1', timeout: 5000 })).resolves.toMatchObject({
      listeners: [{ protocol: 'udp', localPort: port }],
    });
  });

  it('rejects with ABORT_ERR, the reason as its cause, promptly: aborted before, during a look, or while sleeping', async () => {
    const port = await unusedPort();
    const reason = new Error('stop');
    await expect(waitForPort(port, { until: 'listening', signal: AbortSignal.abort(reason) })).rejects.toMatchObject({ code: 'ABORT_ERR', cause: reason });

    const controller = new AbortController();
    const during = waitForPort(port, { until: 'free', timeout: 60_000, signal: controller.signal });
    controller.abort(reason);
    await expect(during).rejects.toMatchObject({ code: 'ABORT_ERR', cause: reason });

    // a 30 s interval: the abort lands in the sleep after the first look, and must end it at once
    const started = Date.now();
    const sleeping = waitForPort(port, { until: 'listening', timeout: 60_000, interval: 30_000, signal: AbortSignal.timeout(200) });
    await expect(sleeping).rejects.toMatchObject({ code: 'ABORT_ERR' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('leaves no timer behind: a process that waited exits on its own, with a long timeout and interval', async () => {
    const port = await unusedPort();
    const server = await pool.listen('127.0.0.1', { port });
    const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    // the listening wait resolves at once; the aborted one had a 10-minute deadline and a 5-minute sleep pending
    const script = `
      const { waitForPort } = await import(${JSON.stringify(index)});
      await waitForPort(${port}, { until: 'listening', timeout: 600000, interval: 300000 });
      const controller = new AbortController();
      const waiting = waitForPort(${port}, { until: 'free', timeout: 600000, interval: 300000, signal: controller.signal });
      setImmediate(() => controller.abort());
      await waiting.catch((error) => console.log(error.code));
      console.log('done');
    `;
    // a timer left behind keeps the child alive past the bound, and runCommand rejects
    const { code, signal, stdout } = await runCommand(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 20_000 });
    expect({ code, signal, stdout }).toEqual({ code: 0, signal: null, stdout: 'ABORT_ERR\ndone\n' });
    expect(server.listening).toBe(true);
  });
});
