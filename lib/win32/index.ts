// The Windows backend: IP Helper tables, owners from each row's pid, netsh's port ranges, portproxy forwards, Windows' bind rules.
import { getBinding, type NativeBinding } from '../binding.js';
import { PortclashError } from '../errors.js';
import type { ProcessInfo } from '../owners.js';
import type { Platform, SocketTables, TableFilter } from '../platform.js';
import { WIN32_RULES } from '../predict/win32.js';
import { readWin32Facts, WINDOWS_DEFAULT_DYNAMIC_RANGE, type Win32Facts } from './facts.js';
import { readPortProxyForwards } from './forwards.js';
import { NetshSession } from './netsh.js';
import { descendantsAmong, findOwners, processExists, readProcess } from './owners.js';
import { windowsServicesPath } from './services.js';
import { readTables, readTablesSync } from './tables.js';

export const win32: Platform = {
  readsTables: true,
  sources: ['iphlpapi'],
  readTables: async (filter, choice) => {
    const binding = getBinding();
    return ofProcess(binding, filter, await readTables(binding, tableFilter(binding, filter), choice));
  },
  readTablesSync: (filter, choice) => {
    const binding = getBinding();
    return ofProcess(binding, filter, readTablesSync(binding, tableFilter(binding, filter), choice));
  },
  // the pid is in every row: no scan to move off the thread, only a few calls per process
  findOwners: (records, options) => Promise.resolve().then(() => findOwners(getBinding(), records, options)),
  findOwnersSync: (records, options) => findOwners(getBinding(), records, options),
  readProcess: (pid) => readProcess(getBinding(), pid),
  findProcessesByName,
  readSystemFacts,
  // one netsh question each, where readSystemFacts would ask six and read this process's token
  readEphemeralRange: () => {
    const answer = new NetshSession().dynamicPorts('IPv4', 'tcp');
    const [low, high] = answer.value ?? WINDOWS_DEFAULT_DYNAMIC_RANGE;
    return { low, high, size: high - low + 1 };
  },
  // Administered exclusions (netsh's `*`) keep ports from automatic assignment only, as Linux's
  // reserved ports do; the others refuse every bind and are in the facts' `excluded`.
  readReservedPorts: () =>
    (new NetshSession().excludedRanges('IPv4', 'tcp').value ?? []).filter((range) => range.administered).map((range) => [range.start, range.end]),
  ephemeralReport: () =>
    Promise.reject(
      new PortclashError(
        'ERR_UNSUPPORTED_PLATFORM',
        "the ephemeral report models Linux's connect() port selection; Windows picks ports differently, and portclash does not model it yet",
      ),
    ),
  // the portproxy rules from the registry (a few small keys: read on this thread); WFP redirects are not read
  findForwards: (options) => Promise.resolve().then(() => readPortProxyForwards(options)),
  rules: WIN32_RULES,
  servicesPath: windowsServicesPath,
  netns: null,
};

/** The facts of this moment: this process's account from its token, the rest from the interfaces and netsh. */
function readSystemFacts(): Win32Facts {
  const self = getBinding().processInfo?.([process.pid])[0];
  return readWin32Facts({ user: self?.user ?? null });
}

/**
 * listSockets({ pid }) keeps the rows that name the pid (win32/tables.ts): a pid with no process is
 * ERR_NO_SUCH_PROCESS rather than an empty list. With `children` the table is read for every pid
 * (the filter the kernel's reading is asked with), then ofProcess keeps the pid's descendants' rows.
 */
function tableFilter(binding: NativeBinding, filter: TableFilter): TableFilter {
  if (filter.pid === undefined) return filter;
  if (!processExists(binding, filter.pid)) {
    throw new PortclashError('ERR_NO_SUCH_PROCESS', `no process has pid ${filter.pid} (it may have exited)`);
  }
  if (filter.children !== true) return filter;
  const { pid: _pid, children: _children, ...rest } = filter;
  return rest;
}

/** With `children`, the rows whose owner is the pid or descends from it (only the rows' owners and their parents are read). */
function ofProcess(binding: NativeBinding, filter: TableFilter, tables: SocketTables): SocketTables {
  if (filter.pid === undefined || filter.children !== true) return tables;
  const owners = tables.sockets.flatMap((socket) => (socket.ownerPid === undefined ? [] : [socket.ownerPid]));
  const family = descendantsAmong(binding, filter.pid, owners);
  return { ...tables, sockets: tables.sockets.filter((socket) => socket.ownerPid !== undefined && family.has(socket.ownerPid)) };
}

/**
 * The processes holding sockets whose image file is named `name`, as Windows compares file names:
 * case aside, and with `.exe` optional (`node` is `node.exe`). Only the tables' owners are looked
 * at: the processes the tables name are the only ones whose sockets can be listed.
 */
async function findProcessesByName(name: string): Promise<ProcessInfo[]> {
  if (typeof name !== 'string' || name === '') throw new PortclashError('ERR_INVALID_ARGUMENT', 'a process name must be a non-empty string');
  const binding = getBinding();
  const wanted = name.toLowerCase();
  const matches = (image: string) => image === wanted || image === `${wanted}.exe`;
  const found = new Map<number, ProcessInfo>();
  for (const { owner } of findOwners(binding, (await readTables(binding, {}, 'auto')).sockets)) {
    if (owner === null || owner.pid === process.pid || owner.name === null || !matches(owner.name.toLowerCase())) continue;
    const { fd: _fd, ...info } = owner;
    found.set(owner.pid, info);
  }
  return [...found.values()].sort((a, b) => a.pid - b.pid);
}
