// The Windows backend on recorded IP Helper rows and process facts: records, filters, owners, services, roles.
import { describe, expect, it } from 'vitest';

import type { IpHelperQuery, NativeBinding, ProcNetReading, WindowsProcessFacts, WindowsServiceList } from '../lib/binding.js';
import { ROW_LAYOUT_VERSION, ROW_SIZE, packRows, type RawRow } from '../lib/rows.js';
import { findOwners, ownerOf, servicesByPid } from '../lib/win32/owners.js';
import { readTables, readTablesSync } from '../lib/win32/tables.js';
import { goneProcess, runningProcess } from './helpers/win32-processes.js';

const v4 = (...bytes: number[]) => Uint8Array.from(bytes);
const ANY4 = v4(0, 0, 0, 0);
const LOOPBACK6 = Uint8Array.from({ length: 16 }, (_, index) => (index === 15 ? 1 : 0));

// MIB_TCP_STATE codes
const LISTEN = 2;
const ESTABLISHED = 5;
const TIME_WAIT = 11;
const DELETE_TCB = 12;

/** Rows as Windows' tables give them: uid and inode 0, the owner pid in every row, UDP with state 0. */
const ROWS: RawRow[] = [
  { protocol: 6, family: 4, localAddress: ANY4, localPort: 135, remoteAddress: ANY4, remotePort: 0, state: LISTEN, uid: 0, inode: 0, ownerPid: 1044 },
  {
    protocol: 6,
    family: 4,
    localAddress: v4(127, 0, 0, 1),
    localPort: 3000,
    remoteAddress: v4(127, 0, 0, 1),
    remotePort: 50000,
    state: ESTABLISHED,
    uid: 0,
    inode: 0,
    ownerPid: 7000,
  },
  {
    protocol: 6,
    family: 4,
    localAddress: v4(127, 0, 0, 1),
    localPort: 50001,
    remoteAddress: v4(127, 0, 0, 1),
    remotePort: 3000,
    state: TIME_WAIT,
    uid: 0,
    inode: 0,
    ownerPid: 0,
  },
  {
    protocol: 6,
    family: 4,
    localAddress: v4(10, 0, 0, 5),
    localPort: 3000,
    remoteAddress: v4(10, 0, 0, 9),
    remotePort: 443,
    state: DELETE_TCB,
    uid: 0,
    inode: 0,
    ownerPid: 7000,
  },
  // the scope id of ::1 in the interface index, as wine gives it: not a bound device
  {
    protocol: 6,
    family: 6,
    localAddress: LOOPBACK6,
    localPort: 3000,
    remoteAddress: new Uint8Array(16),
    remotePort: 0,
    state: LISTEN,
    uid: 0,
    inode: 0,
    ownerPid: 7000,
    interfaceIndex: 0x1000,
  },
  { protocol: 17, family: 4, localAddress: ANY4, localPort: 5353, remoteAddress: ANY4, remotePort: 0, state: 0, uid: 0, inode: 0, ownerPid: 2000 },
];

function replay(queries: readonly IpHelperQuery[], errnoFor: (query: IpHelperQuery) => number): ProcNetReading {
  const of = (query: IpHelperQuery) => ROWS.filter((row) => row.protocol === query.protocol && row.family === query.family);
  const kept = queries.flatMap(of);
  return {
    rows: packRows(kept),
    count: kept.length,
    sources: queries.map((query) => ({
      rows: of(query).length,
      malformed: 0,
      errno: errnoFor(query),
      syscall: errnoFor(query) === 0 ? null : 'GetExtendedTcpTable',
    })),
  };
}

function windowsBinding(
  options: { errnoFor?: (query: IpHelperQuery) => number; processes?: WindowsProcessFacts[]; services?: WindowsServiceList } = {},
): NativeBinding {
  const errnoFor = options.errnoFor ?? (() => 0);
  return {
    rowLayoutVersion: ROW_LAYOUT_VERSION,
    rowSize: ROW_SIZE,
    readIpHelperSync: (queries) => replay(queries, errnoFor),
    readIpHelper: async (queries, onRows) => {
      const { rows, count, sources } = replay(queries, errnoFor);
      onRows(rows, count);
      return { sources };
    },
    processInfo: (pids) => pids.map((pid) => options.processes?.find((process) => process.pid === pid) ?? gone(pid)),
    listServices: () => options.services ?? { errno: 0, syscall: null, services: [] },
  };
}

const gone = goneProcess;
const running = (pid: number, image: string, user = 'HOST\\dev'): WindowsProcessFacts => runningProcess(pid, image, { user });

