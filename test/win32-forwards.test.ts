// Windows' portproxy forwards on recorded registry readings: what each value means, what is unknown and why, filters, the CLI's table.
import { describe, expect, it } from 'vitest';

import type { NativeBinding, RegistryKeyReading, RegistryValue } from '../lib/binding.js';
import { formatForwards } from '../lib/cli/forwards.js';
import type { PortProxyType, ProxyForward } from '../lib/forwards.js';
import { ROW_LAYOUT_VERSION, ROW_SIZE } from '../lib/rows.js';
import { interpretValue, PORTPROXY_KEYS, readPortProxyForwards } from '../lib/win32/forwards.js';

const REG_SZ = 1;
const REG_DWORD = 4;
const KEY = (type: PortProxyType) => `HKLM\\SYSTEM\\CurrentControlSet\\Services\\PortProxy\\${type}\\tcp`;
const keyOf = (type: PortProxyType) => PORTPROXY_KEYS.find((key) => key.type === type)!;
const text = (name: string, data: string): RegistryValue => ({ name, type: REG_SZ, data, error: 0 });

const found: RegistryKeyReading = { errno: 0, syscall: null, changing: false, values: [] };
const absent: RegistryKeyReading = { errno: 2, syscall: 'RegOpenKeyExW', changing: false, values: [] };

/** A binding whose registry holds `keys` (by type); the others do not exist. Records the paths it was asked for. */
function registry(keys: Partial<Record<PortProxyType, RegistryKeyReading>>): NativeBinding & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    rowLayoutVersion: ROW_LAYOUT_VERSION,
    rowSize: ROW_SIZE,
    asked,
    readRegistryValues: (paths) => {
      asked.push([...paths]);
      return paths.map((path) => keys[/PortProxy\\(v[46]tov[46])\\tcp$/.exec(path)![1] as PortProxyType] ?? absent);
    },
  };
}

