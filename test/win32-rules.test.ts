// Windows' bind rules as pure functions, case by case from the sources in docs/bind-rules-windows.md.
// These run on any OS: nothing here binds, and no Windows bind could be made to check them (wine follows Linux).
import { describe, expect, it } from 'vitest';

import type { OwnedSocket } from '../lib/owners.js';
import type { BindRules, Existing } from '../lib/platform.js';
import { parseHost, resolveRequest } from '../lib/predict/request.js';
import {
  BIND_KEYS,
  inTheWay,
  judge,
  mayMatter,
  nodeDefaults,
  predictWin32,
  tableCell,
  WIN32_RULES,
  win32Warnings,
  WINSOCK_OTHER_USER,
  WINSOCK_SAME_USER,
  WSK_SECOND_BY_FIRST,
  type BindKey,
  type BindTable,
  type Win32Request,
} from '../lib/predict/win32.js';
import type { Win32Facts } from '../lib/win32/facts.js';

const P = 3000;
const ME = 'DESKTOP-1\\ada';
const SOMEONE = 'DESKTOP-1\\bob';

const FACTS: Win32Facts = {
  kernel: 'win32',
  ipv6Enabled: true,
  localAddresses: { IPv4: ['127.0.0.1', '192.168.1.20'], IPv6: ['::1', 'fe80::1c2b:3a4d:5e6f:7081'] },
  user: ME,
  uid: null,
  ephemeralRange: [49152, 65535],
  udpEphemeralRange: [49152, 65535],
  ephemeralUnread: [],
  excluded: { tcp: { IPv4: [], IPv6: [] }, udp: { IPv4: [], IPv6: [] } },
  excludedUnread: { tcp: { IPv4: null, IPv6: null }, udp: { IPv4: null, IPv6: null } },
  // the tables' cases are about the sockets that can be seen; the unseen bound sockets have their own test
  boundSocketsVisible: true,
};

interface Ask {
  host?: string;
  port?: number;
  protocol?: 'tcp' | 'udp';
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  hostDefaulted?: boolean;
}

/** A request as resolveRequest makes it with Windows' rules: Node's defaults on Windows. */
function request({ host = '::', port = P, protocol = 'tcp', reuseAddr, ipv6Only, hostDefaulted }: Ask = {}): Win32Request {
  const parsed = parseHost(host);
  if ('error' in parsed) throw new Error(parsed.error);
  const mapped = parsed.canonical.startsWith('::ffff:') && parsed.canonical.includes('.');
  return {
    port,
    host: parsed.canonical,
    family: parsed.family,
    protocol,
    reuseAddr: reuseAddr ?? nodeDefaults[protocol].reuseAddr,
    reusePort: false,
    ipv6Only: parsed.family === 'IPv6' && !mapped && (ipv6Only === true || parsed.canonical !== '::'),
    listen: protocol === 'tcp',
    uid: null,
    ...(hostDefaulted === undefined ? {} : { hostDefaulted }),
  };
}

interface Spec {
  protocol?: 'tcp' | 'udp';
  address: string;
  state?: OwnedSocket['state'];
  /** The owner's account; null: not readable; undefined with `owned: false`: not looked up. */
  user?: string | null;
  owned?: boolean;
  pid?: number;
  ra?: boolean;
  port?: number;
  remote?: boolean;
}

/** A socket as IP Helper shows it, with its owner when the owner lookup read it. */
function socket({
  protocol = 'tcp',
  address,
  state = protocol === 'udp' ? 'UNCONNECTED' : 'LISTEN',
  user = ME,
  owned = true,
  pid = 4121,
  ra,
  port = P,
  remote = false,
}: Spec): Existing {
  const ipv6 = address.includes(':');
  const timeWait = state === 'TIME_WAIT';
  const record = {
    protocol,
    family: ipv6 ? 'IPv6' : 'IPv4',
    localAddress: address,
    localPort: port,
    remoteAddress: remote ? (ipv6 ? '2001:db8::9' : '203.0.113.9') : ipv6 ? '::' : '0.0.0.0',
    remotePort: remote ? 443 : 0,
    state,
    uid: 0,
    inode: 0,
    kernelOnly: timeWait,
    source: 'proc',
    ...(timeWait ? {} : { ownerPid: pid }),
  } as const satisfies Existing;
  if (!owned || timeWait) return record;
  const owner = { pid, ppid: null, name: pid === 4 ? 'System' : 'node.exe', cmdline: [], command: '', uid: null, user, startTime: null, service: null, fd: 0 };
  const withOwner: OwnedSocket = { ...record, owner, owners: [owner] };
  if (ra !== undefined) withOwner.reuseAddr = ra;
  return withOwner;
}

