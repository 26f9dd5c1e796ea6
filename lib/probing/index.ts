// The backend of an OS whose socket tables portclash cannot read (macOS, the BSDs): no tables, no owners; binds settled by trial binds.
import { networkInterfaces } from 'node:os';

import { PortclashError } from '../errors.js';
import type { BindRules, Platform } from '../platform.js';
import { prediction } from '../predict/prediction.js';
import type { PortRange } from '../ranges.js';

export interface ProbingFacts {
  /** No backend reads this OS's tables: predictions are trial binds (lib/predict/probe.ts). */
  kernel: 'probing';
  os: NodeJS.Platform;
  /** An IPv6 address shows among the interfaces (`::1` at least), so Node's listen(port) binds `::`. */
  ipv6Enabled: boolean;
  /** This process's uid, or null where the OS has none. */
  uid: number | null;
  /** Where connect() and port 0 take ports from: this OS's default, assumed, not read (see ephemeralUnread). */
  ephemeralRange: PortRange;
  ephemeralUnread: string;
}

// Each OS's default range (sysctl net.inet.ip.portrange.first/last), where it is not IANA's 49152–65535.
const DEFAULT_EPHEMERAL: Partial<Record<NodeJS.Platform, PortRange>> = {
  // FreeBSD's ip(4): portrange.first 10000, portrange.last 65535
  freebsd: [10000, 65535],
};
const IANA_DYNAMIC: PortRange = [49152, 65535];

/** Why a call that needs the tables cannot be answered here: ERR_UNSUPPORTED_PLATFORM, saying what still works. */
export function unsupported(what: string, os: NodeJS.Platform = process.platform): PortclashError {
  // on Linux and Windows this backend runs only when forced, for tests of it
  const unread =
    os === 'linux' || os === 'win32'
      ? 'which the probing backend (PORTCLASH_BACKEND=probing) does not read'
      : `which portclash reads on Linux and Windows only, not on ${os}`;
  return new PortclashError(
    'ERR_UNSUPPORTED_PLATFORM',
    `${what} needs the kernel's socket tables and process list, ${unread}; check, findFreePort and waitForPort work here by probing`,
  );
}

/** Why findForwards cannot answer here: it reads Linux's nf_tables and Windows' portproxy keys, through the addon. */
export function forwardsUnsupported(os: NodeJS.Platform): PortclashError {
  return new PortclashError(
    'ERR_UNSUPPORTED_PLATFORM',
    `finding port forwards reads Linux's nftables ruleset or Windows' portproxy rules; portclash has no reader for ${os === 'linux' ? 'the probing backend (PORTCLASH_BACKEND=probing)' : os}'s forwards yet`,
  );
}

function readProbingFacts(): ProbingFacts {
  const os = process.platform;
  const ipv6Enabled = Object.values(networkInterfaces()).some((addresses) => addresses?.some((address) => address.family === 'IPv6') === true);
  const range = DEFAULT_EPHEMERAL[os] ?? IANA_DYNAMIC;
  return {
    kernel: 'probing',
    os,
    ipv6Enabled,
    uid: typeof process.getuid === 'function' ? process.getuid() : null,
    ephemeralRange: range,
    ephemeralUnread: `portclash does not read ${os}'s sysctl net.inet.ip.portrange: ${range[0]}–${range[1]} is its default, assumed`,
  };
}

export const PROBING_RULES: BindRules = {
  // libuv sets SO_REUSEADDR on every TCP socket it binds on Unix; dgram leaves it off unless asked
  defaults: { reuseAddr: { tcp: true, udp: false } },
  check() {},
  listenersFirst: false,
  needsOwners: false,
  // what the tables would say, had they been read: nothing; predictBind settles it with a trial bind
  predict: (request, _sockets, facts) =>
    prediction(
      request,
      'unknown',
      null,
      `portclash reads no socket tables on ${facts.kernel === 'probing' ? facts.os : process.platform}, so the holder of a port cannot be named there`,
    ),
  mayMatter: () => false,
  warnings: () => [],
};

export const probing: Platform = {
  sources: [],
  readsTables: false,
  readTables: () => Promise.reject(unsupported('listing sockets')),
  readTablesSync: () => {
    throw unsupported('listing sockets');
  },
  findOwners: () => Promise.reject(unsupported('finding owners')),
  findOwnersSync: () => {
    throw unsupported('finding owners');
  },
  readProcess: () => {
    throw unsupported('reading a process');
  },
  findProcessesByName: () => Promise.reject(unsupported('finding processes by name')),
  readSystemFacts: readProbingFacts,
  readEphemeralRange: () => {
    throw unsupported('reading the ephemeral range');
  },
  readReservedPorts: () => {
    throw unsupported('reading the reserved ports');
  },
  ephemeralReport: () => Promise.reject(unsupported('the ephemeral report')),
  findForwards: () => Promise.reject(forwardsUnsupported(process.platform)),
  rules: PROBING_RULES,
  servicesPath: () => '/etc/services',
  netns: null,
};
