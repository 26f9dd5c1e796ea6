// netsh's excluded and dynamic port ranges: the parser on real outputs (test/fixtures/netsh/SOURCES.md) and the runner.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

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
      range(80, 80), range(5986, 5986), range(47001, 47001), range(55679, 55679, true),
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
      range(50000, 50059, true), range(54364, 54463), range(54664, 54763), range(54764, 54863),
      range(58922, 59021), range(59022, 59121), range(60791, 60890),
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
    expect(parseExcludedRanges(garbled)).toEqual({ value: null, reason: expect.stringMatching(/a line that is not a range: "5357   to  5357"/) });
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
    expect(parseDynamicPorts('Start Port : 60000\nNumber of Ports : 16384\n')).toEqual({ value: null, reason: expect.stringMatching(/start 60000, 16384 ports/) });
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
    expect(echo.excludedRanges('IPv6', 'udp')).toEqual({ value: null, reason: expect.stringContaining('(it said: interface ipv6 show excludedportrange protocol=udp)') });
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
