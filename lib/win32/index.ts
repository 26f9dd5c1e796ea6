// The Windows backend: IP Helper tables, owners from each row's pid, netsh's port ranges, Windows' bind rules.
import { getBinding } from '../binding.js';
import { PortclashError } from '../errors.js';
import type { Platform } from '../platform.js';
import { WIN32_RULES } from '../predict/win32.js';
import { readWin32Facts, WINDOWS_DEFAULT_DYNAMIC_RANGE, type Win32Facts } from './facts.js';
import { NetshSession } from './netsh.js';
import { findOwners, readProcess } from './owners.js';
import { windowsServicesPath } from './services.js';
import { readTables, readTablesSync } from './tables.js';

export const win32: Platform = {
  readsTables: true,
  sources: ['iphlpapi'],
  readTables: (filter, choice) => readTables(getBinding(), filter, choice),
  readTablesSync: (filter, choice) => readTablesSync(getBinding(), filter, choice),
  // the pid is in every row: no scan to move off the thread, only a few calls per process
  findOwners: (records, options) => Promise.resolve().then(() => findOwners(getBinding(), records, options)),
  findOwnersSync: (records, options) => findOwners(getBinding(), records, options),
  readProcess: (pid) => readProcess(getBinding(), pid),
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
