// INET_DIAG_CLASS_ID through the reply parser and the row table, on messages built byte by byte.
import { describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { LINUX_ROWS } from '../lib/linux/states.js';
import { RecordMaker } from '../lib/records.js';
import { packRows, ROW_CLASS_ID_KNOWN, ROW_FROM_SOCK_DIAG, RowTable } from '../lib/rows.js';

const SOCK_DIAG_BY_FAMILY = 20;
const INET_DIAG_CLASS_ID = 17;
const AF_INET = 2;
const SEQUENCE = 3;

function attribute(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + value.length, 0);
  header.writeUInt16LE(type, 2);
  return Buffer.concat([header, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

/** One nlmsghdr + inet_diag_msg of a 127.0.0.1:8080 listener, inode 5, with `attributes`. */
function listener(...attributes: Buffer[]): Buffer {
  const body = Buffer.alloc(72);
  body.writeUInt8(AF_INET, 0);
  body.writeUInt8(10, 1);
  body.writeUInt16BE(8080, 4);
  Buffer.of(127, 0, 0, 1).copy(body, 8);
  body.writeUInt32LE(5, 68);
  const payload = Buffer.concat([body, ...attributes]);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + payload.length, 0);
  header.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  header.writeUInt32LE(SEQUENCE, 8);
  return Buffer.concat([header, payload]);
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32LE(value);
  return buffer;
}

function parse(bytes: Buffer) {
  const reply = getBinding().parseSockDiagReply!(new Uint8Array(bytes), 6, SEQUENCE);
  const table = new RowTable(reply.rows, reply.count);
  return { ...reply, records: Array.from({ length: reply.count }, (_, row) => new RecordMaker(LINUX_ROWS).make(table, row)) };
}

describe('the class id of a sock_diag row', () => {
  it('is read from INET_DIAG_CLASS_ID, and absent when the kernel did not send it', () => {
    const reply = parse(Buffer.concat([listener(attribute(INET_DIAG_CLASS_ID, u32(0x100001))), listener(attribute(INET_DIAG_CLASS_ID, u32(0))), listener()]));
    expect(reply).toMatchObject({ count: 3, malformed: 0 });
    expect(reply.records.map((record) => record.classId)).toEqual([0x100001, 0, undefined]);
    expect(reply.records[2]).not.toHaveProperty('classId');
  });

  it('counts a class id attribute too short for a u32 as malformed', () => {
    const reply = parse(listener(attribute(INET_DIAG_CLASS_ID, Buffer.of(1, 0))));
    expect(reply).toMatchObject({ count: 0, malformed: 1 });
  });

  it('survives packRows, and is read only when its flag is set', () => {
    const row = {
      protocol: 6,
      family: 4,
      localAddress: Uint8Array.of(127, 0, 0, 1),
      localPort: 1,
      remoteAddress: new Uint8Array(4),
      remotePort: 0,
      state: 10,
      uid: 0,
      inode: 9,
    } as const;
    const table = new RowTable(
      packRows([
        { ...row, flags: ROW_FROM_SOCK_DIAG | ROW_CLASS_ID_KNOWN, classId: 0xffffffff },
        { ...row, flags: ROW_FROM_SOCK_DIAG, classId: 7 },
      ]),
      2,
    );
    expect([table.classId(0), table.classId(1)]).toEqual([0xffffffff, undefined]);
  });
});
