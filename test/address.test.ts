// Address text: the forms Node's net module prints, checked by table and against the C library.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { formatIPv4, formatIPv6, parseInetAton, parseIPv4, parseIPv6 } from '../lib/address.js';

function bytesOf(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g)!.map((pair) => parseInt(pair, 16)));
}

describe('formatIPv6', () => {
  it.each([
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000ffff7f000001', '::ffff:127.0.0.1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['00000000000000000000000001020304', '::1.2.3.4'],
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000100000000000100000000', '2001:db8:1::1:0:0'],
    ['fe800000000000000000000000000001', 'fe80::1'],
    ['20010db8000000000000000000000000', '2001:db8::'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['ff020000000000000000000000000001', 'ff02::1'],
    ['00000000000000000000fffe01020304', '::fffe:102:304'],
  ])('%s → %s', (hex, text) => {
    expect(formatIPv6(bytesOf(hex))).toBe(text);
  });

  it('agrees with the C library inet_ntop on addresses with many zero groups', () => {
    // Deterministic pseudo-random addresses, biased towards zero groups where the rules bite.
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const addresses: string[] = [];
    for (let i = 0; i < 2000; i++) {
      let hex = '';
      for (let group = 0; group < 8; group++) {
        const pick = next() % 5;
        hex += pick < 3 ? '0000' : pick === 3 ? 'ffff' : (next() % 65536).toString(16).padStart(4, '0');
      }
      addresses.push(hex);
    }
    const script = 'import socket,sys\n' + 'for line in sys.stdin.read().split():\n' + '  print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(line)))\n';
    const expected = execFileSync('python3', ['-c', script], { input: addresses.join('\n') })
      .toString()
      .trim()
      .split('\n');
    expect(addresses.map((hex) => formatIPv6(bytesOf(hex)))).toEqual(expected);
  });
});

describe('formatIPv4', () => {
  it('prints dotted decimal', () => {
    expect(formatIPv4(Uint8Array.of(127, 0, 0, 1))).toBe('127.0.0.1');
    expect(formatIPv4(Uint8Array.of(255, 255, 255, 255))).toBe('255.255.255.255');
    expect(formatIPv4(Uint8Array.of(0, 0, 0, 0))).toBe('0.0.0.0');
  });
});

describe('parsing addresses', () => {
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['0:0:0:0:0:ffff:7f00:1', '::ffff:127.0.0.1'],
    ['fe80::', 'fe80::'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1::', '1::'],
  ])('parses %s as %s', (text, canonical) => {
    expect(formatIPv6(parseIPv6(text)!)).toBe(canonical);
  });

  it.each(['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '12345::', '::1%lo', '::256.0.0.1', '1:2:3:4:5:6:7::8'])(
    'refuses %j',
    (text) => {
      expect(parseIPv6(text)).toBeNull();
    },
  );

  it('parses and refuses IPv4', () => {
    expect(parseIPv4('127.0.0.1')).toEqual(Uint8Array.of(127, 0, 0, 1));
    for (const text of ['256.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', '']) expect(parseIPv4(text)).toBeNull();
  });
});

describe("inet_aton's short forms", () => {
  it('read as glibc reads them: one to four parts, decimal, octal or hex, the last filling what is left', () => {
    const cases: [string, string | null][] = [
      ['0', '0.0.0.0'],
      ['127.1', '127.0.0.1'],
      ['1.2.3', '1.2.0.3'],
      ['0x7f.1', '127.0.0.1'],
      ['0177.0.0.1', '127.0.0.1'],
      ['4294967295', '255.255.255.255'],
      ['10.65535', '10.0.255.255'],
      ['4294967296', null],
      ['10.16777216', null],
      ['256.1', null],
      ['08', null],
      ['1.2.3.4.5', null],
      ['0x', null],
      ['', null],
      ['1..2', null],
    ];
    for (const [text, expected] of cases) expect(parseInetAton(text), text).toBe(expected);
  });
});
