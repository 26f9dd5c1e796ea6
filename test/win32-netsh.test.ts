// netsh's excluded and dynamic port ranges: the parser on real outputs (test/fixtures/netsh/SOURCES.md), the runner, and buildWin32Facts.
import { readFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';

import { describe, expect, it } from 'vitest';

import { buildWin32Facts, readWin32Facts, WINDOWS_DEFAULT_DYNAMIC_RANGE, type Win32FactInputs } from '../lib/win32/facts.js';
import { NetshSession, parseDynamicPorts, parseExcludedRanges, type NetshOptions } from '../lib/win32/netsh.js';

const FIXTURES = new URL('./fixtures/netsh/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, FIXTURES), 'utf8');

/** netsh replaced by a script that prints a fixture, whatever netsh's arguments. */
const printing = (name: string): NetshOptions => ({ command: { file: process.execPath, args: [new URL('print-fixture.mjs', FIXTURES).pathname, name] } });
const node = (script: string, timeoutMs?: number): NetshOptions => ({
  command: { file: process.execPath, args: ['-e', script] },
  ...(timeoutMs === undefined ? {} : { timeoutMs }),
});

const range = (start: number, end: number, administered = false) => ({ start, end, administered });

describe('parseExcludedRanges on real outputs', () => {
  it('reads the English table, the * of administered exclusions included', () => {
    const parsed = parseExcludedRanges(fixture('excluded-tcp-en.txt'));
    expect(parsed.value).toHaveLength(13);
    expect(parsed.value?.[0]).toEqual(range(1127, 1226));
    expect(parsed.value?.[5]).toEqual(range(2062, 2161));
    expect(parsed.value?.[12]).toEqual(range(50000, 50059, true));
  });

  it('reads headers that end in spaces, and a single administered port', () => {
    expect(parseExcludedRanges(fixture('excluded-tcp-en-administered.txt')).value).toEqual([
      range(80, 80),
      range(5986, 5986),
      range(47001, 47001),
      range(55679, 55679, true),
    ]);
  });

  it('reads a table indented by a log, without its blank lines', () => {
    expect(parseExcludedRanges(fixture('excluded-udp-en.txt')).value).toEqual([range(56030, 56129), range(56130, 56229)]);
  });

  it('reads Spanish headers: only the numbers count', () => {
    const parsed = parseExcludedRanges(fixture('excluded-tcp-es.txt'));
    expect(parsed.value).toHaveLength(24);
    expect(parsed.value).toContainEqual(range(25313, 25412));
    expect(parsed.value?.at(-1)).toEqual(range(50000, 50059));
  });

  it('reads Chinese headers and footnote, spaces collapsed', () => {
    const parsed = parseExcludedRanges(fixture('excluded-tcp-zh.txt'));
    expect(parsed.value).toEqual([
      range(50000, 50059, true),
      range(54364, 54463),
      range(54664, 54763),
      range(54764, 54863),
      range(58922, 59021),
      range(59022, 59121),
      range(60791, 60890),
    ]);
  });

  it('takes what wine prints (nothing) as an empty table, and so a table with no rows', () => {
    expect(parseExcludedRanges(fixture('excluded-wine.txt'))).toEqual({ value: [] });
    // constructed: the English fixture with its rows taken out
    const noRows = fixture('excluded-tcp-en.txt').replace(/^\s+\d+\s+\d+.*\n/gm, '');
    expect(parseExcludedRanges(noRows)).toEqual({ value: [] });
  });

  it('refuses output that is not the table, saying why', () => {
    expect(parseExcludedRanges('The following command was not found: interface ipv4 show excludedportrange.\n')).toEqual({
      value: null,
      reason: expect.stringMatching(/no table of port ranges \(it said: The following command was not found/),
    });
    const garbled = fixture('excluded-tcp-en.txt').replace('      5357        5357', '      5357   to  5357');
    expect(parseExcludedRanges(garbled)).toEqual({ value: null, reason: expect.stringMatching(/a line that is not a range: "5357 {3}to {2}5357"/) });
    expect(parseExcludedRanges('----- -----\n 9000 8000\n')).toEqual({ value: null, reason: expect.stringMatching(/cannot be: 9000–8000/) });
    expect(parseExcludedRanges('----- -----\n 1 70000\n')).toEqual({ value: null, reason: expect.stringMatching(/cannot be: 1–70000/) });
  });
});

describe('parseDynamicPorts on real outputs', () => {
  it.each([
    ['dynamic-tcp-en.txt', [49152, 65535]],
    ['dynamic-tcp-en-1024.txt', [1024, 65534]],
    ['dynamic-tcp-zh.txt', [49152, 65535]],
  ] as const)('%s → %j', (name, expected) => {
    expect(parseDynamicPorts(fixture(name))).toEqual({ value: expected });
  });

  it('needs exactly the two numbers, and a range that can be', () => {
    expect(parseDynamicPorts('')).toEqual({ value: null, reason: expect.stringMatching(/printed 0 \(no output\)/) });
    expect(parseDynamicPorts(fixture('excluded-tcp-en.txt'))).toEqual({ value: null, reason: expect.stringMatching(/two numbers .* it printed 12/) });
    expect(parseDynamicPorts('Start Port : 60000\nNumber of Ports : 16384\n')).toEqual({
      value: null,
      reason: expect.stringMatching(/start 60000, 16384 ports/),
    });
  });
});

describe('NetshSession: the runner', () => {
  it('runs the command with netsh arguments and reads what it prints', () => {
    const session = new NetshSession(printing('excluded-tcp-zh.txt'));
    // the Chinese bytes arrive as UTF-8 read as latin1: garbled headers, intact numbers
    expect(session.excludedRanges('IPv4', 'tcp').value).toHaveLength(7);
    expect(new NetshSession(printing('dynamic-tcp-en.txt')).dynamicPorts('IPv4', 'udp')).toEqual({ value: [49152, 65535] });
  });

  it('passes netsh its arguments, without a shell', () => {
    const echo = new NetshSession(node('console.log(process.argv.slice(1).join(" "))'));
    expect(echo.excludedRanges('IPv6', 'udp')).toEqual({
      value: null,
      reason: expect.stringContaining('(it said: interface ipv6 show excludedportrange protocol=udp)'),
    });
    expect(echo.dynamicPorts('IPv4', 'tcp')).toEqual({ value: null, reason: expect.stringContaining('netsh interface ipv4 show dynamicport tcp:') });
  });

  it('says null, with the status and what netsh said, when it exits non-zero', () => {
    const failing = new NetshSession(node('console.log("The requested operation requires elevation."); process.exit(1)'));
    expect(failing.excludedRanges('IPv4', 'tcp')).toEqual({
      value: null,
      reason: 'netsh interface ipv4 show excludedportrange protocol=tcp exited with status 1: The requested operation requires elevation.',
    });
  });

  it('says null when netsh is not there', () => {
    const missing = new NetshSession({ command: { file: 'portclash-no-such-netsh' } });
    expect(missing.dynamicPorts('IPv4', 'tcp')).toEqual({ value: null, reason: expect.stringMatching(/portclash-no-such-netsh was not found \(ENOENT\)/) });
  });

  it('gives up on a netsh that hangs after the timeout, and asks nothing more of it', () => {
    const hanging = new NetshSession(node('setInterval(() => {}, 1000)', 300));
    expect(hanging.excludedRanges('IPv4', 'tcp')).toEqual({ value: null, reason: expect.stringMatching(/did not answer within 300 ms/) });
    const started = Date.now();
    expect(hanging.excludedRanges('IPv6', 'tcp')).toEqual({ value: null, reason: expect.stringMatching(/was not asked: .* did not answer within 300 ms/) });
    expect(Date.now() - started).toBeLessThan(300);
  });

  it('asks each question once per session, and again in a new one', () => {
    // prints its own pid as a range: another run prints another
    const script = 'console.log("----- -----"); console.log(process.pid % 65535, 65535)';
    const session = new NetshSession(node(script));
    const first = session.excludedRanges('IPv4', 'udp');
    expect(first.value).toHaveLength(1);
    expect(session.excludedRanges('IPv4', 'udp')).toEqual(first);
    expect(new NetshSession(node(script)).excludedRanges('IPv4', 'udp')).not.toEqual(first);
  });
});

const LOOPBACK: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  'Loopback Pseudo-Interface 1': [
    {
      address: '::1',
      netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      family: 'IPv6',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '::1/128',
      scopeid: 0,
    },
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' },
  ],
  Ethernet: [
    {
      address: 'FE80::1c2b:3a4d:5e6f:7081',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '00:15:5d:01:02:03',
      internal: false,
      cidr: 'fe80::1c2b:3a4d:5e6f:7081/64',
      scopeid: 12,
    },
    { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', mac: '00:15:5d:01:02:03', internal: false, cidr: '192.168.1.20/24' },
  ],
};

const answered = <T>(value: T) => ({ value });
const unread = (reason: string) => ({ value: null, reason });

function inputs(overrides: Partial<Win32FactInputs> = {}): Win32FactInputs {
  const none = { IPv4: answered([]), IPv6: answered([]) };
  return {
    interfaces: LOOPBACK,
    user: 'DESKTOP-1\\ada',
    dynamicPorts: { tcp: answered([49152, 65535]), udp: answered([49152, 65535]) },
    excluded: { tcp: none, udp: none },
    ...overrides,
  };
}

describe('buildWin32Facts', () => {
  it('lists the local addresses per family, canonical', () => {
    const facts = buildWin32Facts(inputs());
    expect(facts).toMatchObject({ kernel: 'win32', ipv6Enabled: true, user: 'DESKTOP-1\\ada', boundSocketsVisible: false });
    expect(facts.localAddresses).toEqual({ IPv4: ['127.0.0.1', '192.168.1.20'], IPv6: ['::1', 'fe80::1c2b:3a4d:5e6f:7081'] });
    const v4only = buildWin32Facts(inputs({ interfaces: { lo: LOOPBACK['Loopback Pseudo-Interface 1']!.filter((entry) => entry.family === 'IPv4') } }));
    expect(v4only.ipv6Enabled).toBe(false);
  });

  it("keeps netsh's ranges, and the reason where there is none", () => {
    const facts = buildWin32Facts(
      inputs({
        dynamicPorts: { tcp: answered([1024, 65534]), udp: unread('netsh interface ipv4 show dynamicport udp did not answer within 3000 ms') },
        excluded: {
          tcp: { IPv4: answered([range(5357, 5357)]), IPv6: unread('netsh interface ipv6 show excludedportrange protocol=tcp exited with status 1') },
          udp: { IPv4: answered([]), IPv6: answered([]) },
        },
      }),
    );
    expect(facts.ephemeralRange).toEqual([1024, 65534]);
    expect(facts.udpEphemeralRange).toEqual(WINDOWS_DEFAULT_DYNAMIC_RANGE);
    expect(facts.ephemeralUnread).toEqual(['netsh interface ipv4 show dynamicport udp did not answer within 3000 ms']);
    expect(facts.excluded.tcp).toEqual({ IPv4: [range(5357, 5357)], IPv6: null });
    expect(facts.excludedUnread.tcp).toEqual({ IPv4: null, IPv6: 'netsh interface ipv6 show excludedportrange protocol=tcp exited with status 1' });
    expect(facts.excluded.udp).toEqual({ IPv4: [], IPv6: [] });
  });
});

describe('readWin32Facts', () => {
  it('asks netsh its six questions and builds the facts from the answers', () => {
    const facts = readWin32Facts({ user: null, interfaces: () => LOOPBACK, netsh: printing('excluded-tcp-en-administered.txt') });
    expect(facts.user).toBeNull();
    expect(facts.excluded.tcp.IPv4).toHaveLength(4);
    expect(facts.excluded.udp.IPv6).toHaveLength(4);
    // the same output does not parse as a dynamic range: Windows' default, and why
    expect(facts.ephemeralRange).toEqual(WINDOWS_DEFAULT_DYNAMIC_RANGE);
    expect(facts.ephemeralUnread).toEqual([
      expect.stringMatching(/^netsh interface ipv4 show dynamicport tcp: expected netsh to print two numbers/),
      expect.stringMatching(/^netsh interface ipv4 show dynamicport udp: /),
    ]);
  });

  it('stops asking once netsh has hung', () => {
    const facts = readWin32Facts({ user: 'A\\b', interfaces: () => LOOPBACK, netsh: node('setInterval(() => {}, 1000)', 300) });
    expect(facts.excluded.tcp).toEqual({ IPv4: null, IPv6: null });
    expect(facts.excludedUnread.tcp.IPv4).toMatch(/did not answer within 300 ms/);
    expect(facts.excludedUnread.udp.IPv6).toMatch(/was not asked/);
    expect(facts.ephemeralUnread).toHaveLength(2);
  });
});