const facts = (overrides: Partial<Win32Facts> = {}): Win32Facts => ({ ...FACTS, ...overrides });

function predict(ask: Ask, sockets: Existing[], overrides: Partial<Win32Facts> = {}) {
  return predictWin32(request(ask), sockets, facts(overrides));
}

/** The page's tables as printed (rows: the first bind; columns: the second), to check the transcription against. */
function printed(text: string): BindTable {
  const words: Record<string, 'ok' | 'inuse' | 'access'> = { OK: 'ok', U: 'inuse', A: 'access' };
  const rows = text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/));
  return Object.fromEntries(
    rows.map(([key, ...cells]) => [key, Object.fromEntries(BIND_KEYS.map((second, index) => [second, words[cells[index]!]!]))]),
  ) as BindTable;
}

describe("Microsoft's tables, as transcribed", () => {
  // Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE, Windows Server 2003 and later
  it('match the Winsock page, same account and different accounts', () => {
    expect(WINSOCK_SAME_USER).toEqual(
      printed(`
          DW  DS  RW  RS  XW  XS
      DW  U   OK  A   OK  U   OK
      DS  OK  U   OK  A   U   U
      RW  U   OK  OK  OK  U   OK
      RS  OK  U   OK  OK  U   U
      XW  U   A   A   A   U   A
      XS  OK  U   OK  A   U   U`),
    );
    expect(WINSOCK_OTHER_USER).toEqual(
      printed(`
          DW  DS  RW  RS  XW  XS
      DW  U   A   A   A   U   A
      DS  OK  U   OK  A   U   U
      RW  U   A   OK  OK  U   A
      RS  OK  U   OK  OK  U   U
      XW  U   A   A   A   U   A
      XS  OK  U   OK  A   U   U`),
    );
  });

  it('differ between accounts in exactly the five cells the WSK page marks CHECK', () => {
    const differing: string[] = [];
    const checked: string[] = [];
    for (const first of BIND_KEYS) {
      for (const second of BIND_KEYS) {
        if (WINSOCK_SAME_USER[first][second] !== WINSOCK_OTHER_USER[first][second]) differing.push(`${first}×${second}`);
        if (WSK_SECOND_BY_FIRST[second][first] === 'check') checked.push(`${first}×${second}`);
      }
    }
    expect(differing.sort()).toEqual(['DW×DS', 'DW×RS', 'DW×XS', 'RW×DS', 'RW×XS']);
    expect(checked.sort()).toEqual(differing.sort());
  });

  it('disagree between the two pages on one cell only: first SO_REUSEADDR specific, second default specific', () => {
    const disagreeing: string[] = [];
    for (const sameUser of [true, false]) {
      for (const first of BIND_KEYS) {
        for (const second of BIND_KEYS) {
          const cell = tableCell(first, second, sameUser);
          if (cell.winsock !== cell.wsk) disagreeing.push(`${sameUser ? 'same' : 'other'} ${first}×${second}: ${cell.winsock}/${cell.wsk}`);
        }
      }
    }
    expect(disagreeing).toEqual(['same RS×DS: inuse/access', 'other RS×DS: inuse/access']);
  });
});

describe('judge: every cell the rules encode, reached through real footprints', () => {
  // The first bind as a socket on 0.0.0.0 (W) or 127.0.0.1 (S); the second as the request on
  // 0.0.0.0 or 127.0.0.1, with or without SO_REUSEADDR (Node's TCP never sets it; dgram does on request).
  const first = (kind: 'W' | 'S') => socket({ address: kind === 'W' ? '0.0.0.0' : '127.0.0.1' });
  const second = (key: BindKey) => request({ host: key.endsWith('W') ? '0.0.0.0' : '127.0.0.1', reuseAddr: key.startsWith('R') });
  const cases = BIND_KEYS.flatMap((firstKey) =>
    (['DW', 'DS', 'RW', 'RS'] as const).flatMap((secondKey) => (['same', 'other'] as const).map((user) => [firstKey, secondKey, user] as const)),
  );
  it.each(cases)('first %s, second %s, %s account', (firstKey, secondKey, user) => {
    const judged = judge(second(secondKey), first(firstKey.endsWith('W') ? 'W' : 'S'), 'bound', [user]);
    const winsock = judged.scenarios.find((scenario) => scenario.option === firstKey[0] && scenario.source === 'winsock');
    const wsk = judged.scenarios.find((scenario) => scenario.option === firstKey[0] && scenario.source === 'wsk');
    const table = user === 'same' ? WINSOCK_SAME_USER : WINSOCK_OTHER_USER;
    expect(winsock?.outcome).toBe(table[firstKey][secondKey]);
    expect(wsk?.outcome).toBe(tableCell(firstKey, secondKey, user === 'same').wsk);
  });
});

