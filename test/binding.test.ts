// The addon loader: built from these sources, replaceable, and clear when it cannot load.
import { execFile, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { ADDON_VARIABLE, getBinding, resolveAddonPath, setBinding, type NativeBinding, type ProcNetReading, type ProcNetSource } from '../lib/binding.js';
import { listSockets, listSocketsSync, readSocketTables, readSocketTablesSync } from '../lib/index.js';
import { choosePlatform } from '../lib/platform.js';
import { unsupported } from '../lib/probing/index.js';
import { packRows, type RawRow } from '../lib/testing.js';
import { ROW_LAYOUT_VERSION, ROW_SIZE } from '../lib/rows.js';

const root = fileURLToPath(new URL('..', import.meta.url));

afterEach(() => setBinding(null));

type Table = { protocol: number; family: number; states?: number };
type Result = Partial<ProcNetReading['sources'][number]>;

/** Recorded rows as the addon hands them over: grouped by table, in the order asked, one report each. */
function replay<T extends Table>(rows: readonly RawRow[], tables: readonly T[], resultFor: (table: T) => Result = () => ({})): ProcNetReading {
  // as the kernel answers: family 0 is both (sock_diag's TCPDIAG_GETSOCK), and only the states asked for
  const of = (table: Table) =>
    rows.filter(
      (row) =>
        row.protocol === table.protocol &&
        (row.family === table.family || table.family === 0) &&
        (table.states === undefined || (table.states & (1 << row.state)) !== 0),
    );
  const kept = tables.flatMap(of);
  return {
    rows: packRows(kept),
    count: kept.length,
    sources: tables.map((table) => ({ rows: of(table).length, malformed: 0, errno: 0, syscall: null, ...resultFor(table) })),
  };
}

/** A binding that answers from recorded rows, as a test or an odd install may supply. */
function recordedBinding(rows: RawRow[], sourceResult: (source: ProcNetSource) => Result = () => ({})): NativeBinding {
  const read = (sources: readonly ProcNetSource[]) => replay(rows, sources, sourceResult);
  return {
    rowLayoutVersion: ROW_LAYOUT_VERSION,
    rowSize: ROW_SIZE,
    readProcNetSync: read,
    readProcNet: async (sources, onRows) => {
      const { rows: packed, count, sources: reports } = read(sources);
      onRows(packed, count);
      return { sources: reports };
    },
  };
}

const v4 = (...bytes: number[]) => Uint8Array.from(bytes);
const v6 = (hex: string) => Uint8Array.from(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));

const RECORDED: RawRow[] = [
  { protocol: 6, family: 4, localAddress: v4(0, 0, 0, 0), localPort: 22, remoteAddress: v4(0, 0, 0, 0), remotePort: 0, state: 10, uid: 0, inode: 100 },
  {
    protocol: 6,
    family: 6,
    localAddress: v6('00000000000000000000ffff7f000001'),
    localPort: 3000,
    remoteAddress: v6('00000000000000000000ffff7f000001'),
    remotePort: 40000,
    state: 1,
    uid: 1000,
    inode: 2 ** 40 + 7,
  },
  { protocol: 17, family: 4, localAddress: v4(127, 0, 0, 53), localPort: 53, remoteAddress: v4(0, 0, 0, 0), remotePort: 0, state: 7, uid: 101, inode: 300 },
  { protocol: 6, family: 4, localAddress: v4(10, 0, 0, 1), localPort: 5000, remoteAddress: v4(10, 0, 0, 2), remotePort: 80, state: 99, uid: 0, inode: 0 },
];