describe('portproxy values', () => {
  const proxy = (
    type: PortProxyType,
    name: string,
    data: string,
    listen: [string, number],
    target: [string, number],
  ): [string, PortProxyType, RegistryValue, ProxyForward] => [
    `${type} ${name} → ${data}`,
    type,
    text(name, data),
    {
      kind: 'proxy',
      protocol: 'tcp',
      family: type.startsWith('v4') ? 'IPv4' : 'IPv6',
      ports: [[listen[1], listen[1]]],
      listenAddress: listen[0],
      target: { address: target[0], port: target[1] },
      targetFamily: type.endsWith('v4') ? 'IPv4' : 'IPv6',
      type,
      key: KEY(type),
      value: { name, data },
    },
  ];

  it.each([
    // the form a hive dump shows netsh writes: "0.0.0.0/9999"="192.168.1.101/22"
    proxy('v4tov4', '0.0.0.0/18080', '192.0.2.10/80', ['0.0.0.0', 18080], ['192.0.2.10', 80]),
    proxy('v4tov4', '127.0.0.1/443', '192.0.2.20/8443', ['127.0.0.1', 443], ['192.0.2.20', 8443]),
    // a host name, as netsh takes for either address (resolved by iphlpsvc, so kept as given)
    proxy('v4tov4', '127.0.0.1/5432', 'db.example/5432', ['127.0.0.1', 5432], ['db.example', 5432]),
    proxy('v4tov4', 'localhost/3000', '192.0.2.30/3000', ['localhost', 3000], ['192.0.2.30', 3000]),
    // what netsh is said to show for a rule added without listenaddress: kept as stored
    proxy('v4tov4', '*/8090', '192.0.2.31/80', ['*', 8090], ['192.0.2.31', 80]),
    proxy('v6tov6', '*/8091', '2001:db8::31/80', ['*', 8091], ['2001:db8::31', 80]),
    // IPv6 on either side: the last "/" splits, the colons stay with the address
    proxy('v4tov6', '0.0.0.0/8080', '2001:db8::10/80', ['0.0.0.0', 8080], ['2001:db8::10', 80]),
    proxy('v6tov4', '::/8081', '192.0.2.40/80', ['::', 8081], ['192.0.2.40', 80]),
    proxy('v6tov6', '2001:db8::1/65535', '2001:db8:0:1::2/1', ['2001:db8::1', 65535], ['2001:db8:0:1::2', 1]),
    proxy('v6tov6', 'fe80::1%12/8082', '2001:db8::20/80', ['fe80::1%12', 8082], ['2001:db8::20', 80]),
    proxy('v6tov6', '::ffff:192.0.2.1/8083', '2001:db8::30/80', ['::ffff:192.0.2.1', 8083], ['2001:db8::30', 80]),
  ])('%s', (_, type, value, forward) => {
    expect(interpretValue(keyOf(type), value)).toEqual({ forward });
  });

  it.each<[string, PortProxyType, RegistryValue, RegExp, number | null]>([
    [
      'no "/" in the name',
      'v4tov4',
      text('0.0.0.0:8080', '192.0.2.10/80'),
      /its name should be listenaddress\/listenport: "0\.0\.0\.0:8080" has no "\/"/,
      null,
    ],
    [
      'no "/" in the data',
      'v4tov4',
      text('0.0.0.0/8080', '192.0.2.10:80'),
      /its data should be connectaddress\/connectport: "192\.0\.2\.10:80" has no "\/"/,
      8080,
    ],
    ['a port past 65535', 'v4tov4', text('0.0.0.0/65536', '192.0.2.10/80'), /port of "0\.0\.0\.0\/65536" is not a number from 1 to 65535/, null],
    ['port 0', 'v4tov4', text('0.0.0.0/0', '192.0.2.10/80'), /not a number from 1 to 65535/, null],
    ['a port that is not decimal', 'v4tov4', text('0.0.0.0/0x50', '192.0.2.10/80'), /not a number from 1 to 65535/, null],
    ['a connect port of 0', 'v4tov4', text('0.0.0.0/8080', '192.0.2.10/0'), /port of "192\.0\.2\.10\/0"/, 8080],
    ['an empty connect address', 'v4tov4', text('0.0.0.0/8080', '/80'), /the address is empty/, 8080],
    ['an IPv6 listen address under v4tov4', 'v4tov4', text('::1/8080', '192.0.2.10/80'), /::1 is an IPv6 address, where an IPv4 one belongs/, 8080],
    ['an IPv4 target under v4tov6', 'v4tov6', text('0.0.0.0/8080', '192.0.2.10/80'), /192\.0\.2\.10 is an IPv4 address, where an IPv6 one belongs/, 8080],
    ['an address that does not parse', 'v4tov4', text('999.0.0.1/8080', '192.0.2.10/80'), /"999\.0\.0\.1" is neither an IPv4 address nor a host name/, 8080],
    ['a bad IPv6 address', 'v6tov6', text('2001:db8:::1/8080', '2001:db8::1/80'), /2001:db8:::1 is not an IPv6 address/, 8080],
    ['spaces', 'v4tov4', text('0.0.0.0/8080', '192.0.2.10/80 '), /port of "192\.0\.2\.10\/80 "/, 8080],
    ['a NUL inside the data', 'v4tov4', text('0.0.0.0/8080', '192.0.2.10\u0000/80'), /neither an IPv4 address nor a host name/, 8080],
    [
      'a value of another type',
      'v4tov4',
      { name: '0.0.0.0/8080', type: REG_DWORD, data: null, error: 0 },
      /is of type REG_DWORD, where netsh writes REG_SZ/,
      8080,
    ],
    [
      'a value the addon could not read',
      'v4tov4',
      { name: '0.0.0.0/8080', type: REG_SZ, data: null, error: 234 },
      /could not be read \(RegEnumValueW: ERROR_MORE_DATA\)/,
      8080,
    ],
    ['a "*" to connect to', 'v4tov4', text('0.0.0.0/8080', '*/80'), /"\*" is neither an IPv4 address nor a host name/, 8080],
    ['the default value', 'v4tov4', text('', '192.0.2.10/80'), /has no "\/"/, null],
  ])('%s is unknown, with why', (_, type, value, reason, port) => {
    const result = interpretValue(keyOf(type), value);
    expect(result).toMatchObject({
      unknown: { source: 'rule', type, key: KEY(type), value: { name: value.name, data: value.type === REG_SZ && value.error === 0 ? value.data : null } },
      port,
    });
    if (!('unknown' in result)) throw new Error('expected an unknown');
    expect(result.unknown.reason).toMatch(reason);
    expect(result.unknown.reason).toMatch(/so it may forward its port anywhere$/);
  });

  it('names the Win32 error of a value that could not be read', () => {
    expect(interpretValue(keyOf('v4tov4'), { name: '0.0.0.0/8080', type: REG_SZ, data: null, error: 13 })).toMatchObject({
      unknown: { error: 'ERROR_INVALID_DATA', value: { name: '0.0.0.0/8080', data: null } },
    });
  });
});