describe('the Windows tables', () => {
  it("name MIB states, mark TIME_WAIT as no process's, and keep the owner pid", () => {
    const { sockets, sources } = readTablesSync(windowsBinding(), {}, 'auto');
    expect(sources.map((source) => [source.source, source.protocol, source.family, source.rows, source.error])).toEqual([
      ['iphlpapi', 'tcp', 'IPv4', 4, null],
      ['iphlpapi', 'tcp', 'IPv6', 1, null],
      ['iphlpapi', 'udp', 'IPv4', 1, null],
      ['iphlpapi', 'udp', 'IPv6', 0, null],
    ]);
    expect(sockets.map((socket) => [socket.protocol, socket.localPort, socket.state, socket.kernelOnly, socket.ownerPid])).toEqual([
      ['tcp', 135, 'LISTEN', false, 1044],
      ['tcp', 3000, 'ESTABLISHED', false, 7000],
      ['tcp', 50001, 'TIME_WAIT', true, undefined],
      ['tcp', 3000, 'DELETE_TCB', false, 7000],
      ['tcp', 3000, 'LISTEN', false, 7000],
      ['udp', 5353, 'UNCONNECTED', false, 2000],
    ]);
    const v6 = sockets.find((socket) => socket.family === 'IPv6')!;
    expect(v6).toMatchObject({ localAddress: '::1', source: 'iphlpapi' });
    expect('boundDeviceIndex' in v6).toBe(false);
  });

  it('filter by port and by listening here, since IP Helper filters nothing', async () => {
    const listening = await readTables(windowsBinding(), { port: 3000, listening: true }, 'auto');
    expect(listening.sockets.map((socket) => [socket.family, socket.state])).toEqual([['IPv6', 'LISTEN']]);
    const udp = readTablesSync(windowsBinding(), { protocol: 'udp', listening: true }, 'auto');
    expect(udp.sockets.map((socket) => socket.localPort)).toEqual([5353]);
    expect(udp.sources.map((source) => source.protocol)).toEqual(['udp', 'udp']);
  });

  it('fail with the Win32 error of a table that could not be read, but take a missing IPv6 stack as empty', () => {
    expect(() => readTablesSync(windowsBinding({ errnoFor: (query) => (query.family === 4 && query.protocol === 6 ? 5 : 0) }), {}, 'auto')).toThrow(
      expect.objectContaining({ code: 'ERROR_ACCESS_DENIED', syscall: 'GetExtendedTcpTable', message: expect.stringContaining('tcp IPv4') }),
    );
    const noIPv6 = readTablesSync(windowsBinding({ errnoFor: (query) => (query.family === 6 ? 50 : 0) }), { protocol: 'udp' }, 'auto');
    expect(noIPv6.sources.map((source) => source.error)).toEqual([null, 'ERROR_NOT_SUPPORTED']);
    expect(() => readTablesSync(windowsBinding(), {}, 'proc')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('owners on Windows', () => {
  const services: WindowsServiceList = {
    errno: 0,
    syscall: null,
    services: [
      { name: 'RpcSs', displayName: 'Remote Procedure Call (RPC)', pid: 1044 },
      { name: 'RpcEptMapper', displayName: 'RPC Endpoint Mapper', pid: 1044 },
      { name: 'Stopped', displayName: 'no process', pid: 0 },
    ],
  };

  it('name the process from the pid in the row, with its user and the services it hosts', () => {
    const { sockets } = readTablesSync(windowsBinding(), {}, 'auto');
    const binding = windowsBinding({
      processes: [running(1044, 'C:\\Windows\\System32\\svchost.exe', 'NT AUTHORITY\\NETWORK SERVICE'), running(7000, 'C:\\Program Files\\nodejs\\node.exe')],
      services,
    });
    const owned = findOwners(binding, sockets, { socketOptions: true });
    expect(owned[0]).toMatchObject({
      localPort: 135,
      owner: {
        pid: 1044,
        name: 'svchost.exe',
        command: 'C:\\Windows\\System32\\svchost.exe',
        user: 'NT AUTHORITY\\NETWORK SERVICE',
        uid: null,
        fd: null,
        service: { unit: 'RpcEptMapper', windowsServices: ['RpcEptMapper', 'RpcSs'] },
      },
      optionsUnread: expect.stringContaining('SO_EXCLUSIVEADDRUSE'),
    });
    expect(owned[0]!.owner!.startTime).toEqual(new Date(Date.UTC(2026, 11, 1, 9, 30)));
    expect(owned[1]).toMatchObject({ owner: { pid: 7000, name: 'node.exe', service: null }, owners: [expect.anything()] });
    expect(owned[2]).toMatchObject({ state: 'TIME_WAIT', owner: null, owners: [], ownerUnknown: 'kernel' });
    // a process that exited since the table was read
    expect(owned[5]).toMatchObject({ localPort: 5353, owner: null, ownerUnknown: 'gone' });
  });

  it("say the table named nobody where a row has pid 0 outside TIME_WAIT (wine's TCP listeners)", () => {
    const { sockets } = readTablesSync(windowsBinding(), { port: 135 }, 'auto');
    const unnamed = sockets.map(({ ownerPid: _, ...socket }) => socket);
    expect(findOwners(windowsBinding(), unnamed)).toEqual([expect.objectContaining({ owner: null, ownerUnknown: 'unreported' })]);
  });

  it("know what System (pid 4) and WSL's forwarders do with ports", () => {
    expect(ownerOf({ ...gone(4), imageError: 31 }, [])).toMatchObject({ pid: 4, name: 'System', role: expect.stringContaining('http.sys') });
    expect(ownerOf(running(812, 'C:\\Windows\\System32\\wslrelay.exe'), [])).toMatchObject({ name: 'wslrelay.exe', role: 'forwards a WSL 2 port to Windows' });
    expect(ownerOf(running(813, 'C:\\Program Files\\WSL\\wslhost.exe'), [])?.role).toBe('forwards a WSL 2 port to Windows');
    // a protected process: alive, its image refused
    expect(ownerOf({ ...gone(900), imageError: 5, userError: 5, startError: 5 }, [])).toMatchObject({ pid: 900, name: null, command: '', user: null });
    expect(ownerOf(gone(901), [])).toBeNull();
  });

  it('list no services when the service manager cannot be read', () => {
    expect(servicesByPid({ errno: 5, syscall: 'OpenSCManagerW', services: [] }).size).toBe(0);
    expect([...servicesByPid(services)]).toEqual([[1044, ['RpcEptMapper', 'RpcSs']]]);
  });
});