describe('the addon in use', () => {
  it.runIf(process.platform === 'linux')('is the one built from these sources, not a prebuild', () => {
    // npm run test:asan names its sanitizer build in PORTCLASH_ADDON
    expect(resolveAddonPath()).toBe(process.env[ADDON_VARIABLE] || join(root, 'build', 'Release', 'portclash.node'));
    expect(getBinding().rowLayoutVersion).toBe(ROW_LAYOUT_VERSION);
  });

  it.runIf(process.platform === 'linux')('is the one PORTCLASH_ADDON names, when that is the absolute path of a .node file', () => {
    const before = process.env[ADDON_VARIABLE];
    try {
      const built = join(root, 'build', 'Release', 'portclash.node');
      process.env[ADDON_VARIABLE] = built;
      setBinding(null);
      expect(resolveAddonPath()).toBe(built);
      expect(getBinding().rowSize).toBe(ROW_SIZE);
      for (const refused of ['build/Release/portclash.node', join(root, 'lib', 'index.js')]) {
        process.env[ADDON_VARIABLE] = refused;
        setBinding(null);
        expect(() => getBinding()).toThrow(expect.objectContaining({ code: 'ERR_ADDON_LOAD', message: expect.stringContaining(ADDON_VARIABLE) }));
      }
    } finally {
      if (before === undefined) delete process.env[ADDON_VARIABLE];
      else process.env[ADDON_VARIABLE] = before;
    }
  });
});

