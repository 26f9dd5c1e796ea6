// The Windows addon under Node for Windows: loading, IP Helper rows, process facts, services (npm run test:win32 runs it under wine).
//
// Plain JS for Node's own test runner, so that it runs under wine with nothing built for it. Where
// wine shows something other than Windows, PORTCLASH_UNDER_WINE=1 (set by scripts/test-win32.mjs)
// says which to expect, and a comment says what Windows does.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * @typedef {import('../../lib/binding.js').NativeBinding} NativeBinding
 * @typedef {import('../../lib/binding.js').IpHelperQuery} IpHelperQuery
 * @typedef {import('../../lib/binding.js').SourceReading} SourceReading
 * @typedef {import('../../lib/binding.js').WindowsProcessFacts} WindowsProcessFacts
 */
/**
 * The addon as Windows builds it: these functions are there (the loading suite checks them).
 * @typedef {NativeBinding & Required<Pick<NativeBinding, 'readIpHelper' | 'readIpHelperSync' | 'processInfo' | 'listServices' | 'readRegistryValues' | 'cancelInFlight' | 'debugTableQueue' | 'debugTableRetries'>>} WindowsBinding
 */
/**
 * One row at the offsets of native/sockets.h.
 * @typedef {{ local: number[], remote: number[], inode: number, uid: number, localPort: number, remotePort: number, protocol: number, family: number, state: number, flags: number, interfaceIndex: number, ownerPid: number }} DecodedRow
 */

const packageRoot = fileURLToPath(new URL('../..', import.meta.url));
// node-gyp-build has no types: what it returns is said where it is called, as lib/binding.ts does
const require = /** @type {(id: string) => unknown} */ (createRequire(import.meta.url));
const nodeGypBuild = /** @type {{ (dir: string): unknown, resolve(dir: string): string }} */ (require('node-gyp-build'));
const underWine = process.env.PORTCLASH_UNDER_WINE === '1';

// The layout lib/rows.ts reads, which native/sockets.h must match.
const rowsSource = fs.readFileSync(path.join(packageRoot, 'lib', 'rows.ts'), 'utf8');
const ROW_LAYOUT_VERSION = Number(/ROW_LAYOUT_VERSION = (\d+)/.exec(rowsSource)?.[1]);
const ROW_SIZE = Number(/ROW_SIZE = (\d+)/.exec(rowsSource)?.[1]);

const TCP = 6;
const UDP = 17;
const MIB_TCP_STATE_LISTEN = 2;
const MIB_TCP_STATE_ESTABLISHED = 5;
const ERROR_INSUFFICIENT_BUFFER = 122;
/** @type {IpHelperQuery[]} */
const ALL_TABLES = [
  { protocol: TCP, family: 4 },
  { protocol: UDP, family: 4 },
  { protocol: TCP, family: 6 },
  { protocol: UDP, family: 6 },
];

const binding = /** @type {WindowsBinding} */ (nodeGypBuild(packageRoot));

/**
 * The packed rows as objects, at the offsets of native/sockets.h.
 * @param {ArrayBuffer} buffer
 * @param {number} count
 * @returns {DecodedRow[]}
 */
function decodeRows(buffer, count) {
  assert.equal(buffer.byteLength, count * ROW_SIZE);
  const view = new DataView(buffer);
  const rows = [];
  for (let i = 0; i < count; ++i) {
    const at = i * ROW_SIZE;
    rows.push({
      local: [...new Uint8Array(buffer, at, 16)],
      remote: [...new Uint8Array(buffer, at + 16, 16)],
      inode: view.getUint32(at + 32, true) + view.getUint32(at + 36, true) * 2 ** 32,
      uid: view.getUint32(at + 40, true),
      localPort: view.getUint16(at + 52, true),
      remotePort: view.getUint16(at + 54, true),
      protocol: view.getUint8(at + 56),
      family: view.getUint8(at + 57),
      state: view.getUint8(at + 58),
      flags: view.getUint8(at + 59),
      interfaceIndex: view.getUint32(at + 60, true),
      ownerPid: view.getUint32(at + 76, true),
    });
  }
  return rows;
}

const IPV4_LOOPBACK = [127, 0, 0, 1, ...new Array(12).fill(0)];
const IPV6_LOOPBACK = [...new Array(15).fill(0), 1];

