// The Linux backend: sock_diag and /proc/net tables, the /proc/<pid>/fd owner scan, /proc/sys facts, Linux's bind rules.
import { getBinding } from '../binding.js';
import type { Platform } from '../platform.js';
import { LINUX_RULES } from '../predict/linux.js';
import { ephemeralReport } from './ephemeral.js';
import { readSystemFacts } from './facts.js';
import { fileReaderInside, resolveNetns, type NetPlace } from './netns.js';
import { findOwners, findOwnersSync } from './owners.js';
import { findProcessesByName, readProcessTables, readProcessTablesSync } from './process-sockets.js';
import { hasExited, readProcessInfo } from './processes.js';
import { readForwards } from './nftables/index.js';
import { readNamespaceRanges } from './ranges.js';
import { countSockets } from './sockstat.js';
import { readTables, readTablesSync } from './tables.js';

/**
 * The backend for one network namespace: this process's (null) or another. Only the tables, the
 * addresses and the sysctls are per namespace; processes, their fds and owners are the machine's
 * (socket inodes are unique across namespaces), as seen from this process's pid namespace.
 */
function linuxIn(place: NetPlace | null): Platform {
  return {
    readsTables: true,
    sources: ['sock_diag', 'proc'],
    // one process's sockets: its fds read beside the tables (process-sockets.ts)
    readTables: (filter, choice) =>
      filter.pid === undefined ? readTables(getBinding(), filter, choice, undefined, place) : readProcessTables(getBinding(), filter, choice, place),
    readTablesSync: (filter, choice) =>
      filter.pid === undefined ? readTablesSync(getBinding(), filter, choice, undefined, place) : readProcessTablesSync(getBinding(), filter, choice, place),
    countSockets: (protocol) => countSockets(protocol, place),
    findOwners: (records, options) => findOwners(records, options, place),
    findOwnersSync: (records, options) => findOwnersSync(records, options, place),
    // a zombie has exited: only its parent's wait() keeps its /proc entry
    readProcess: (pid) => (hasExited(pid) ? null : readProcessInfo(pid, { clockTicksPerSecond: getBinding().clockTicksPerSecond ?? 100 })),
    findProcessesByName: (name) => Promise.resolve().then(() => findProcessesByName(name, { clockTicksPerSecond: getBinding().clockTicksPerSecond ?? 100 })),
    readSystemFacts: () => readSystemFacts(place),
    readEphemeralRange: () => readNamespaceRanges(place).ephemeral,
    readReservedPorts: () => readNamespaceRanges(place).reserved,
    ephemeralReport: () => ephemeralReport(place),
    findForwards: (options) => (place === null ? readForwards(options) : readForwards(options, getBinding(), fileReaderInside(place), place.path)),
    rules: LINUX_RULES,
    servicesPath: () => '/etc/services',
    netns: place === null ? null : place.path,
    inNetns: (netns) => {
      const resolved = resolveNetns(netns);
      return resolved === null ? linux : linuxIn(resolved);
    },
  };
}

export const linux: Platform = linuxIn(null);