describe('readPortProxyForwards', () => {
  const binding = registry({
    v4tov4: { ...found, values: [text('0.0.0.0/18080', '192.0.2.10/80'), text('127.0.0.1/18081', '192.0.2.11/81'), text('0.0.0.0/bad', '192.0.2.12/82')] },
    v6tov6: { ...found, values: [text('::/18080', '2001:db8::10/80'), { name: '::/18082', type: REG_DWORD, data: null, error: 0 }] },
  });

  it('asks for the four tcp keys under HKLM, in order', () => {
    readPortProxyForwards({}, binding);
    expect(binding.asked.at(-1)).toEqual(
      ['v4tov4', 'v4tov6', 'v6tov4', 'v6tov6'].map((type) => `SYSTEM\\CurrentControlSet\\Services\\PortProxy\\${type}\\tcp`),
    );
  });

  it('gives every rule of every key, and what could not be read; absent keys are no rules', () => {
    const report = readPortProxyForwards({}, binding);
    expect(report.forwards.map((forward) => `${forward.type} ${forward.value.name}`)).toEqual([
      'v4tov4 0.0.0.0/18080',
      'v4tov4 127.0.0.1/18081',
      'v6tov6 ::/18080',
    ]);
    expect(report.unknown.map((entry) => entry.value?.name)).toEqual(['0.0.0.0/bad', '::/18082']);
    expect(report.complete).toBe(false);
  });

  it('filters by listen port: a rule whose port cannot be read stays, one with another port goes', () => {
    const report = readPortProxyForwards({ port: 18080 }, binding);
    expect(report.forwards.map((forward) => forward.key)).toEqual([KEY('v4tov4'), KEY('v6tov6')]);
    expect(report.unknown.map((entry) => entry.value?.name)).toEqual(['0.0.0.0/bad']);
    expect(readPortProxyForwards({ port: 18082 }, binding)).toMatchObject({
      forwards: [],
      unknown: [{ value: { name: '0.0.0.0/bad' } }, { value: { name: '::/18082' } }],
    });
    expect(readPortProxyForwards({ port: 18081, protocol: 'tcp' }, binding).forwards).toMatchObject([
      { listenAddress: '127.0.0.1', target: { address: '192.0.2.11', port: 81 } },
    ]);
  });

  it('has nothing for UDP: portproxy proxies TCP alone', () => {
    expect(readPortProxyForwards({ protocol: 'udp' }, binding)).toEqual({ forwards: [], unknown: [], complete: true });
    expect(readPortProxyForwards({ protocol: 'udp' }, registry({ v4tov4: { ...found, errno: 5, syscall: 'RegOpenKeyExW' } })).complete).toBe(true);
  });

  it('is complete and empty when no key exists, or the keys hold nothing', () => {
    expect(readPortProxyForwards({}, registry({}))).toEqual({ forwards: [], unknown: [], complete: true });
    expect(readPortProxyForwards({ port: 80 }, registry({ v4tov4: found, v6tov6: found }))).toEqual({ forwards: [], unknown: [], complete: true });
  });

  it('reports a key it cannot read with its Win32 error, whatever the port asked', () => {
    const denied = registry({ v4tov6: { ...found, errno: 5, syscall: 'RegOpenKeyExW' }, v6tov4: { ...found, errno: 1018, syscall: 'RegEnumValueW' } });
    const report = readPortProxyForwards({ port: 8080 }, denied);
    expect(report).toMatchObject({
      forwards: [],
      complete: false,
      unknown: [
        { source: 'registry', error: 'ERROR_ACCESS_DENIED', type: 'v4tov6', key: KEY('v4tov6') },
        { source: 'registry', error: 'ERROR_KEY_DELETED', type: 'v6tov4', key: KEY('v6tov4') },
      ],
    });
    expect(report.unknown[0]!.reason).toBe(
      'the portproxy key HKLM\\SYSTEM\\CurrentControlSet\\Services\\PortProxy\\v4tov6\\tcp could not be read (RegOpenKeyExW: ERROR_ACCESS_DENIED), so its v4tov6 rules may forward any TCP port',
    );
  });

  it('reports a key that kept changing as unread, never as empty', () => {
    const report = readPortProxyForwards({}, registry({ v4tov4: { ...found, changing: true } }));
    expect(report).toMatchObject({
      forwards: [],
      complete: false,
      unknown: [{ source: 'registry', type: 'v4tov4', reason: expect.stringMatching(/kept changing/) as string }],
    });
    expect(report.unknown[0]).not.toHaveProperty('error');
  });

  it('says what is missing from an addon without the reader', () => {
    expect(() => readPortProxyForwards({}, { rowLayoutVersion: ROW_LAYOUT_VERSION, rowSize: ROW_SIZE })).toThrow(
      expect.objectContaining({ code: 'ERR_ADDON_LOAD' }) as Error,
    );
  });
});