/**
 * The rows of one protocol and family bound to this address and port.
 * @param {DecodedRow[]} rows
 * @param {number} protocol
 * @param {number} family
 * @param {readonly number[]} address
 * @param {number} port
 * @returns {DecodedRow[]}
 */
function findRow(rows, protocol, family, address, port) {
  return rows.filter(
    (row) => row.protocol === protocol && row.family === family && row.localPort === port && row.local.every((byte, i) => byte === address[i]),
  );
}

/**
 * What every row of every table must be on Windows, whatever the socket.
 * @param {DecodedRow[]} rows
 */
function assertRowContract(rows) {
  for (const row of rows) {
    assert.equal(row.uid, 0);
    assert.equal(row.inode, 0);
    assert.equal(row.flags, 0);
    if (row.protocol === UDP) {
      assert.equal(row.state, 0, 'the UDP table has no state');
      assert.equal(row.remotePort, 0);
    } else {
      assert.ok(row.state >= 1 && row.state <= 12, `MIB_TCP_STATE ${row.state}`);
    }
    if (row.family === 4) {
      assert.deepEqual(row.local.slice(4), new Array(12).fill(0), 'IPv4 in the first 4 bytes');
      assert.equal(row.interfaceIndex, 0, 'no scope id for IPv4');
    }
  }
}

/**
 * @param {SourceReading[]} sources
 * @param {number} count
 */
function assertSourcesOk(sources, count) {
  assert.equal(sources.length, ALL_TABLES.length);
  for (const source of sources) {
    assert.equal(source.errno, 0, `${source.syscall} failed`);
    assert.equal(source.syscall, null);
    assert.equal(source.malformed, 0);
  }
  assert.equal(
    sources.reduce((sum, source) => sum + source.rows, 0),
    count,
  );
}

/**
 * readIpHelper's batches decoded and joined.
 * @param {IpHelperQuery[]} queries
 * @returns {Promise<{ rows: DecodedRow[], sources: SourceReading[] }>}
 */
