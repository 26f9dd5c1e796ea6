// The table readers under failure: no fd outlives a throw, no abort at the thread limit, every error a PortclashError.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { constants } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type NativeBinding } from '../lib/binding.js';
import { listSockets, listSocketsSync } from '../lib/index.js';
import { createNetns, runCommand } from './helpers/holders.js';
import { SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn(
    'table-reader-safety.test: the thread-limit test (run as nobody through setpriv) and the abandoned dump (in a network namespace) need root and are skipped',
  );
const NETLINK_SOCK_DIAG = 4;
const DIST = new URL('../dist/index.js', import.meta.url).href;

const TCP_QUERIES = [
  { protocol: 6, family: 4, states: 1 << 10, port: -1 },
  { protocol: 6, family: 6, states: 1 << 10, port: -1 },
] as const;
const TCP_SOURCES = [
  { path: '/proc/net/tcp', protocol: 6, family: 4 },
  { path: '/proc/net/tcp6', protocol: 6, family: 6 },
] as const;

/** This process's fds that are /proc/net tables or NETLINK_SOCK_DIAG sockets: what a reader opens. */
function readerFds(): string[] {
  const diagInodes = new Set(
    readFileSync('/proc/net/netlink', 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => Number(fields[1]) === NETLINK_SOCK_DIAG)
      .map((fields) => `socket:[${fields[9]}]`),
  );
  const found: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the fd of readdir itself, closed by now
    }
    if (diagInodes.has(target) || /^\/proc\/\d+\/net\//.test(target)) found.push(`${fd} → ${target}`);
  }
  return found;
}

describe.runIf(process.platform === 'linux')('the table readers when a row sink throws', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('close the netlink sockets and the /proc/net files on the way out', async () => {
    // rows in every table read, so that the first batch exists and the sink throws at it
    await pool.listen('127.0.0.1');
    await pool.listen('::1');
    const binding = getBinding();
    const before = readerFds();
    expect(before).toEqual([]);
    for (let attempt = 0; attempt < 10; attempt++) {
      expect(() => binding.debugReadTables!('sock_diag', TCP_QUERIES, { batchRows: 1, throwAfterBatches: 1 })).toThrow('the row sink failed');
      expect(() => binding.debugReadTables!('proc', TCP_SOURCES, { batchRows: 1, throwAfterBatches: 1 })).toThrow('the row sink failed');
    }
    expect(readerFds()).toEqual(before);
    // and without the throw, the same seam reads every row
    expect(binding.debugReadTables!('sock_diag', TCP_QUERIES, { batchRows: 1 }).count).toBeGreaterThanOrEqual(2);
  });
});

describe('errors the addon throws', () => {
  afterEach(() => setBinding(null));

  it('reach users as PortclashError ERR_NATIVE, sync and async', async () => {
    const failing = (): never => {
      throw new Error('std::bad_alloc');
    };
    const binding: NativeBinding = {
      rowLayoutVersion: getBinding().rowLayoutVersion,
      rowSize: getBinding().rowSize,
      readProcNetSync: failing,
      readProcNet: async () => failing(),
      readSockDiagSync: failing,
      readSockDiag: async () => failing(),
    };
    setBinding(binding);
    expect(() => listSocketsSync()).toThrow(
      expect.objectContaining({ name: 'PortclashError', code: 'ERR_NATIVE', message: expect.stringContaining('std::bad_alloc') }),
    );
    await expect(listSockets()).rejects.toMatchObject({ name: 'PortclashError', code: 'ERR_NATIVE' });
    await expect(listSockets({}, { source: 'proc' })).rejects.toMatchObject({ name: 'PortclashError', code: 'ERR_NATIVE' });
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('at the thread limit (RLIMIT_NPROC, as nobody)', () => {
  it('answers from both families on one thread instead of aborting Node', async () => {
    // The child lowers its own RLIMIT_NPROC to 1 once its libuv pool is up (prlimit as the same
    // user needs no privilege), proves that no thread or process can be made, then reads.
    const script = `
      import { spawnSync, execFileSync } from 'node:child_process';
      import { readFile } from 'node:fs/promises';
      const portclash = await import(${JSON.stringify(DIST)});
      await readFile('/proc/self/stat');
      execFileSync('prlimit', ['--pid', String(process.pid), '--nproc=1:1']);
      const out = { limited: spawnSync('true').error?.code ?? 'spawned' };
      const outcome = (value) => Array.isArray(value) ? { sockets: value.length } : { name: value?.name, code: value?.code, message: value?.message };
      try { out.sync = outcome(portclash.listSocketsSync({ protocol: 'tcp' }, { source: 'sock_diag' })); } catch (error) { out.sync = outcome(error); }
      out.async = await portclash.listSockets({ protocol: 'tcp' }, { source: 'sock_diag' }).then(outcome, outcome);
      console.log(JSON.stringify(out));
    `;
    const result = await runCommand('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '--input-type=module', '-e', script]);
    expect(result).toMatchObject({ code: 0, signal: null });
    const out = JSON.parse(result.stdout) as { limited: string; sync: unknown; async: unknown };
    expect(out.limited).toBe('EAGAIN');
    expect(out.sync).toEqual({ sockets: expect.any(Number) });
    expect(out.async).toEqual({ sockets: expect.any(Number) });
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('a sock_diag dump abandoned part-way', () => {
  it('does not stop the next query of the same call (no EBUSY from a reused socket)', async () => {
    const netns = await createNetns();
    try {
      // 300 UDP sockets in a namespace of the test's own: a dump of many datagrams, so that the
      // first one, cut short by a 64-byte buffer (EMSGSIZE), leaves the kernel in the middle of it.
      const script = `
        import dgram from 'node:dgram';
        import { once } from 'node:events';
        const { getBinding } = await import(${JSON.stringify(new URL('../dist/binding.js', import.meta.url).href)});
        const sockets = [];
        for (let i = 0; i < 300; i++) {
          const socket = dgram.createSocket('udp4');
          socket.bind(0, '127.0.0.1');
          await once(socket, 'listening');
          sockets.push(socket);
        }
        const udp4 = { protocol: 17, family: 4, states: (1 << 1) | (1 << 7), port: -1 };
        const reading = getBinding().debugReadTables('sock_diag', [udp4, udp4, udp4], { batchRows: 1000, receiveBytes: [64, 0, 0] });
        console.log(JSON.stringify(reading.sources));
        for (const socket of sockets) socket.close();
      `;
      const result = await netns.runNode(['--input-type=module', '-e', script]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const sources = JSON.parse(result.stdout) as unknown[];
      expect(sources[0]).toMatchObject({ errno: constants.errno.EMSGSIZE, syscall: 'recvmsg' });
      expect(sources[1]).toMatchObject({ errno: 0, syscall: null, rows: 300 });
      expect(sources[2]).toMatchObject({ errno: 0, syscall: null, rows: 300 });
    } finally {
      await netns.close();
    }
  });
});
