// The CLI's one-line form of a command line: no control character of it reaches the terminal.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compareSockets, shorten, sortSockets } from '../lib/cli/format.js';
import type { SocketRecord } from '../lib/records.js';

describe('shorten', () => {
  it.each([
    ['newlines and tabs of node -e', "node\n-e\t'x'\n", "node -e 'x'"],
    ['an ESC sequence (C0)', 'evil\x1b[2Jname', 'evil [2Jname'],
    ['a CSI written as one C1 character', 'evil\u009b2Jname', 'evil 2Jname'],
    ['DEL', 'a\x7fb', 'a b'],
    ['a run of them, as one space', 'a\r\n\x00\u0085b', 'a b'],
    ['letters beyond ASCII, kept', 'café\u00a0ñ', 'café\u00a0ñ'],
  ])('%s', (_name, command, expected) => {
    expect(shorten(command)).toBe(expected);
  });

  it('cuts a long one to 100 characters with an ellipsis', () => {
    const line = shorten('x'.repeat(150));
    expect(line).toHaveLength(100);
    expect(line.endsWith('x…')).toBe(true);
  });
});

describe('sortSockets', () => {
  /** A record with only the fields the order looks at varying; `tag` tells equal ones apart. */
  const record = (fields: Pick<SocketRecord, 'protocol' | 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>, tag: number) =>
    ({ ...fields, state: 'ESTABLISHED', uid: 0, inode: tag, kernelOnly: false, source: 'sock_diag' }) as SocketRecord;
  // few values each, so that runs of equal keys, equal peers and exact duplicates are common
  const address = fc.constantFrom('127.0.0.1', '127.0.0.10', '127.0.0.2', '0.0.0.0', '::', '::1', '10.0.0.1', 'fe80::1%eth0', '');
  const fields = (text: fc.Arbitrary<string>) =>
    fc.record({
      protocol: text,
      family: text,
      localAddress: address,
      localPort: fc.oneof(fc.constantFrom(0, 80, 3000, 65535), fc.integer({ min: 0, max: 65535 })),
      remoteAddress: address,
      remotePort: fc.oneof(fc.constantFrom(0, 443, 65535), fc.integer({ min: 0, max: 65535 })),
    }) as fc.Arbitrary<Pick<SocketRecord, 'protocol' | 'family' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>>;

  it('puts sockets in the order of sort(compareSockets), ties kept in their order', () => {
    fc.assert(
      fc.property(fc.array(fields(fc.constantFrom('tcp', 'udp', 'IPv4', 'IPv6')), { maxLength: 400 }), (given) => {
        const sockets = given.map(record);
        expect(sortSockets([...sockets])).toEqual([...sockets].sort(compareSockets));
      }),
      { numRuns: 300 },
    );
  });

  it('sorts texts of any kind in code-unit order, and falls back to the comparator where the keys would not be exact', () => {
    fc.assert(
      fc.property(fc.array(fields(fc.string({ unit: 'binary', maxLength: 3 })), { maxLength: 200 }), (given) => {
        const sockets = given.map(record);
        expect(sortSockets([...sockets])).toEqual([...sockets].sort(compareSockets));
      }),
      { numRuns: 200 },
    );
    // a thousand protocols and families: the keys would pass 2^53
    const many = Array.from({ length: 2000 }, (_, index) =>
      record(
        {
          protocol: `p${index % 1000}` as SocketRecord['protocol'],
          family: `f${(index * 7) % 1000}` as SocketRecord['family'],
          localAddress: `${index}`,
          localPort: index % 3,
          remoteAddress: '',
          remotePort: 0,
        },
        index,
      ),
    );
    expect(sortSockets([...many])).toEqual([...many].sort(compareSockets));
  });
});