async function readAsync(queries) {
  /** @type {DecodedRow[][]} */
  const batches = [];
  const reading = await binding.readIpHelper(queries, (rows, count) => batches.push(decodeRows(rows, count)));
  return { rows: batches.flat(), sources: reading.sources };
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

describe('loading', () => {
  test('node-gyp-build finds prebuilds/win32-x64/portclash.node', () => {
    const resolved = nodeGypBuild.resolve(packageRoot);
    // a Windows clone with a node-gyp build would load build\Release first, as it should
    if (underWine) assert.equal(resolved, path.join(packageRoot, 'prebuilds', 'win32-x64', 'portclash.node'));
    assert.match(resolved, /portclash\.node$/);
  });

  test('packs rows in the layout lib/rows.ts reads', () => {
    assert.ok(ROW_LAYOUT_VERSION > 0 && ROW_SIZE > 0, 'lib/rows.ts names the layout');
    assert.equal(binding.rowLayoutVersion, ROW_LAYOUT_VERSION);
    assert.equal(binding.rowSize, ROW_SIZE);
  });

  test('exports the Windows functions and none of Linux', () => {
    for (const name of /** @type {const} */ ([
      'readIpHelper',
      'readIpHelperSync',
      'processInfo',
      'listServices',
      'readRegistryValues',
      'cancelInFlight',
      'debugTableQueue',
    ])) {
      assert.equal(typeof binding[name], 'function', name);
    }
    for (const name of /** @type {const} */ (['readProcNet', 'readSockDiag', 'findSocketOwners', 'clockTicksPerSecond'])) {
      assert.equal(binding[name], undefined, name);
    }
  });

  const distBinding = path.join(packageRoot, 'dist', 'binding.js');
  test('dist/binding.js loads it with getBinding()', { skip: !fs.existsSync(distBinding) && 'dist/ is not built' }, async () => {
    const { getBinding } = /** @type {typeof import('../../dist/binding.js')} */ (await import(pathToFileURL(distBinding).href));
    const loaded = getBinding();
    assert.equal(loaded.rowLayoutVersion, ROW_LAYOUT_VERSION);
    assert.equal(typeof loaded.readIpHelperSync, 'function');
  });
});

describe('IP Helper tables', () => {
  /** @type {net.Server} */
  let server;
  /** @type {dgram.Socket} */
  let udp;

  before(async () => {
    server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    udp = dgram.createSocket('udp4');
    udp.bind(0, '127.0.0.1');
    await once(udp, 'listening');
  });

  after(async () => {
    server.close();
    udp.close();
    await Promise.all([once(server, 'close'), once(udp, 'close')]);
  });

  // wine reads the Linux socket tables and finds each socket's owner by its inode among the unix
  // fds of its Windows processes. It gives the listener and the connection it accepted pid 0 (run
  // after run; presumably wineserver, which is no Windows process, holds their fds, as it does the
  // accepting), the connecting end and UDP sockets the right pid. Windows names the owner of every
  // row.
  const expectedServerPid = () => (underWine ? 0 : process.pid);

  /** @param {DecodedRow[]} rows */
  function assertOwnSockets(rows) {
    const [tcp, ...moreTcp] = findRow(rows, TCP, 4, IPV4_LOOPBACK, portOf(server));
    assert.ok(tcp, 'the TCP listener has a row');
    assert.equal(moreTcp.length, 0);
    assert.equal(tcp.state, MIB_TCP_STATE_LISTEN);
    assert.equal(tcp.ownerPid, expectedServerPid());
    const [udpRow, ...moreUdp] = findRow(rows, UDP, 4, IPV4_LOOPBACK, udp.address().port);
    assert.ok(udpRow, 'the UDP socket has a row');
    assert.equal(moreUdp.length, 0);
    assert.equal(udpRow.ownerPid, process.pid);
  }

  test('readIpHelperSync shows a TCP listener and a UDP socket of this process', () => {
    const reading = binding.readIpHelperSync(ALL_TABLES);
    assertSourcesOk(reading.sources, reading.count);
    const rows = decodeRows(reading.rows, reading.count);
    assertRowContract(rows);
    assertOwnSockets(rows);
  });

  test('readIpHelper hands the same sockets over in batches', async () => {
    const { rows, sources } = await readAsync(ALL_TABLES);
    assertSourcesOk(sources, rows.length);
    assertRowContract(rows);
    assertOwnSockets(rows);
  });

  test('a connection shows from both ends as ESTABLISHED, with the remote end', async () => {
    const accepted = /** @type {Promise<[net.Socket]>} */ (once(server, 'connection'));
    const client = net.connect(portOf(server), '127.0.0.1');
    await once(client, 'connect');
    const [serverSide] = await accepted;
    try {
      const reading = binding.readIpHelperSync([{ protocol: TCP, family: 4 }]);
      const rows = decodeRows(reading.rows, reading.count);
      // connected, the client has its local port
      const clientPort = /** @type {number} */ (client.localPort);
      /** @type {[number, number, number][]} */
      const ends = [
        [clientPort, portOf(server), process.pid],
        [portOf(server), clientPort, expectedServerPid()],
      ];
      for (const [localPort, remotePort, pid] of ends) {
        const matches = findRow(rows, TCP, 4, IPV4_LOOPBACK, localPort).filter(
          (row) => row.remotePort === remotePort && row.state === MIB_TCP_STATE_ESTABLISHED,
        );
        assert.equal(matches.length, 1, `one ESTABLISHED row 127.0.0.1:${localPort} → 127.0.0.1:${remotePort}`);
        assert.deepEqual(matches[0]?.remote, IPV4_LOOPBACK);
        assert.equal(matches[0]?.ownerPid, pid);
      }
    } finally {
      client.destroy();
      serverSide.destroy();
      await Promise.all([once(client, 'close'), once(serverSide, 'close')]);
    }
  });

  test('sources answer the queries in their order', () => {
    const reading = binding.readIpHelperSync([
      { protocol: UDP, family: 4 },
      { protocol: TCP, family: 4 },
    ]);
    const rows = decodeRows(reading.rows, reading.count);
    // one source per query
    const [udpCount, tcpCount] = /** @type {[number, number]} */ (reading.sources.map((source) => source.rows));
    assert.ok(rows.slice(0, udpCount).every((row) => row.protocol === UDP && row.family === 4));
    assert.ok(rows.slice(udpCount, udpCount + tcpCount).every((row) => row.protocol === TCP && row.family === 4));
  });

  test('refuses a protocol or family it has no table for, and an onRows that is no function', () => {
    // what the types forbid, cast to never to reach the addon's own checks
    assert.throws(() => binding.readIpHelperSync([{ protocol: /** @type {never} */ (1), family: 4 }]), RangeError);
    assert.throws(() => binding.readIpHelperSync([{ protocol: TCP, family: /** @type {never} */ (5) }]), RangeError);
    assert.throws(() => binding.readIpHelperSync(/** @type {never} */ ({})), TypeError);
    assert.throws(() => binding.readIpHelper(ALL_TABLES, /** @type {never} */ (null)), TypeError);
  });

  test('an IPv6 listener and UDP socket on ::1', async () => {
    const server6 = net.createServer();
    server6.listen(0, '::1');
    const [outcome] = await Promise.race([
      once(server6, 'listening').then(() => /** @type {const} */ (['listening'])),
      /** @type {Promise<[NodeJS.ErrnoException]>} */ (once(server6, 'error')),
    ]);
    // wine and Windows both have ::1; a machine without it fails here rather than passing untested
    assert.equal(outcome, 'listening', `listen on ::1 failed (${outcome === 'listening' ? '' : outcome.code}): this suite needs an IPv6 loopback`);
    const udp6 = dgram.createSocket('udp6');
    udp6.bind(0, '::1');
    await once(udp6, 'listening');
    try {
      const reading = binding.readIpHelperSync(ALL_TABLES);
      const rows = decodeRows(reading.rows, reading.count);
      assertRowContract(rows);
      const tcp = findRow(rows, TCP, 6, IPV6_LOOPBACK, portOf(server6));
      assert.equal(tcp.length, 1, 'the IPv6 listener has one row');
      assert.equal(tcp[0]?.state, MIB_TCP_STATE_LISTEN);
      assert.equal(tcp[0]?.ownerPid, expectedServerPid());
      const udpRow = findRow(rows, UDP, 6, IPV6_LOOPBACK, udp6.address().port);
      assert.equal(udpRow.length, 1, 'the IPv6 UDP socket has one row');
      assert.equal(udpRow[0]?.ownerPid, process.pid);
      // dwLocalScopeId as the table gives it. wine's nsiproxy reports 0x1000 for ::1, its code for
      // the loopback scope (dlls/nsiproxy.sys/ip.c: "0x1000 /* loopback */"); what Windows reports
      // for ::1 is not checked here, so only wine's value is asserted.
      if (underWine) {
        assert.equal(tcp[0]?.interfaceIndex, 0x1000);
        assert.equal(udpRow[0]?.interfaceIndex, 0x1000);
      }
    } finally {
      server6.close();
      udp6.close();
      await Promise.all([once(server6, 'close'), once(udp6, 'close')]);
    }
  });

  test('a table that outgrows its buffer is asked for again, 8 times at most', () => {
    assert.deepEqual(binding.debugTableRetries(0), { errno: 0, calls: 1 });
    assert.deepEqual(binding.debugTableRetries(3), { errno: 0, calls: 4 });
    assert.deepEqual(binding.debugTableRetries(7), { errno: 0, calls: 8 });
    assert.deepEqual(binding.debugTableRetries(8), { errno: ERROR_INSUFFICIENT_BUFFER, calls: 8 });
    assert.deepEqual(binding.debugTableRetries(100), { errno: ERROR_INSUFFICIENT_BUFFER, calls: 8 });
  });

  test('with nothing in flight, cancelInFlight stops nothing and the queue is empty', async () => {
    await readAsync(ALL_TABLES);
    assert.equal(binding.cancelInFlight(true), 0);
    assert.deepEqual(binding.debugTableQueue(), { queued: 0, waiting: false, limit: 4 });
  });
});

describe('processInfo', () => {
  test('names this process: node.exe, its user, its start time', (t) => {
    // one answer per pid, in order
    const [facts, ...rest] = /** @type {[WindowsProcessFacts, ...WindowsProcessFacts[]]} */ (binding.processInfo([process.pid]));
    assert.equal(rest.length, 0);
    t.diagnostic(JSON.stringify(facts));
    assert.equal(facts.pid, process.pid);
    assert.equal(facts.imageError, 0);
    // null, which the type allows, fails these matches as '' does
    assert.match(facts.image ?? '', /^[A-Za-z]:\\.*\\node\.exe$/i);
    assert.equal(facts.image?.toLowerCase(), process.execPath.toLowerCase());
    assert.equal(facts.userError, 0);
    assert.match(facts.user ?? '', /^[^\\]+\\[^\\]+$/, 'DOMAIN\\name');
    assert.equal(facts.startError, 0);
    // startError 0: GetProcessTimes gave the time
    const startTime = /** @type {number} */ (facts.startTime);
    // The process was created before Node started counting its uptime, and not long before.
    const uptimeOrigin = Date.now() - process.uptime() * 1000;
    assert.ok(startTime <= uptimeOrigin + 1000, `started ${startTime - uptimeOrigin} ms after Node's uptime origin`);
    assert.ok(startTime >= uptimeOrigin - 60_000, `started ${uptimeOrigin - startTime} ms before Node's uptime origin`);
  });

  test("a pid with no process: every fact null, each with OpenProcess's error", () => {
    // Windows pids are multiples of 4 far below this one
    const missing = 4294967292;
    const [mine, gone, again] = /** @type {[WindowsProcessFacts, WindowsProcessFacts, WindowsProcessFacts]} */ (
      binding.processInfo([process.pid, missing, process.pid])
    );
    assert.equal(mine.pid, process.pid);
    assert.equal(again.pid, process.pid);
    assert.deepEqual(gone, {
      pid: missing,
      image: null,
      imageError: 87, // ERROR_INVALID_PARAMETER: OpenProcess's answer for a pid that names no process
      user: null,
      userError: 87,
      startTime: null,
      startError: 87,
      parentPid: null,
      parentError: 1168, // ERROR_NOT_FOUND: no such pid in the Toolhelp snapshot
    });
  });

  test("a child's parent is the process that started it, from one Toolhelp snapshot", async (t) => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { stdio: 'ignore' });
    try {
      await once(child, 'spawn');
      const [facts] = /** @type {[WindowsProcessFacts]} */ (binding.processInfo([/** @type {number} */ (child.pid)]));
      t.diagnostic(JSON.stringify(facts));
      assert.equal(facts.parentError, 0);
      assert.equal(facts.parentPid, process.pid);
    } finally {
      child.kill();
    }
  });

  test('pid 0, the System Idle Process, cannot be opened', () => {
    const [idle] = /** @type {[WindowsProcessFacts]} */ (binding.processInfo([0]));
    assert.equal(idle.image, null);
    assert.notEqual(idle.imageError, 0);
    assert.equal(idle.user, null);
    assert.equal(idle.startTime, null);
  });

  test('refuses what is not a pid', () => {
    assert.throws(() => binding.processInfo([-1]), RangeError);
    assert.throws(() => binding.processInfo([1.5]), RangeError);
    assert.throws(() => binding.processInfo(/** @type {never} */ (4)), TypeError);
    assert.deepEqual(binding.processInfo([]), []);
  });
});

