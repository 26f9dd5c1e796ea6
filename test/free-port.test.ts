// findFreePort, findFreePorts, reservePort: ports outside the ephemeral range, never a held one, and distinct under parallel callers.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { findFreePort, findFreePorts, findOwners, listSockets, PortclashError, readEphemeralRange, reservePort, type ReservedPort } from '../lib/index.js';
import { SocketPool, unusedPort } from './helpers/sockets.js';

const pool = new SocketPool();
const reserved: ReservedPort[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill();
  await Promise.all(reserved.splice(0).map((port) => port.close()));
  await pool.closeAll();
});

function outsideEphemeral(port: number): boolean {
  const { low, high } = readEphemeralRange();
  return port < low || port > high;
}

async function listenDefault(port: number): Promise<net.Server> {
  // Node's listen(port): what the prediction was for
  const server = pool.track(net.createServer());
  const failed = new Promise<never>((_, reject) => server.once('error', reject));
  server.listen(port);
  await Promise.race([once(server, 'listening'), failed]);
  return server;
}

async function rejection(work: Promise<unknown>): Promise<PortclashError> {
  const error: unknown = await work.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(error).toBeInstanceOf(PortclashError);
  return error as PortclashError;
}

describe.runIf(process.platform === 'linux')('findFreePort and findFreePorts', () => {
  it('returns distinct ports outside the ephemeral range, not excluded, that Node can listen on right after', async () => {
    const exclude = await findFreePorts(20);
    const ports = await findFreePorts(10, { exclude });
    expect(new Set(ports).size).toBe(10);
    for (const port of ports) {
      expect(outsideEphemeral(port)).toBe(true);
      expect(exclude).not.toContain(port);
    }
    for (const port of ports) await listenDefault(port);
    expect(outsideEphemeral(await findFreePort())).toBe(true);
  });

  it('returns UDP ports a dgram socket can bind', async () => {
    const ports = await findFreePorts(3, { protocol: 'udp', host: '127.0.0.1' });
    for (const port of ports) {
      const socket = pool.track(dgram.createSocket('udp4'));
      socket.bind(port, '127.0.0.1');
      await once(socket, 'listening');
    }
  });

  it('never returns a port a listener holds: of a held port and its free neighbour, only the neighbour', async () => {
    const held = await unusedPort({ run: 2 });
    await pool.listen('::', { port: held });
    for (let round = 0; round < 10; round++) expect(await findFreePorts(1, { range: [held, held + 1] })).toEqual([held + 1]);
    // a listener on 127.0.0.1 alone is in the way of Node's default :: dual-stack bind too
    const other = await unusedPort({ run: 2 });
    await pool.listen('127.0.0.1', { port: other });
    expect(await findFreePort({ range: [other, other + 1] })).toBe(other + 1);
  });

  it('rejects with ERR_NO_FREE_PORT, counting the refusals, when every port of the range is held', async () => {
    const held = await unusedPort({ run: 2 });
    await pool.listen('::', { port: held });
    await pool.listen('::', { port: held + 1 });
    const error = await rejection(findFreePort({ range: [held, held + 1] }));
    expect(error.code).toBe('ERR_NO_FREE_PORT');
    expect(error.message).toContain(`${held}–${held + 1}/tcp`);
    expect(error.message).toContain('2 checked');
    expect(error.message).toMatch(/refused: in-use 2 \(\d+: /);
    const few = await rejection(findFreePorts(2, { range: [held, held + 2], exclude: [held + 2] }));
    expect(few.message).toContain('no 2 free ports');
    expect(few.message).toContain('1 excluded');
  });

  it('says why when the range lies inside the ephemeral range', async () => {
    const { low } = readEphemeralRange();
    const error = await rejection(findFreePort({ range: [low, low + 3] }));
    expect(error.code).toBe('ERR_NO_FREE_PORT');
    expect(error.message).toContain('avoidEphemeral: false');
    const port = await findFreePort({ range: [low, low + 50], avoidEphemeral: false });
    expect(port).toBeGreaterThanOrEqual(low);
  });

  it.each([
    [{ range: [5, 3] }, 'ERR_INVALID_ARGUMENT'],
    [{ range: [0, 10] }, 'ERR_INVALID_PORT'],
    [{ range: [1, 70000] }, 'ERR_INVALID_PORT'],
    [{ range: 3000 }, 'ERR_INVALID_ARGUMENT'],
    [{ exclude: ['x'] }, 'ERR_INVALID_PORT'],
    [{ exclude: 3000 }, 'ERR_INVALID_ARGUMENT'],
    [{ protocol: 'sctp' }, 'ERR_INVALID_ARGUMENT'],
    [{ avoidEphemeral: 'no' }, 'ERR_INVALID_ARGUMENT'],
    [{ host: 3 }, 'ERR_INVALID_HOST'],
    [{ host: 'not an address' }, 'ERR_INVALID_HOST'],
  ])('refuses %j with %s', async (options, code) => {
    expect((await rejection(findFreePort(options as never))).code).toBe(code);
    expect((await rejection(reservePort(options as never))).code).toBe(code);
  });

  it.each([0, -1, 1.5, '2'])('refuses count %j with ERR_INVALID_ARGUMENT', async (count) => {
    expect((await rejection(findFreePorts(count as never))).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe.runIf(process.platform === 'linux')('reservePort', () => {
  it('holds the port: a listening server that another server can take over with listen(handle)', async () => {
    const reservation = await reservePort({ host: '127.0.0.1' });
    reserved.push(reservation);
    expect(reservation.protocol).toBe('tcp');
    expect(outsideEphemeral(reservation.port)).toBe(true);
    expect((reservation.server.address() as net.AddressInfo).port).toBe(reservation.port);
    const listeners = await listSockets({ protocol: 'tcp', port: reservation.port, listening: true });
    expect(listeners).toHaveLength(1);

    const app = pool.track(net.createServer((socket) => socket.end('served')));
    app.listen(reservation.server);
    await once(app, 'listening');
    const client = pool.track(net.connect(reservation.port, '127.0.0.1'));
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('served');
  });

  it("hands the port to a child process through stdio: the child listens on the reservation's fd", async () => {
    const reservation = await reservePort({ host: '127.0.0.1' });
    reserved.push(reservation);
    expect(reservation.fd).toBeGreaterThan(2);
    const script = `
      import net from 'node:net';
      net.createServer((socket) => socket.end('child')).listen({ fd: 3 }, () => console.log('ready'));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit', reservation.fd] });
    children.push(child);
    await once(createInterface({ input: child.stdout! }), 'line');
    // the parent lets go: only the child's copy of the socket is left to accept
    await reservation.close();
    reserved.splice(0);
    const client = pool.track(net.connect(reservation.port, '127.0.0.1'));
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    await once(client, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('child');
  });

  it('holds a UDP port with a bound dgram socket, released by close()', async () => {
    const reservation = await reservePort({ protocol: 'udp' });
    expect(reservation.protocol).toBe('udp');
    expect(reservation.socket.address().port).toBe(reservation.port);
    expect(await listSockets({ protocol: 'udp', port: reservation.port })).not.toHaveLength(0);
    await reservation.close();
    const again = pool.track(dgram.createSocket('udp6'));
    again.bind(reservation.port);
    await once(again, 'listening');
  });

  it('gives 16 parallel processes 16 distinct ports of one 64-port window, each held', async () => {
    const { low, high } = readEphemeralRange();
    // a window above the ephemeral range where there is room, else below it
    const start = high + 64 < 65535 ? high + 1 + Math.floor(Math.random() * (65535 - high - 64)) : 1024 + Math.floor(Math.random() * (low - 1024 - 64));
    const range = [start, start + 63];
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const script = `
      import { reservePort } from ${JSON.stringify(entry)};
      const reserved = await reservePort({ range: ${JSON.stringify(range)} });
      console.log(reserved.port);
      process.stdin.once('data', async () => { await reserved.close(); process.exit(0); });
    `;
    const ports = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
        children.push(child);
        const exited = once(child, 'exit').then(([code]) => {
          throw new Error(`a child exited (${String(code)}) before printing a port`);
        });
        const [line] = await Promise.race([once(createInterface({ input: child.stdout }), 'line') as Promise<[string]>, exited]);
        exited.catch(() => undefined);
        return Number(line);
      }),
    );
    expect(new Set(ports).size).toBe(16);
    // each port is listened on by the child that printed it: held, not merely found
    const inWindow = (await listSockets({ protocol: 'tcp', listening: true })).filter((socket) => ports.includes(socket.localPort));
    const holders = new Map((await findOwners(inWindow, { scan: 'first' })).map((socket) => [socket.localPort, socket.owners.map((owner) => owner.pid)]));
    ports.forEach((port, index) => {
      expect(port).toBeGreaterThanOrEqual(range[0]!);
      expect(port).toBeLessThanOrEqual(range[1]!);
      expect(holders.get(port)).toEqual([children[index]!.pid]);
    });
    await Promise.all(
      children.map(async (child) => {
        const exited = once(child, 'exit');
        child.stdin!.end('done\n');
        expect((await exited)[0]).toBe(0);
      }),
    );
  });
});