describe('portclash forwards, on portproxy rules', () => {
  it('lists each rule with where it listens and where it connects, and the values it could not read', () => {
    const report = readPortProxyForwards(
      {},
      registry({
        v4tov4: { ...found, values: [text('0.0.0.0/18080', '192.0.2.10/80')] },
        v4tov6: { ...found, values: [text('127.0.0.1/18081', '2001:db8::10/8081')] },
        v6tov6: { ...found, values: [text('::1/18082', 'nope')] },
      }),
    );
    expect(formatForwards(report, undefined)).toBe(
      [
        'PROTO  LISTEN           ACTION  TO                               RULE',
        'tcp    0.0.0.0:18080    proxy   192.0.2.10:80                    portproxy v4tov4 0.0.0.0/18080',
        'tcp    127.0.0.1:18081  proxy   [2001:db8::10]:8081 (over IPv6)  portproxy v4tov6 127.0.0.1/18081',
        '',
        'iphlpsvc (svchost.exe) listens on these ports itself and connects each client on: bind() there fails while it runs.',
        '',
        'May also forward (could not be read or interpreted):',
        '  portproxy v6tov6 ::1/18082: the portproxy value "::1/18082" in HKLM\\SYSTEM\\CurrentControlSet\\Services\\PortProxy\\v6tov6\\tcp is not a rule (its data should be connectaddress/connectport: "nope" has no "/" between address and port), so it may forward its port anywhere',
        '',
      ].join('\n'),
    );
  });

  it('says no rule forwards the port when every key was read', () => {
    expect(formatForwards(readPortProxyForwards({ port: 80 }, registry({})), 80)).toBe('No rule forwards port 80.\n');
  });
});
