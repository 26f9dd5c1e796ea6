// explainBindError on the errors net and dgram really emit, with the holder a child process of the test.
import { once } from 'node:events';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { PortclashError, describeBindError, explainBindError } from '../lib/index.js';
import { holdPort, type NodeHolder } from './helpers/node-holder.js';

const holders: NodeHolder[] = [];
const sockets: (net.Server | dgram.Socket)[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await Promise.all(holders.splice(0).map((holder) => holder.stop()));
});

async function hold(protocol: 'tcp' | 'udp'): Promise<NodeHolder> {
  const holder = await holdPort(protocol);
  holders.push(holder);
  return holder;
}

/** The error listen() emits, awaited with a deadline. */
async function listenError(port: number, host: string): Promise<NodeJS.ErrnoException> {
  const server = net.createServer();
  sockets.push(server);
  const failed = once(server, 'error', { signal: AbortSignal.timeout(5000) }) as Promise<[NodeJS.ErrnoException]>;
  server.listen(port, host);
  return (await failed)[0];
}

describe.runIf(process.platform === 'linux')('explainBindError', () => {
  it('names the child process that holds a TCP port listen() found in use', async () => {
    const holder = await hold('tcp');
    const error = await listenError(holder.port, '127.0.0.1');
    expect(error.code).toBe('EADDRINUSE');

    const prediction = await explainBindError(error);
    expect(prediction).toMatchObject({ port: holder.port, host: '127.0.0.1', protocol: 'tcp', verdict: 'in-use', errno: 'EADDRINUSE' });
    const pids = prediction!.conflicts.flatMap((socket) => ('owners' in socket ? socket.owners.map((owner) => owner.pid) : []));
    expect(pids).toContain(holder.pid);
    expect(describeBindError(prediction!)).toMatch(new RegExp(`^port ${holder.port}/tcp is held by \\S*node .*\\(pid ${holder.pid}, `));
  });

  it('explains a dgram bind error as UDP, from its syscall', async () => {
    const holder = await hold('udp');
    const socket = dgram.createSocket('udp4');
    sockets.push(socket);
    const failed = once(socket, 'error', { signal: AbortSignal.timeout(5000) }) as Promise<[NodeJS.ErrnoException]>;
    socket.bind(holder.port, '127.0.0.1');
    const [error] = await failed;
    expect(error).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });

    const prediction = await explainBindError(error);
    expect(prediction).toMatchObject({ port: holder.port, protocol: 'udp', verdict: 'in-use' });
    expect(describeBindError(prediction!)).toMatch(new RegExp(`^port ${holder.port}/udp is held by \\S*node `));
    expect(describeBindError(prediction!)).toContain(`pid ${holder.pid}`);
  });

  it('gives the unavailable prediction for an address that is not this host’s', async () => {
    const error = await listenError(0, '192.0.2.1');
    // Node leaves `port` out when it is 0
    expect(error).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'listen', address: '192.0.2.1' });
    expect('port' in error).toBe(false);
    const prediction = await explainBindError(error);
    expect(prediction).toMatchObject({ host: '192.0.2.1', protocol: 'tcp', verdict: 'unavailable', errno: 'EADDRNOTAVAIL' });
    expect(describeBindError(prediction!)).toMatch(/^port 0\/tcp unavailable \(EADDRNOTAVAIL\) — /);
  });

  it('lets the caller say what the error cannot: the protocol', async () => {
    const holder = await hold('udp');
    // a listen-style error for the UDP port: only the option makes it a UDP question
    const error = Object.assign(new Error('bind EADDRINUSE'), { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: holder.port });
    expect(await explainBindError(error, { protocol: 'udp' })).toMatchObject({ protocol: 'udp', verdict: 'in-use' });
  });

  it('returns null for errors that are not bind errors, without throwing', async () => {
    const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT', syscall: 'open', path: '/nope' });
    expect(await explainBindError(enoent)).toBeNull();
    expect(await explainBindError(new Error('plain'))).toBeNull();
    expect(await explainBindError(null)).toBeNull();
    expect(await explainBindError('EADDRINUSE')).toBeNull();
    // listen(path): a Unix socket has no port
    expect(await explainBindError({ code: 'EADDRINUSE', syscall: 'listen', address: '/tmp/app.sock', port: -1 })).toBeNull();
    expect(await explainBindError({ code: 'EADDRINUSE', syscall: 'listen', address: '/tmp/app.sock' })).toBeNull();
    expect(await explainBindError({ code: 'EADDRINUSE', syscall: 'connect', address: '127.0.0.1', port: 80 })).toBeNull();
  });

  it('rejects options it cannot use with ERR_INVALID_ARGUMENT', async () => {
    const error = { code: 'EADDRINUSE', syscall: 'listen', address: '127.0.0.1', port: 80 };
    await expect(explainBindError(error, { protocol: 'sctp' as 'tcp' })).rejects.toMatchObject({ name: 'PortclashError', code: 'ERR_INVALID_ARGUMENT' });
    await expect(explainBindError(error, null as unknown as object)).rejects.toBeInstanceOf(PortclashError);
  });
});