describe('a replaced binding', () => {
  it('turns recorded rows into records and filters them', async () => {
    setBinding(recordedBinding(RECORDED));
    const all = await listSockets();
    expect(all).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv4',
        localAddress: '0.0.0.0',
        localPort: 22,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: 'LISTEN',
        uid: 0,
        inode: 100,
        kernelOnly: false,
        source: 'proc',
      },
      {
        protocol: 'tcp',
        family: 'IPv4',
        localAddress: '10.0.0.1',
        localPort: 5000,
        remoteAddress: '10.0.0.2',
        remotePort: 80,
        state: 'UNKNOWN',
        uid: 0,
        inode: 0,
        kernelOnly: true,
        source: 'proc',
      },
      {
        protocol: 'tcp',
        family: 'IPv6',
        localAddress: '::ffff:127.0.0.1',
        localPort: 3000,
        remoteAddress: '::ffff:127.0.0.1',
        remotePort: 40000,
        state: 'ESTABLISHED',
        uid: 1000,
        inode: 2 ** 40 + 7,
        kernelOnly: false,
        source: 'proc',
      },
      {
        protocol: 'udp',
        family: 'IPv4',
        localAddress: '127.0.0.53',
        localPort: 53,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        state: 'UNCONNECTED',
        uid: 101,
        inode: 300,
        kernelOnly: false,
        source: 'proc',
      },
    ]);
    expect(listSocketsSync({ listening: true }).map((socket) => socket.localPort)).toEqual([22, 53]);
    expect(listSocketsSync({ protocol: 'udp' }).map((socket) => socket.localPort)).toEqual([53]);
    expect(listSocketsSync({ family: 'IPv6' }).map((socket) => socket.localPort)).toEqual([3000]);
    // port 3000 has a connection and no listener: the port alone finds it, with listening nothing
    expect(listSocketsSync({ port: 3000 }).map((socket) => socket.state)).toEqual(['ESTABLISHED']);
    expect(listSocketsSync({ port: 3000, listening: true })).toEqual([]);
  });

  it('asks only for the tables a filter needs', () => {
    const asked: string[] = [];
    const binding = recordedBinding(RECORDED);
    setBinding({ ...binding, readProcNetSync: (sources) => (asked.push(...sources.map((source) => source.path)), binding.readProcNetSync!(sources)) });
    listSocketsSync({ protocol: 'udp', family: 'IPv6' });
    expect(asked).toEqual(['/proc/net/udp6']);
  });

  it('reports malformed lines per table, and treats a missing IPv6 table as IPv6 off', async () => {
    setBinding(recordedBinding(RECORDED, (source) => (source.family === 6 ? { errno: 2, syscall: 'open' } : { malformed: 3 })));
    const { sources } = await readSocketTables({ protocol: 'tcp' });
    expect(sources).toEqual([
      { source: 'proc', path: '/proc/net/tcp', protocol: 'tcp', family: 'IPv4', rows: 2, malformed: 3, error: null, seesBoundSockets: false },
      { source: 'proc', path: '/proc/net/tcp6', protocol: 'tcp', family: 'IPv6', rows: 1, malformed: 0, error: 'ENOENT', seesBoundSockets: false },
    ]);
  });

  it('throws the errno name when a table cannot be read', async () => {
    setBinding(recordedBinding(RECORDED, (source) => (source.path === '/proc/net/tcp' ? { errno: 13, syscall: 'open' } : {})));
    await expect(listSockets()).rejects.toMatchObject({ name: 'PortclashError', code: 'EACCES', syscall: 'open', path: '/proc/net/tcp' });
    setBinding(recordedBinding(RECORDED, (source) => (source.path === '/proc/net/udp' ? { errno: 2, syscall: 'open' } : {})));
    expect(() => listSocketsSync()).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/proc/net/udp' }));
  });

  it('refuses a binding with another row layout', () => {
    expect(() => setBinding({ ...recordedBinding([]), rowSize: ROW_SIZE + 8 })).toThrow(expect.objectContaining({ code: 'ERR_ADDON_LOAD' }));
  });

  it('loads a .node file by path, and says what to run when it cannot', () => {
    if (process.platform === 'linux') {
      setBinding(join(root, 'build', 'Release', 'portclash.node'));
      expect(getBinding().rowSize).toBe(ROW_SIZE);
    }
    let thrown: unknown;
    try {
      setBinding(join(root, 'no-such-addon.node'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ERR_ADDON_LOAD' });
    const message = (thrown as Error).message;
    expect(message).toContain(`${process.platform}-${process.arch}`);
    expect(message).toContain(`Node-API ${process.versions.napi}`);
    expect(message).toContain('npm rebuild portclash --build-from-source');
  });
});

describe('platforms without a backend', () => {
  it('get the probing backend, whose tables fail with ERR_UNSUPPORTED_PLATFORM naming the OS', async () => {
    const sunos = await choosePlatform('sunos');
    expect(sunos).toMatchObject({ readsTables: false, sources: [] });
    await expect(sunos.readTables({}, 'auto')).rejects.toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_PLATFORM' }));
    expect(unsupported('listing sockets', 'sunos').message).toContain('not on sunos');
    expect((await choosePlatform('linux')).sources).toEqual(['sock_diag', 'proc']);
    expect((await choosePlatform('win32')).sources).toEqual(['iphlpapi']);
    // forced, for tests of the probing backend on Linux; any other value is refused
    expect((await choosePlatform('linux', 'probing')).readsTables).toBe(false);
    await expect(choosePlatform('linux', 'darwin')).rejects.toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe.runIf(process.platform === 'linux')('a package with neither a prebuild nor a build', () => {
  it('fails with ERR_ADDON_LOAD naming the platform and the fix', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'portclash-bare-'));
    try {
      cpSync(join(root, 'dist'), join(bare, 'dist'), { recursive: true });
      cpSync(join(root, 'package.json'), join(bare, 'package.json'));
      symlinkSync(join(root, 'node_modules'), join(bare, 'node_modules'));
      const script =
        "import('./dist/index.js').then(m => m.listSocketsSync()).catch(e => { console.log(JSON.stringify({ code: e.code, message: e.message })); })";
      const stdout = await new Promise<string>((resolve, reject) =>
        // without PORTCLASH_ADDON (npm run test:asan sets it), which would load an addon from elsewhere
        execFile(
          process.execPath,
          ['-e', script],
          { cwd: bare, timeout: 15_000, env: { ...process.env, [ADDON_VARIABLE]: '' } },
          (error: Error | null, out: string) => (error ? reject(error) : resolve(out)),
        ),
      );
      const result = JSON.parse(stdout) as { code: string; message: string };
      expect(result.code).toBe('ERR_ADDON_LOAD');
      expect(result.message).toContain(`linux-${process.arch}, Node-API ${process.versions.napi}`);
      expect(result.message).toContain('npm rebuild portclash --build-from-source');
      // every command that reads the kernel says so and exits 4: no uncaught error, no stack
      for (const args of [['check', '3000'], ['check', '8000-8020'], ['who', '3000'], ['info', '3000'], ['list', '--listening'], ['ephemeral']]) {
        const run = spawnSync(process.execPath, [join(bare, 'dist', 'cli', 'launcher.cjs'), ...args], {
          encoding: 'utf8',
          timeout: 15_000,
          env: { ...process.env, [ADDON_VARIABLE]: '' },
        });
        expect({ args, status: run.status, stderr: run.stderr.split('\n')[0] }).toEqual({
          args,
          status: 4,
          stderr: expect.stringMatching(/^portclash: ERR_ADDON_LOAD: portclash could not load its native addon/),
        });
        expect(run.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
      }
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe('falling back from sock_diag to /proc', () => {
  /** A binding whose sock_diag answers TCP but fails UDP part-way, after handing out a row. */
  function halfWorkingSockDiag(): NativeBinding {
    const proc = recordedBinding(RECORDED);
    const fromSockDiag = RECORDED.map((row): RawRow => ({ ...row, flags: 1 }));
    const read = (queries: readonly Table[]) =>
      replay(fromSockDiag, queries, (query) => (query.protocol === 17 ? { errno: 71 /* EPROTO */, syscall: 'recvmsg' } : {}));
    return {
      ...proc,
      readSockDiagSync: read,
      readSockDiag: async (queries, onRows) => {
        const { rows, count, sources } = read(queries);
        onRows(rows, count);
        return { sources };
      },
    };
  }

  it('reads from /proc the tables sock_diag failed on, without the rows it gave before failing', async () => {
    setBinding(halfWorkingSockDiag());
    for (const tables of [await readSocketTables(), readSocketTablesSync()]) {
      // TCP comes from one dump of both families, in the kernel's order
      expect(tables.sockets.map((socket) => [socket.protocol, socket.localPort, socket.source])).toEqual([
        ['tcp', 22, 'sock_diag'],
        ['tcp', 3000, 'sock_diag'],
        ['tcp', 5000, 'sock_diag'],
        ['udp', 53, 'proc'],
      ]);
      expect(tables.sources.map((report) => [report.source, report.protocol, report.family, report.error])).toEqual([
        ['sock_diag', 'tcp', 'IPv4', null],
        ['sock_diag', 'tcp', 'IPv6', null],
        ['sock_diag', 'udp', 'IPv4', 'EPROTO'],
        ['sock_diag', 'udp', 'IPv6', 'EPROTO'],
        ['proc', 'udp', 'IPv4', null],
        ['proc', 'udp', 'IPv6', null],
      ]);
    }
  });

  it('throws instead when sock_diag is insisted on', async () => {
    setBinding(halfWorkingSockDiag());
    await expect(listSockets({}, { source: 'sock_diag' })).rejects.toMatchObject({ code: 'EPROTO', syscall: 'recvmsg' });
    const tcp = listSocketsSync({ protocol: 'tcp' }, { source: 'sock_diag' });
    expect(tcp.map((socket) => socket.localPort)).toEqual([22, 3000, 5000]);
    expect(tcp.every((socket) => socket.source === 'sock_diag')).toBe(true);
  });

  it('answers from /proc alone with a binding that has no sock_diag', () => {
    setBinding(recordedBinding(RECORDED));
    const all = listSocketsSync();
    expect(all).toHaveLength(RECORDED.length);
    expect(all.every((socket) => socket.source === 'proc')).toBe(true);
    expect(() => listSocketsSync({}, { source: 'sock_diag' })).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_PLATFORM' }));
  });
});
