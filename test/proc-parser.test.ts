// The C++ /proc/net parser on captured and hostile text: exact rows, and bad lines counted, not guessed.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { LINUX_ROWS } from '../lib/linux/states.js';
import { RecordMaker } from '../lib/records.js';
import { IPPROTO_TCP, IPPROTO_UDP, RowTable } from '../lib/rows.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'portclash-parser-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function parse(path: string, protocol: 6 | 17, family: 4 | 6) {
  const reading = getBinding().readProcNetSync!([{ path, protocol, family }]);
  const table = new RowTable(reading.rows, reading.count);
  const maker = new RecordMaker(LINUX_ROWS);
  const records = Array.from({ length: table.count }, (_, row) => maker.make(table, row));
  return { records, source: reading.sources[0]! };
}

function parseText(text: string | Buffer, protocol: 6 | 17, family: 4 | 6) {
  const path = join(scratch, `table-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, text);
  return parse(path, protocol, family);
}

const TCP_HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const TCP_LINE = '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000005 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n';
const TCP6_HEADER =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

// The kernel prints each 32-bit word of an address in the machine's byte order; these captures
// and hand-written lines are little-endian.
describe.runIf(endianness() === 'LE')('parsing captured /proc/net text (little-endian captures)', () => {
  it('reads IPv4 TCP rows, queues included', () => {
    const { records, source } = parse(fixture('tcp.txt'), IPPROTO_TCP, 4);
    expect(source).toMatchObject({ rows: 2, malformed: 0, errno: 0 });
    expect(records[0]).toEqual({
      protocol: 'tcp',
      family: 'IPv4',
      localAddress: '0.0.0.0',
      localPort: 2024,
      remoteAddress: '0.0.0.0',
      remotePort: 0,
      state: 'LISTEN',
      uid: 0,
      inode: 112,
      kernelOnly: false,
      source: 'proc',
    });
    expect(records[1]).toMatchObject({
      localAddress: '127.0.0.1',
      localPort: 0x8254,
      remoteAddress: '127.0.0.1',
      remotePort: 0xa397,
      state: 'ESTABLISHED',
      inode: 6032,
    });
  });

  it('reads IPv6 rows in word order, v4-mapped peers and TIME_WAIT included', () => {
    const { records, source } = parse(fixture('tcp6.txt'), IPPROTO_TCP, 6);
    expect(source).toMatchObject({ rows: 6, malformed: 0 });
    expect(records.map((record) => [record.localAddress, record.localPort, record.remoteAddress, record.remotePort, record.state, record.inode])).toEqual([
      ['::', 0xa397, '::', 0, 'LISTEN', 6031],
      ['::1', 0xafe5, '::1', 0xec9e, 'TIME_WAIT', 0],
      ['::1', 0xdcce, '::1', 0xa397, 'ESTABLISHED', 6034],
      ['::ffff:127.0.0.1', 0xafe5, '::ffff:127.0.0.1', 0xcb68, 'TIME_WAIT', 0],
      ['::1', 0xa397, '::1', 0xdcce, 'ESTABLISHED', 6035],
      ['::ffff:127.0.0.1', 0xa397, '::ffff:127.0.0.1', 0x8254, 'ESTABLISHED', 6033],
    ]);
  });

  it('reads UDP rows: connected as ESTABLISHED, bound as UNCONNECTED', () => {
    const udp = parse(fixture('udp.txt'), IPPROTO_UDP, 4);
    expect(udp.records).toEqual([
      {
        protocol: 'udp',
        family: 'IPv4',
        localAddress: '127.0.0.1',
        localPort: 0xc158,
        remoteAddress: '127.0.0.53',
        remotePort: 53,
        state: 'ESTABLISHED',
        uid: 0,
        inode: 6037,
        kernelOnly: false,
        source: 'proc',
      },
    ]);
    const udp6 = parse(fixture('udp6.txt'), IPPROTO_UDP, 6);
    expect(udp6.records).toEqual([
      {
        protocol: 'udp',
        family: 'IPv6',
        localAddress: '::1',
        localPort: 0xbd64,
        remoteAddress: '::',
        remotePort: 0,
        state: 'UNCONNECTED',
        uid: 0,
        inode: 6036,
        kernelOnly: false,
        source: 'proc',
      },
    ]);
  });

  it('puts the bytes of every IPv6 word in network order', () => {
    // 2001:db8:0:1:2:3:4:5 and fe80::1 as a little-endian kernel prints them
    const line =
      '   0: B80D0120010000000300020005000400:0050 000080FE000000000000000001000000:C350 01 00000000:00000000 00:00000000 00000000     0        0 77 1 0\n';
    const { records } = parseText(TCP6_HEADER + line, IPPROTO_TCP, 6);
    expect(records).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv6',
        localAddress: '2001:db8:0:1:2:3:4:5',
        localPort: 80,
        remoteAddress: 'fe80::1',
        remotePort: 50000,
        state: 'ESTABLISHED',
        uid: 0,
        inode: 77,
        kernelOnly: false,
        source: 'proc',
      },
    ]);
  });

  it('reads uid, inode and the queues exactly at their limits', () => {
    const line = '   0: 0100007F:FFFF 0100007F:0001 01 FFFFFFFF:00000001 00:00000000 00000000 4294967295        0 9007199254740991 1\n';
    const { records } = parseText(TCP_HEADER + line, IPPROTO_TCP, 4);
    expect(records).toEqual([expect.objectContaining({ localPort: 65535, remotePort: 1, uid: 4294967295, inode: 2 ** 53 - 1 })]);
  });
});

describe('skipping malformed /proc/net lines', () => {
  const good = TCP_LINE;
  const bad = [
    'garbage\n',
    '   1:\n',
    '   1: 0100007F:1F90\n',
    '   1: 0100007F:1F90 00000000:0000 0A\n',
    '   1: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n',
    '   1: 0100007F0:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n',
    '   1: 00000000000000000000000001000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n',
    '   1: 0100007F:1F900 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n',
    '   1: 0100007F:1F90 00000000:0000 0A0 00000000:00000000 00:00000000 00000000     0        0 1 1\n',
    '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 4294967296        0 1 1\n',
    '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 18446744073709551616 1\n',
    '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12x 1\n',
    '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0\n',
    '   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\r\n',
    '\u0000\u0001\u00ff binary\n',
    ':::::\n',
  ];

  it('counts every bad line and keeps every good one', () => {
    const text = TCP_HEADER + good + bad.join('') + good.replace('4242', '4343');
    const { records, source } = parseText(text, IPPROTO_TCP, 4);
    expect(source).toMatchObject({ rows: 2, malformed: bad.length, errno: 0 });
    expect(records.map((record) => record.inode)).toEqual([4242, 4343]);
  });

  it('never trusts a last line without its newline, which may be cut anywhere', () => {
    for (let cut = 1; cut < good.length - 1; cut++) {
      const { records, source } = parseText(TCP_HEADER + good + good.slice(0, cut), IPPROTO_TCP, 4);
      expect(records, `cut at ${cut}`).toHaveLength(1);
      expect(source.malformed, `cut at ${cut}`).toBe(1);
    }
  });

  it('reads empty and header-only tables as empty', () => {
    expect(parseText('', IPPROTO_TCP, 4).source).toMatchObject({ rows: 0, malformed: 0, errno: 0 });
    expect(parseText(TCP_HEADER, IPPROTO_TCP, 4).source).toMatchObject({ rows: 0, malformed: 0, errno: 0 });
  });

  it('survives a huge table and a huge line', () => {
    const lines = 200_000;
    const huge = TCP_HEADER + good.repeat(lines);
    expect(parseText(huge, IPPROTO_TCP, 4).source).toMatchObject({ rows: 1, duplicates: lines - 1, malformed: 0 }); // one socket, repeated

    const longLine = 'x'.repeat(16 * 1024 * 1024) + '\n';
    expect(parseText(TCP_HEADER + longLine + good, IPPROTO_TCP, 4).source).toMatchObject({ rows: 1, malformed: 1 });
  });

  it('reports a failed read by errno and syscall, without rows', () => {
    expect(parse(join(scratch, 'missing'), IPPROTO_TCP, 4).source).toMatchObject({ rows: 0, errno: 2, syscall: 'open' });
    expect(parse(scratch, IPPROTO_TCP, 4).source).toMatchObject({ rows: 0, errno: 21, syscall: 'read' });
  });

  it('hands rows to JS in order, batch by batch, before the promise settles', async () => {
    const lines = 10_000;
    const text = TCP_HEADER + Array.from({ length: lines }, (_, i) => TCP_LINE.replace('4242', String(i + 1))).join('');
    const path = join(scratch, 'batched');
    writeFileSync(path, text);
    const inodes: number[] = [];
    let batches = 0;
    const reading = await getBinding().readProcNet!([{ path, protocol: IPPROTO_TCP, family: 4 }], (rows, count) => {
      batches++;
      const table = new RowTable(rows, count);
      for (let row = 0; row < count; row++) inodes.push(table.inode(row));
    });
    expect(reading.sources).toEqual([{ rows: lines, malformed: 0, duplicates: 0, errno: 0, syscall: null }]);
    expect(batches).toBeGreaterThan(1);
    expect(inodes).toEqual(Array.from({ length: lines }, (_, i) => i + 1));
  });

  it('rejects with the error a batch callback throws', async () => {
    const path = join(scratch, 'throwing');
    writeFileSync(path, TCP_HEADER + TCP_LINE);
    const failure = new Error('callback failed');
    await expect(
      getBinding().readProcNet!([{ path, protocol: IPPROTO_TCP, family: 4 }], () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
  });

  it('rejects sources that are not { path, protocol, family }', () => {
    const binding = getBinding();
    expect(() => binding.readProcNetSync!('nope' as never)).toThrow(TypeError);
    expect(() => binding.readProcNetSync!([{ path: 1 } as never])).toThrow(TypeError);
    expect(() => binding.readProcNetSync!([{ path: '/x', protocol: 1 as 6, family: 4 }])).toThrow(RangeError);
    expect(() => binding.readProcNet!([], 'not a function' as never)).toThrow(TypeError);
  });
});
