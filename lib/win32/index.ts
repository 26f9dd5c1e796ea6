// The Windows backend: IP Helper tables, owners from each row's pid, netsh's port ranges, Windows' bind rules.
import { getBinding } from '../binding.js';
import { PortclashError } from '../errors.js';
import type { Platform } from '../platform.js';
import { WIN32_RULES } from '../predict/win32.js';
import { readWin32Facts, type Win32Facts } from './facts.js';
import { findOwners } from './owners.js';
import { windowsServicesPath } from './services.js';
import { readTables, readTablesSync } from './tables.js';

export const win32: Platform = {
  sources: ['iphlpapi'],
  readTables: (filter, choice) => readTables(getBinding(), filter, choice),
  readTablesSync: (filter, choice) => readTablesSync(getBinding(), filter, choice),
  // the pid is in every row: no scan to move off the thread, only a few calls per process
  findOwners: (records, options) => Promise.resolve().then(() => findOwners(getBinding(), records, options)),
  findOwnersSync: (records, options) => findOwners(getBinding(), records, options),
  readSystemFacts,
  readEphemeralRange: () => {
    const [low, high] = readSystemFacts().ephemeralRange;
    return { low, high, size: high - low + 1 };
  },
  // Administered exclusions (netsh's `*`) keep ports from automatic assignment only, as Linux's
  // reserved ports do; the others refuse every bind and are in the facts' `excluded`.
  readReservedPorts: () => (readSystemFacts().excluded.tcp.IPv4 ?? []).filter((range) => range.administered).map((range) => [range.start, range.end]),
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
