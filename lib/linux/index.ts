// The Linux backend: sock_diag and /proc/net tables, the /proc/<pid>/fd owner scan, /proc/sys facts, Linux's bind rules.
import { getBinding } from '../binding.js';
import type { Platform } from '../platform.js';
import { LINUX_RULES } from '../predict/linux.js';
import { ephemeralReport } from './ephemeral.js';
import { readSystemFacts } from './facts.js';
import { findOwners, findOwnersSync } from './owners.js';
import { findProcessesByName, readProcessTables, readProcessTablesSync } from './process-sockets.js';
import { hasExited, readProcessInfo } from './processes.js';
import { readForwards } from './nftables/index.js';
import { readEphemeralRange, readReservedPorts } from './ranges.js';
import { readTables, readTablesSync } from './tables.js';

export const linux: Platform = {
  readsTables: true,
  sources: ['sock_diag', 'proc'],
  // one process's sockets: its fds read beside the tables (process-sockets.ts)
  readTables: (filter, choice) => (filter.pid === undefined ? readTables : readProcessTables)(getBinding(), filter, choice),
  readTablesSync: (filter, choice) => (filter.pid === undefined ? readTablesSync : readProcessTablesSync)(getBinding(), filter, choice),
  findOwners,
  findOwnersSync,
  // a zombie has exited: only its parent's wait() keeps its /proc entry
  readProcess: (pid) => (hasExited(pid) ? null : readProcessInfo(pid, { clockTicksPerSecond: getBinding().clockTicksPerSecond ?? 100 })),
  findProcessesByName: (name) => Promise.resolve().then(() => findProcessesByName(name, { clockTicksPerSecond: getBinding().clockTicksPerSecond ?? 100 })),
  readSystemFacts,
  readEphemeralRange: () => readEphemeralRange(),
  readReservedPorts: () => readReservedPorts(),
  ephemeralReport,
  findForwards: (options) => readForwards(options),
  rules: LINUX_RULES,
  servicesPath: () => '/etc/services',
};
