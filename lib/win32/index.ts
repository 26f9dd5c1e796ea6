// The Windows backend: IP Helper tables, owners from each row's pid, netsh's port ranges, Windows' bind rules.
import { getBinding } from '../binding.js';
import { PortclashError } from '../errors.js';
import type { ProcessInfo } from '../owners.js';
import type { Platform, TableFilter } from '../platform.js';
import { WIN32_RULES } from '../predict/win32.js';
import { readWin32Facts, WINDOWS_DEFAULT_DYNAMIC_RANGE, type Win32Facts } from './facts.js';
import { NetshSession } from './netsh.js';
import { findOwners, readProcess } from './owners.js';
import { windowsServicesPath } from './services.js';
import { readTables, readTablesSync } from './tables.js';

export const win32: Platform = {
  readsTables: true,
  sources: ['iphlpapi'],
  readTables: (filter, choice) => Promise.resolve().then(() => readTables(getBinding(), checkProcessFilter(filter), choice)),
  readTablesSync: (filter, choice) => readTablesSync(getBinding(), checkProcessFilter(filter), choice),
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
  rules: WIN32_RULES,
  servicesPath: windowsServicesPath,
};

/** The facts of this moment: this process's account from its token, the rest from the interfaces and netsh. */
function readSystemFacts(): Win32Facts {
  const self = getBinding().processInfo?.([process.pid])[0];
  return readWin32Facts({ user: self?.user ?? null });
}

/**
 * listSockets({ pid }) keeps the rows that name the pid (win32/tables.ts): a pid with no process
 * is ERR_NO_SUCH_PROCESS rather than an empty list. Descendants would need each process's parent,
 * which portclash does not read on Windows yet (ProcessInfo.ppid is null there).
 */
function checkProcessFilter(filter: TableFilter): TableFilter {
  if (filter.pid === undefined) return filter;
  if (filter.children === true) {
    throw new PortclashError(
      'ERR_UNSUPPORTED_PLATFORM',
      "children: portclash does not read a process's parent on Windows yet, so it cannot find its descendants",
    );
  }
  if (readProcess(getBinding(), filter.pid) === null) {
    throw new PortclashError('ERR_NO_SUCH_PROCESS', `no process has pid ${filter.pid} (it may have exited)`);
  }
  return filter;
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