describe('readRegistryValues', () => {
  test('reads a key that exists, says ERROR_FILE_NOT_FOUND for one that does not, and refuses what is not a path', () => {
    const [services, missing] = binding.readRegistryValues(['SYSTEM\\CurrentControlSet\\Services', 'SYSTEM\\portclash-no-such-key']);
    assert.deepEqual({ ...services, values: [] }, { errno: 0, syscall: null, changing: false, values: [] });
    assert.ok(Array.isArray(services?.values));
    assert.deepEqual(missing, { errno: 2, syscall: 'RegOpenKeyExW', changing: false, values: [] });
    assert.deepEqual(binding.readRegistryValues([]), []);
    assert.throws(() => binding.readRegistryValues(/** @type {never} */ ('SYSTEM')), TypeError);
    assert.throws(() => binding.readRegistryValues(/** @type {never} */ ([42])), TypeError);
  });
});

describe('listServices', () => {
  test('lists running services with their pids, or says why not', (t) => {
    const list = binding.listServices();
    t.diagnostic(
      `errno ${list.errno}, syscall ${list.syscall}, ${list.services.length} services: ` +
        list.services.map((service) => `${service.name} (${service.displayName}, pid ${service.pid})`).join('; '),
    );
    assert.equal(typeof list.errno, 'number');
    assert.ok(Array.isArray(list.services));
    if (list.errno !== 0) {
      assert.match(list.syscall ?? '', /^(OpenSCManagerW|EnumServicesStatusExW)$/);
      assert.equal(list.services.length, 0);
      return;
    }
    assert.equal(list.syscall, null);
    for (const service of list.services) {
      assert.equal(typeof service.name, 'string');
      assert.ok(service.name.length > 0);
      assert.equal(typeof service.displayName, 'string');
      assert.ok(Number.isInteger(service.pid) && service.pid > 0, 'services without a process are left out');
    }
  });
});
