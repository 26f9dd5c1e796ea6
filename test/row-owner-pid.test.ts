// The owner pid in the packed row: its place in the layout, and 0 in every row that Linux's readers give.
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, type ProcNetReading } from '../lib/binding.js';
import { LINUX_ROWS } from '../lib/linux/states.js';
import { RecordMaker } from '../lib/records.js';
import { LOCAL, packRows, ROW_CLASS_ID_KNOWN, ROW_FROM_SOCK_DIAG, ROW_LAYOUT_VERSION, ROW_SIZE, RowTable } from '../lib/rows.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

const TCP_LISTEN = 10;

/** A listener on 127.0.0.1:1, as a test writes rows. */
const LISTENER = {
  protocol: 6,
  family: 4,
  localAddress: Uint8Array.of(127, 0, 0, 1),
  localPort: 1,
  remoteAddress: new Uint8Array(4),
  remotePort: 0,
  state: TCP_LISTEN,
  uid: 0,
  inode: 9,
} as const;

describe('the row layout', () => {
  it('is version 4: 80 bytes a row, the owner pid last', () => {
    expect([ROW_LAYOUT_VERSION, ROW_SIZE]).toEqual([4, 80]);
  });

  it.runIf(process.platform === 'linux')("is the addon's", () => {
    expect([getBinding().rowLayoutVersion, getBinding().rowSize]).toEqual([ROW_LAYOUT_VERSION, ROW_SIZE]);
  });

  it('carries ownerPid through packRows, 0 when not given, and leaves the fields beside it alone', () => {
    const table = new RowTable(
      packRows([{ ...LISTENER, ownerPid: 4, flags: ROW_CLASS_ID_KNOWN, classId: 0xffffffff }, LISTENER, { ...LISTENER, ownerPid: 0xffffffff }]),
      3,
    );
    expect([0, 1, 2].map((index) => table.ownerPid(index))).toEqual([4, 0, 0xffffffff]);
    expect(table.classId(0)).toBe(0xffffffff);
    // the owner pid is the last field: the next row starts right after it
    expect(Array.from(table.address(1, LOCAL))).toEqual([127, 0, 0, 1]);
    expect(Array.from(table.address(2, LOCAL))).toEqual([127, 0, 0, 1]);
  });

  it("becomes the record's ownerPid where the table names one, and is absent where it says 0", () => {
    const table = new RowTable(packRows([{ ...LISTENER, ownerPid: 4242 }, LISTENER]), 2);
    const maker = new RecordMaker(LINUX_ROWS);
    expect(maker.make(table, 0).ownerPid).toBe(4242);
    expect('ownerPid' in maker.make(table, 1)).toBe(false);
  });
});

describe.runIf(process.platform === 'linux')('rows that Linux reads', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  /** The rows of a sync reading, or of every batch of an async one, with the report of its one source. */
  function tables(reading: ProcNetReading): RowTable[] {
    expect(reading.sources).toHaveLength(1);
    expect(reading.sources[0]).toMatchObject({ errno: 0 });
    return [new RowTable(reading.rows, reading.count)];
  }

  async function batches(read: (onRows: (rows: ArrayBuffer, count: number) => void) => Promise<{ sources: ProcNetReading['sources'] }>): Promise<RowTable[]> {
    const received: RowTable[] = [];
    const { sources } = await read((rows, count) => received.push(new RowTable(rows, count)));
    expect(sources).toHaveLength(1);
    expect(sources[0]).toMatchObject({ errno: 0 });
    return received;
  }

  // Neither sock_diag nor /proc/net names a socket's process: the owner scan finds it, later, in JS.
  it('carry owner pid 0, from sock_diag and from /proc, sync and in batches', async () => {
    const server = await pool.listen('127.0.0.1');
    const inode = inodeOf(server);
    const binding = getBinding();
    const queries = [{ protocol: 6, family: 4, states: 1 << TCP_LISTEN, port: portOf(server) }] as const;
    const sources = [{ path: '/proc/net/tcp', protocol: 6, family: 4 }] as const;
    const readings = [
      { source: 'sock_diag', fromSockDiag: ROW_FROM_SOCK_DIAG, tables: tables(binding.readSockDiagSync!(queries)) },
      { source: 'sock_diag', fromSockDiag: ROW_FROM_SOCK_DIAG, tables: await batches((onRows) => binding.readSockDiag!(queries, onRows)) },
      { source: 'proc', fromSockDiag: 0, tables: tables(binding.readProcNetSync!(sources)) },
      { source: 'proc', fromSockDiag: 0, tables: await batches((onRows) => binding.readProcNet!(sources, onRows)) },
    ];
    for (const { source, fromSockDiag, tables: read } of readings) {
      const rows = read.flatMap((table) =>
        Array.from({ length: table.count }, (_, row) => ({
          inode: table.inode(row),
          fromSockDiag: table.flags(row) & ROW_FROM_SOCK_DIAG,
          ownerPid: table.ownerPid(row),
        })),
      );
      // the listener is there, so that the check of every row below is not over an empty table
      expect(
        rows.filter((row) => row.inode === inode),
        source,
      ).toEqual([{ inode, fromSockDiag, ownerPid: 0 }]);
      expect(
        rows.filter((row) => row.ownerPid !== 0),
        source,
      ).toEqual([]);
    }
  });
});