const L = (spec: Spec) => socket(spec);

describe('predictWin32: TCP with Node’s defaults (no SO_REUSEADDR, no SO_EXCLUSIVEADDRUSE, `::` dual-stack)', () => {
  it.each([
    ['0.0.0.0 LISTEN vs :: dual: checked on the IPv4 stack too', [L({ address: '0.0.0.0' })], {}, 'in-use', 'EADDRINUSE', /IPv4 stack too/],
    [':: LISTEN vs :: dual', [L({ address: '::' })], {}, 'in-use', 'EADDRINUSE', /both on the wildcard/],
    [
      '0.0.0.0 LISTEN of another account vs 0.0.0.0',
      [L({ address: '0.0.0.0', user: SOMEONE })],
      { host: '0.0.0.0' },
      'in-use',
      'EADDRINUSE',
      /whatever options it set/,
    ],
    [
      '0.0.0.0 LISTEN of another account vs 127.0.0.1: the security check',
      [L({ address: '0.0.0.0', user: SOMEONE })],
      { host: '127.0.0.1' },
      'denied',
      'EACCES',
      /another account.*WSAEACCES/,
    ],
    [
      'System (pid 4, http.sys) 0.0.0.0 vs 127.0.0.1 (WPN-XM#493)',
      [L({ address: '0.0.0.0', pid: 4, user: 'NT AUTHORITY\\SYSTEM' })],
      { host: '127.0.0.1' },
      'denied',
      'EACCES',
      /another account/,
    ],
    [':: LISTEN of another account vs ::1', [L({ address: '::', user: SOMEONE })], { host: '::1' }, 'denied', 'EACCES', /inside the wildcard/],
    [
      '127.0.0.1 LISTEN vs 0.0.0.0: a wildcard binds over a specific address',
      [L({ address: '127.0.0.1' })],
      { host: '0.0.0.0' },
      'free',
      null,
      /no socket .* keeps/,
    ],
    ['127.0.0.1 LISTEN vs :: dual', [L({ address: '127.0.0.1' })], {}, 'free', null, /no socket/],
    ['::1 LISTEN vs :: dual', [L({ address: '::1' })], {}, 'free', null, /no socket/],
    [
      '127.0.0.1 LISTEN vs 192.168.1.20: two specific addresses never conflict',
      [L({ address: '127.0.0.1' })],
      { host: '192.168.1.20' },
      'free',
      null,
      /no socket/,
    ],
    [
      '127.0.0.1 LISTEN without SO_REUSEADDR vs 127.0.0.1',
      [L({ address: '127.0.0.1', ra: false })],
      { host: '127.0.0.1' },
      'in-use',
      'EADDRINUSE',
      /is the address of/,
    ],
    ['0.0.0.0 LISTEN with SO_REUSEADDR, same account, vs 127.0.0.1', [L({ address: '0.0.0.0', ra: true })], { host: '127.0.0.1' }, 'free', null, /no socket/],
    [
      'TCP 0.0.0.0 LISTEN vs UDP: TCP and UDP never conflict',
      [L({ address: '0.0.0.0' })],
      { protocol: 'udp', host: '0.0.0.0' },
      'free',
      null,
      /no socket uses udp/,
    ],
    ['a socket on another port', [L({ address: '0.0.0.0', port: 3001 })], {}, 'free', null, /no socket uses tcp port 3000/],
  ] as const)('%s → %s', (_name, sockets, ask, verdict, errno, reason) => {
    const prediction = predict(ask, [...sockets]);
    expect(prediction).toMatchObject({ verdict, errno });
    expect(prediction.reason).toMatch(reason);
  });

  it("is unknown where the other socket's SO_EXCLUSIVEADDRUSE decides: a specific bind inside a wildcard of this account", () => {
    const prediction = predict({ host: '127.0.0.1' }, [L({ address: '0.0.0.0' })]);
    expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
    expect(prediction.conflicts).toHaveLength(1);
    expect(prediction.assumptions).toEqual([
      expect.stringMatching(
        /SO_REUSEADDR and SO_EXCLUSIVEADDRUSE cannot be seen.*with no sharing option or with SO_REUSEADDR → it succeeds; with SO_EXCLUSIVEADDRUSE → EACCES/,
      ),
    ]);
    // if it binds, it takes 127.0.0.1 away from the wildcard server (nodejs/node#14618)
    expect(prediction.warnings).toEqual([
      expect.stringMatching(/^If it binds, 127\.0\.0\.1:3000 takes the connections to 127\.0\.0\.1 away from 0\.0\.0\.0:3000 .*nodejs\/node#14618/),
    ]);
  });

  it('is unknown where the account decides and cannot be read', () => {
    for (const holder of [L({ address: '0.0.0.0', user: null }), L({ address: '0.0.0.0', owned: false })]) {
      const prediction = predict({ host: '127.0.0.1' }, [holder]);
      expect(prediction.verdict).toBe('unknown');
      expect(prediction.assumptions[0]).toMatch(
        /whether it belongs to this process's account is not known \((the account of pid 4121 could not be read|its owner was not looked up)\)/,
      );
      expect(prediction.assumptions[0]).toMatch(
        /\(with no sharing option or with SO_REUSEADDR\) if it is this account's → it succeeds; .* if it is another account's, or with SO_EXCLUSIVEADDRUSE → EACCES/,
      );
    }
    expect(predict({ host: '127.0.0.1' }, [L({ address: '0.0.0.0', ra: true })], { user: null }).assumptions[0]).toMatch(
      /this process's account could not be read/,
    );
  });

  it('is in use with no errno, naming both pages, where they disagree on the error: the same specific address held with SO_REUSEADDR', () => {
    const prediction = predict({ host: '127.0.0.1' }, [L({ address: '127.0.0.1', ra: true })]);
    expect(prediction).toMatchObject({
      verdict: 'in-use',
      errno: null,
      reason: expect.stringMatching(/cannot bind either way, but whether with EADDRINUSE .* or EACCES/),
    });
    expect(prediction.assumptions[0]).toMatch(
      /two pages disagree on this case: "Using SO_REUSEADDR and SO_EXCLUSIVEADDRUSE" gives WSAEADDRINUSE, "Sharing Transport Addresses" gives WSAEACCES/,
    );
    // options unseen: the bind fails in every case, only the errno is not known
    expect(predict({ host: '127.0.0.1' }, [L({ address: '127.0.0.1' })])).toMatchObject({
      verdict: 'in-use',
      errno: null,
      reason: expect.stringMatching(/cannot bind either way/),
    });
  });

  it('warns that a wildcard bound over a specific address leaves that address to the other server', () => {
    expect(predict({ host: '0.0.0.0' }, [L({ address: '127.0.0.1' })]).warnings).toEqual([
      expect.stringMatching(/^127\.0\.0\.1:3000 \(LISTEN.*\) keeps its address, and 0\.0\.0\.0:3000 gets every other one/),
    ]);
  });

  it('says in use, with the errno in doubt, when several sockets refuse in different ways', () => {
    const prediction = predict({ host: '127.0.0.1' }, [L({ address: '0.0.0.0', user: SOMEONE }), L({ address: '127.0.0.1', ra: false, pid: 77 })]);
    expect(prediction).toMatchObject({ verdict: 'in-use', errno: null, reason: expect.stringMatching(/cannot bind either way/) });
    expect(prediction.conflicts).toHaveLength(2);
    expect(prediction.assumptions.at(-1)).toMatch(/does not say which one Windows checks first/);
  });

  it('counts no port as privileged', () => {
    expect(predict({ port: 80 }, [])).toMatchObject({ verdict: 'free', errno: null });
    expect(predict({ port: 443, host: '127.0.0.1' }, [])).toMatchObject({ verdict: 'free' });
  });

  it('answers port 0 with the dynamic range', () => {
    expect(predict({ port: 0 }, [L({ address: '0.0.0.0', port: 0 })])).toMatchObject({
      verdict: 'free',
      reason: expect.stringMatching(/dynamic range 49152–65535/),
    });
  });

  it('assumes no port-scalability option on a holder in the dynamic range (nodejs/node#36021)', () => {
    const prediction = predict({ port: 49666 }, [L({ address: '0.0.0.0', port: 49666, pid: 1080 })]);
    expect(prediction.verdict).toBe('in-use');
    expect(prediction.assumptions).toEqual([expect.stringMatching(/set neither SO_PORT_SCALABILITY nor SO_REUSE_UNICASTPORT.*nodejs\/node#36021/)]);
    expect(predict({}, [L({ address: '0.0.0.0' })]).assumptions).toEqual([]);
  });

  it('refuses reusePort: there is no SO_REUSEPORT on Windows', () => {
    expect(() => predictWin32({ ...request(), reusePort: true }, [], FACTS)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/no SO_REUSEPORT.*ENOTSUP/) }),
    );
  });
});

describe('predictWin32: SO_REUSEADDR on the new socket', () => {
  it.each([
    ['0.0.0.0 LISTEN with SO_REUSEADDR vs 0.0.0.0 RA', [L({ address: '0.0.0.0', ra: true })], { host: '0.0.0.0' }, 'free', null],
    [
      '127.0.0.1 LISTEN without SO_REUSEADDR vs 127.0.0.1 RA: D and X both refuse',
      [L({ address: '127.0.0.1', ra: false })],
      { host: '127.0.0.1' },
      'denied',
      'EACCES',
    ],
    ['127.0.0.1 LISTEN vs 0.0.0.0 RA', [L({ address: '127.0.0.1' })], { host: '0.0.0.0' }, 'free', null],
    [
      '0.0.0.0 LISTEN of another account with SO_REUSEADDR vs 127.0.0.1 RA',
      [L({ address: '0.0.0.0', ra: true, user: SOMEONE })],
      { host: '127.0.0.1' },
      'free',
      null,
    ],
    [
      '0.0.0.0 LISTEN of another account without SO_REUSEADDR vs 127.0.0.1 RA',
      [L({ address: '0.0.0.0', ra: false, user: SOMEONE })],
      { host: '127.0.0.1' },
      'denied',
      'EACCES',
    ],
    [
      '0.0.0.0 LISTEN of this account without SO_REUSEADDR vs 127.0.0.1 RA: D shares, X refuses',
      [L({ address: '0.0.0.0', ra: false })],
      { host: '127.0.0.1' },
      'unknown',
      null,
    ],
  ] as const)('%s → %s', (_name, sockets, ask, verdict, errno) => {
    expect(predict({ ...ask, reuseAddr: true }, [...sockets])).toMatchObject({ verdict, errno });
  });

  it('is unknown over a wildcard whose SO_REUSEADDR cannot be seen, and warns that a shared port goes to either socket', () => {
    const prediction = predict({ host: '0.0.0.0', reuseAddr: true }, [L({ address: '0.0.0.0' })]);
    expect(prediction.verdict).toBe('unknown');
    expect(prediction.assumptions[0]).toMatch(/with SO_REUSEADDR → it succeeds; with no sharing option or with SO_EXCLUSIVEADDRUSE → EACCES/);
    expect(prediction.warnings[0]).toMatch(/^If it binds, with SO_REUSEADDR 0\.0\.0\.0:3000 shares port 3000 .* indeterminate/);
    expect(predict({ host: '0.0.0.0', reuseAddr: true }, [L({ address: '0.0.0.0', ra: true })]).warnings).toEqual([
      expect.stringMatching(/^with SO_REUSEADDR .* shares port 3000/),
    ]);
  });
});

describe('predictWin32: dual-stack sockets', () => {
  it('judges a `::` socket on IPv6 only when its process shows no 0.0.0.0 row, and says so', () => {
    const prediction = predict({ host: '0.0.0.0' }, [L({ address: '::' })]);
    expect(prediction.verdict).toBe('free');
    expect(prediction.assumptions).toEqual([expect.stringMatching(/takes no IPv4 \(IPV6_V6ONLY.*nodejs\/node#9390/)]);
  });

  it("finds a dual-stack socket through its IPv4 row (Node's `::` shows as 0.0.0.0 and [::])", () => {
    const prediction = predict({ host: '0.0.0.0' }, [L({ address: '::' }), L({ address: '0.0.0.0' })]);
    expect(prediction).toMatchObject({ verdict: 'in-use', errno: 'EADDRINUSE', assumptions: [] });
    expect(prediction.conflicts).toHaveLength(1);
  });

  it.each([
    ['0.0.0.0 LISTEN vs :: with ipv6Only', [L({ address: '0.0.0.0' })], { ipv6Only: true }, 'free'],
    [':: LISTEN vs :: with ipv6Only', [L({ address: '::' })], { ipv6Only: true }, 'in-use'],
    ['127.0.0.1 LISTEN vs ::ffff:127.0.0.1', [L({ address: '127.0.0.1', ra: false })], { host: '::ffff:127.0.0.1' }, 'in-use'],
    [':: LISTEN vs ::ffff:127.0.0.1', [L({ address: '::' })], { host: '::ffff:127.0.0.1' }, 'free'],
  ] as const)('%s → %s', (_name, sockets, ask, verdict) => {
    expect(predict(ask, [...sockets]).verdict).toBe(verdict);
  });
});

describe('predictWin32: UDP (dgram sets SO_REUSEADDR only when asked)', () => {
  const U = (spec: Spec) => socket({ protocol: 'udp', ...spec });
  it.each([
    ['0.0.0.0 vs :: dual', [U({ address: '0.0.0.0' })], { host: '::' }, 'in-use', 'EADDRINUSE'],
    ['0.0.0.0 vs 127.0.0.1 of this account: SO_EXCLUSIVEADDRUSE decides', [U({ address: '0.0.0.0' })], { host: '127.0.0.1' }, 'unknown', null],
    ['0.0.0.0 vs 0.0.0.0 with reuseAddr: its SO_REUSEADDR decides', [U({ address: '0.0.0.0' })], { host: '0.0.0.0', reuseAddr: true }, 'unknown', null],
    ['0.0.0.0 with SO_REUSEADDR vs 0.0.0.0 with reuseAddr', [U({ address: '0.0.0.0', ra: true })], { host: '0.0.0.0', reuseAddr: true }, 'free', null],
    ['192.168.1.20 vs 127.0.0.1', [U({ address: '192.168.1.20' })], { host: '127.0.0.1' }, 'free', null],
  ] as const)('%s → %s', (_name, sockets, ask, verdict, errno) => {
    expect(predict({ protocol: 'udp', ...ask }, [...sockets])).toMatchObject({ verdict, errno });
  });
});

describe('predictWin32: connections and TIME_WAIT', () => {
  it('cannot tell what an outgoing connection holds: its bind at connect() may be on the wildcard', () => {
    const outgoing = L({ address: '192.168.1.20', state: 'ESTABLISHED', remote: true, port: 52000 });
    const prediction = predict({ port: 52000 }, [outgoing]);
    expect(prediction.verdict).toBe('unknown');
    expect(prediction.assumptions[0]).toMatch(/what a connection holds cannot be seen.*holding the port on the wildcard → EADDRINUSE/);
  });

  it('judges an accepted connection through its listener, which is there', () => {
    const listener = L({ address: '127.0.0.1' });
    const accepted = L({ address: '127.0.0.1', state: 'ESTABLISHED', remote: true });
    expect(predict({}, [listener, accepted]).verdict).toBe('free');
    const dual = L({ address: '::' });
    const viaDual = L({ address: '::ffff:127.0.0.1', state: 'ESTABLISHED', remote: true });
    expect(predict({ host: '::', ipv6Only: true }, [dual, viaDual])).toMatchObject({ verdict: 'in-use', conflicts: [dual] });
  });

  it('lets a wildcard bind over a TIME_WAIT: the tables give success whether or not it is checked', () => {
    expect(predict({}, [L({ address: '127.0.0.1', state: 'TIME_WAIT', remote: true })]).verdict).toBe('free');
  });

  it('says unknown for a bind of the TIME_WAIT’s own address: whether Windows checks it is not settled', () => {
    const prediction = predict({ host: '127.0.0.1' }, [L({ address: '127.0.0.1', state: 'TIME_WAIT', remote: true })]);
    expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
    expect(prediction.assumptions[0]).toMatch(/whether Windows checks a TIME_WAIT is not settled.*joyent\/libuv#1360.*joyent\/libuv#1379/);
    expect(prediction.assumptions[0]).toMatch(/if Windows does not check it → it succeeds/);
  });
});

describe('predictWin32: excluded port ranges', () => {
  const reserved = (ranges: { start: number; end: number; administered?: boolean }[]) =>
    ranges.map(({ start, end, administered = false }) => ({ start, end, administered }));
  const excluding = (tcpIPv4: ReturnType<typeof reserved>, tcpIPv6: ReturnType<typeof reserved> = []) => ({
    excluded: { tcp: { IPv4: tcpIPv4, IPv6: tcpIPv6 }, udp: { IPv4: [], IPv6: [] } },
  });

  it('denies a port inside a reservation, naming the range, though nothing listens', () => {
    const prediction = predict({ host: '127.0.0.1', port: 3050 }, [], excluding(reserved([{ start: 3000, end: 3099 }])));
    expect(prediction).toMatchObject({ verdict: 'denied', errno: 'EACCES', conflicts: [] });
    expect(prediction.reason).toMatch(/excluded port range of IPv4 TCP, 3000–3099 \(netsh interface ipv4 show excludedportrange protocol=tcp\)/);
  });

  it('meets both families for a dual-stack `::`', () => {
    expect(predict({ port: 3050 }, [], excluding(reserved([{ start: 3000, end: 3099 }])))).toMatchObject({ verdict: 'denied', errno: 'EACCES' });
    expect(predict({ port: 3050, ipv6Only: true }, [], excluding(reserved([{ start: 3000, end: 3099 }]))).verdict).toBe('free');
    expect(predict({ host: '0.0.0.0', port: 3050 }, [], excluding([], reserved([{ start: 3000, end: 3099 }]))).verdict).toBe('free');
  });

  it("follows Node's retry on 0.0.0.0 when only IPv6 excludes the port of a `::` bind", () => {
    const ipv6Only = excluding([], reserved([{ start: 3000, end: 3099 }]));
    expect(predict({ port: 3050, hostDefaulted: false }, [], ipv6Only)).toMatchObject({
      verdict: 'denied',
      errno: 'EACCES',
      reason: expect.stringMatching(/IPv6 TCP, 3000–3099/),
    });
    const retried = predict({ port: 3050, hostDefaulted: true }, [], ipv6Only);
    expect(retried).toMatchObject({ verdict: 'free', host: '0.0.0.0' });
    expect(retried.assumptions[0]).toMatch(/binds `::` first, which fails at once with EACCES .* then binds 0\.0\.0\.0/);
    const unsaid = predict({ port: 3050 }, [], ipv6Only);
    expect(unsaid).toMatchObject({ verdict: 'unknown', errno: null });
    expect(unsaid.assumptions[0]).toMatch(
      /a bind of `::` given as the host fails with EACCES; Node's listen\(3050\) without a host then binds 0\.0\.0\.0.*which gives free/,
    );
    // the retry over a 0.0.0.0 listener fails with EADDRINUSE: still unknown, which error
    const both = predict({ port: 3050 }, [L({ address: '0.0.0.0', port: 3050 })], ipv6Only);
    expect(both).toMatchObject({ verdict: 'unknown', reason: expect.stringMatching(/cannot be bound either way, but whether with EACCES .* or EADDRINUSE/) });
    expect(both.assumptions[0]).toMatch(/which gives in-use \(EADDRINUSE\)/);
    // dgram binds as asked, with no retry
    expect(
      predict({ protocol: 'udp', port: 3050 }, [], { excluded: { tcp: FACTS.excluded.tcp, udp: { IPv4: [], IPv6: reserved([{ start: 3000, end: 3099 }]) } } })
        .verdict,
    ).toBe('denied');
  });

  it('keeps ranges per protocol', () => {
    expect(predict({ protocol: 'udp', port: 3050 }, [], excluding(reserved([{ start: 3000, end: 3099 }]))).verdict).toBe('free');
  });

  it('lets an explicit bind into an administered exclusion (*), with a warning', () => {
    const administered = excluding(reserved([{ start: 50000, end: 50059, administered: true }]));
    const prediction = predict({ port: 50010 }, [], administered);
    expect(prediction.verdict).toBe('free');
    expect(win32Warnings(request({ port: 50010 }), facts(administered))).toEqual([
      expect.stringMatching(/administered port exclusion of IPv4 TCP, 50000–50059 .*not refused \(KB 3039044\)/),
    ]);
  });

  it('cannot say free when the ranges could not be read, and says why', () => {
    const unreadIPv6 = {
      excluded: { tcp: { IPv4: [], IPv6: null }, udp: FACTS.excluded.udp },
      excludedUnread: {
        tcp: { IPv4: null, IPv6: 'netsh interface ipv6 show excludedportrange protocol=tcp did not answer within 3000 ms' },
        udp: FACTS.excludedUnread.udp,
      },
    };
    const prediction = predict({}, [], unreadIPv6);
    expect(prediction).toMatchObject({
      verdict: 'unknown',
      errno: null,
      reason: expect.stringMatching(/whether an excluded port range holds port 3000 could not be read/),
    });
    expect(prediction.assumptions).toEqual([
      expect.stringMatching(
        /excluded port ranges of IPv6 TCP could not be read \(netsh .* did not answer within 3000 ms\): if one holds port 3000, the bind fails with EACCES/,
      ),
    ]);
    // an IPv4 bind does not need IPv6's ranges; a socket in the way decides without them
    expect(predict({ host: '0.0.0.0' }, [], unreadIPv6).verdict).toBe('free');
    expect(predict({}, [L({ address: '::' })], unreadIPv6).verdict).toBe('in-use');
  });
});

describe('predictWin32: addresses', () => {
  it.each([
    ['an IPv4 address of no interface', { host: '10.9.9.9' }, 'unavailable', 'EADDRNOTAVAIL', /10\.9\.9\.9 is not an address of this host/],
    ['an IPv6 address of no interface', { host: '2001:db8::1' }, 'unavailable', 'EADDRNOTAVAIL', /2001:db8::1 is not an address of this host/],
    ['an interface address', { host: '192.168.1.20' }, 'free', null, /no socket/],
    ['127.0.0.2: the loopback range beyond what is listed', { host: '127.0.0.2' }, 'unknown', null, /127\.0\.0\.0\/8/],
    ['a multicast group', { host: '239.1.2.3', protocol: 'udp' }, 'unknown', null, /multicast or broadcast/],
  ] as const)('%s → %s', (_name, ask, verdict, errno, reason) => {
    const prediction = predict(ask, []);
    expect(prediction).toMatchObject({ verdict, errno });
    expect(prediction.reason).toMatch(reason);
  });

  it('says that an adapter that is down is not listed', () => {
    expect(predict({ host: '10.9.9.9' }, []).assumptions).toEqual([
      expect.stringMatching(/lists only adapters that are up: assumed that 10\.9\.9\.9 is not the address of one that is down/),
    ]);
  });

  it('cannot make an IPv6 socket without IPv6', () => {
    expect(predict({ host: '::1' }, [], { ipv6Enabled: false, localAddresses: { IPv4: ['127.0.0.1'], IPv6: [] } })).toMatchObject({
      verdict: 'unknown',
      reason: expect.stringMatching(/IPv6 is not available/),
    });
  });
});

describe('predictWin32: what IP Helper does not show', () => {
  it('calls a TCP port free on the stated assumption that no bound-only socket holds it, as none can be seen; UDP needs none', () => {
    const prediction = predict({}, [], { boundSocketsVisible: false });
    expect(prediction).toMatchObject({ verdict: 'free', reason: expect.stringMatching(/no socket uses tcp port 3000/) });
    expect(prediction.assumptions).toEqual([expect.stringMatching(/netstat shows them only with -q.*Assumed that none holds the wildcard or ::/)]);
    expect(predict({ protocol: 'udp' }, [], { boundSocketsVisible: false })).toMatchObject({ verdict: 'free', assumptions: [] });
    // a listener in the way decides without them
    expect(predict({}, [L({ address: '0.0.0.0' })], { boundSocketsVisible: false }).verdict).toBe('in-use');
  });
});

describe('mayMatter and inTheWay: which owners to read, which sockets to name', () => {
  it.each([
    ['0.0.0.0 LISTEN vs 127.0.0.1: the account decides', { host: '127.0.0.1' }, { address: '0.0.0.0' }, true, true],
    ['0.0.0.0 LISTEN vs :: dual: in the way whoever holds it', {}, { address: '0.0.0.0' }, false, true],
    ['127.0.0.1 LISTEN vs 0.0.0.0: never in the way', { host: '0.0.0.0' }, { address: '127.0.0.1' }, false, false],
    ['a TIME_WAIT has no owner', { host: '127.0.0.1' }, { address: '127.0.0.1', state: 'TIME_WAIT', remote: true }, false, true],
    ['another port', {}, { address: '0.0.0.0', port: 4000 }, false, false],
  ] as const)('%s', (_name, ask, spec, matters, inWay) => {
    const record = socket({ ...spec, owned: false });
    expect(mayMatter(request(ask), record)).toBe(matters);
    expect(inTheWay(request(ask), record)).toBe(inWay);
  });
});

describe('win32Warnings', () => {
  it('warns about a port inside the dynamic range, saying when the range is the default', () => {
    expect(win32Warnings(request({ port: 50000 }), FACTS)).toEqual([
      expect.stringMatching(/^50000 lies inside the dynamic port range 49152–65535: an outgoing connection/),
    ]);
    expect(win32Warnings(request({ port: 50000 }), facts({ ephemeralUnread: ['netsh …'] }))[0]).toMatch(/\(Windows' default: netsh could not be read\)/);
    expect(win32Warnings(request({ port: 3000 }), FACTS)).toEqual([]);
    expect(win32Warnings(request({ port: 3000, protocol: 'udp' }), facts({ udpEphemeralRange: [1024, 65534] }))).toHaveLength(1);
  });
});

describe("Node's defaults on Windows", () => {
  it('turns off the SO_REUSEADDR that the Unix defaults set for TCP, and remembers whether the host was given', () => {
    expect(resolveRequest({ port: P }, FACTS, WIN32_RULES)).toMatchObject({ reuseAddr: false, hostDefaulted: true, uid: null });
    expect(resolveRequest({ port: P, host: '::', reuseAddr: true }, FACTS, WIN32_RULES)).toMatchObject({ reuseAddr: true, hostDefaulted: false });
    expect(resolveRequest({ port: P, protocol: 'udp' }, FACTS, WIN32_RULES)).toMatchObject({ reuseAddr: false });
    expect(() => resolveRequest({ port: P, reusePort: true }, FACTS, WIN32_RULES)).toThrow(/no SO_REUSEPORT/);
    expect(nodeDefaults).toMatchObject({
      tcp: { reuseAddr: false, exclusiveAddrUse: false, ipv6Only: false, addressInUseReportedBy: 'listen' },
      udp: { reuseAddr: false },
      reusePort: 'unsupported',
    });
  });

  it('WIN32_RULES has the shape of BindRules', () => {
    const keys: Record<keyof BindRules, true> = {
      defaults: true,
      check: true,
      listenersFirst: true,
      needsOwners: true,
      predict: true,
      mayMatter: true,
      warnings: true,
    };
    expect(Object.keys(WIN32_RULES).sort()).toEqual(Object.keys(keys).sort());
  });
});
