// portclash's library and CLI on Windows, end to end: list, who and check under Node for Windows (npm run test:win32 runs it under wine).
//
// The commands run in this process through runCli, with their output captured: under wine, a
// child node.exe whose stdout is a pipe fails with EBADF. The library is dist/, built on Linux:
// plain JS, the same on both. Where wine shows something other than Windows, PORTCLASH_UNDER_WINE=1
// says which to expect, and a comment says what Windows does.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

/**
 * @typedef {import('../../dist/index.js').OwnedSocket} OwnedSocket
 * @typedef {import('../../dist/index.js').SocketRecord} SocketRecord
 */

const { listSockets, findOwners, predictBind, readSystemFacts, readEphemeralRange, readReservedPorts } = await import('../../dist/index.js');
const { runCli } = await import('../../dist/cli/run.js');

const underWine = process.env.PORTCLASH_UNDER_WINE === '1';

/**
 * Runs one portclash command in this process, its output captured.
 * @param {...string} argv
 */
async function cli(...argv) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

/**
 * The port a server listens on: address() is a string only for a pipe, null only before listening.
 * @param {net.Server} server
 * @returns {number}
 */
function portOf(server) {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on an IP address');
  return address.port;
}

describe('on Windows', () => {
  /** @type {net.Server} */
  let server;
  /** @type {dgram.Socket} */
  let udp;
  /** @type {number} */
  let port;
  /** @type {number} */
  let udpPort;

  before(async () => {
    server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = portOf(server);
    udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
    udpPort = udp.address().port;
  });

  after(async () => {
    server.close();
    udp.close();
  });

  test("the facts are Windows' facts", () => {
    const facts = readSystemFacts();
    assert.equal(facts.kernel, 'win32');
    assert.equal(facts.uid, null);
    assert.ok(facts.localAddresses.IPv4.includes('127.0.0.1'), JSON.stringify(facts.localAddresses));
    // under wine netsh prints nothing: no excluded ranges, read without error
    if (underWine) assert.deepEqual(facts.excluded.tcp.IPv4, []);
    // the ranges read alone agree with those the facts hold
    const [low, high] = facts.ephemeralRange;
    assert.deepEqual(readEphemeralRange(), { low, high, size: high - low + 1 });
    const administered = (facts.excluded.tcp.IPv4 ?? []).filter((range) => range.administered).map((range) => [range.start, range.end]);
    assert.deepEqual(readReservedPorts(), administered);
  });

  test('listSockets finds the listener and the UDP socket, with their five-tuples, from IP Helper', async () => {
    const tcp = await listSockets({ port, protocol: 'tcp' });
    const listener = tcp.filter((socket) => socket.state === 'LISTEN');
    assert.deepEqual(
      listener.map(({ protocol, family, localAddress, localPort, remotePort, source }) => ({ protocol, family, localAddress, localPort, remotePort, source })),
      [{ protocol: 'tcp', family: 'IPv4', localAddress: '127.0.0.1', localPort: port, remotePort: 0, source: 'iphlpapi' }],
    );
    const [bound] = await listSockets({ port: udpPort, protocol: 'udp' });
    assert.equal(bound?.localAddress, '127.0.0.1');
    assert.equal(bound?.state, 'UNCONNECTED');
    // wine gives UDP rows their pid and TCP listeners none; Windows gives both
    assert.equal(bound?.ownerPid, process.pid);
    // the deepEqual above found the one listener
    assert.equal(/** @type {SocketRecord} */ (listener[0]).ownerPid, underWine ? undefined : process.pid);
  });

  test('findOwners names this node.exe for the UDP socket', async () => {
    // one answer per socket given
    const [owned] = /** @type {[OwnedSocket]} */ (await findOwners(await listSockets({ port: udpPort, protocol: 'udp' })));
    assert.equal(owned.owner?.pid, process.pid);
    assert.match(owned.owner?.name ?? '', /^node\.exe$/i);
    assert.equal(owned.owner?.fd, null);
    assert.ok(owned.owner?.user, 'the account of the token');
  });

  test('check says in use for the port held on the same address, free for a free one', async (t) => {
    const held = await predictBind({ port, host: '127.0.0.1' });
    t.diagnostic(`held: ${held.verdict} — ${held.reason}`);
    // the same specific address fails whatever the holder's options; only the errno turns on them
    assert.equal(held.verdict, 'in-use', JSON.stringify(held));
    assert.match(held.reason, /127\.0\.0\.1/);

    const probe = net.createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const freePort = portOf(probe);
    probe.close();
    await once(probe, 'close');
    const free = await predictBind({ port: freePort, host: '127.0.0.1' });
    t.diagnostic(`free: ${free.verdict} — ${free.reason}; ${free.assumptions.join('; ')}`);
    assert.equal(free.verdict, 'free', JSON.stringify(free));
    assert.equal(free.conflicts.length, 0);
    // on the stated assumption that no bound-only TCP socket, which IP Helper does not list, holds it
    assert.match(free.assumptions.join(' '), /cannot be seen/);
  });

  test('the CLI: list, who and check run end to end', async (t) => {
    const list = await cli('list', '--port', String(port), '--json');
    assert.equal(list.code, 0, list.stderr);
    const rows = /** @type {SocketRecord[]} */ (JSON.parse(list.stdout));
    assert.ok(
      rows.some((row) => row.localPort === port && row.state === 'LISTEN'),
      list.stdout,
    );

    const who = await cli('who', `${udpPort}/udp`);
    assert.equal(who.code, 0, who.stderr);
    assert.match(who.stdout, /node\.exe/i);

    t.diagnostic(who.stdout.trim());
    const check = await cli('check', String(port), '--host', '127.0.0.1');
    t.diagnostic(check.stdout.trim());
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, new RegExp(`${port}/tcp`));
  });

  test('a network namespace is refused: Windows has none to read', async () => {
    await assert.rejects(listSockets({}, { netns: 'web' }), { code: 'ERR_UNSUPPORTED_PLATFORM' });
    await assert.rejects(predictBind({ port }, { netns: '/proc/1/ns/net' }), { code: 'ERR_UNSUPPORTED_PLATFORM' });
    const list = await cli('list', '--netns', 'web');
    assert.equal(list.code, 4, list.stderr);
    assert.match(list.stderr, /ERR_UNSUPPORTED_PLATFORM: network namespaces are Linux's/);
  });
});
