// The sock_diag reply parser on replies built byte by byte: exact rows, and damage reported, never guessed at.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { LINUX_ROWS } from '../lib/linux/states.js';
import { RecordMaker } from '../lib/records.js';
import { RowTable } from '../lib/rows.js';

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
const INET_DIAG_SKV6ONLY = 11;
const INET_DIAG_CGROUP_ID = 21;
const AF_INET = 2;
const AF_INET6 = 10;
const SEQUENCE = 7;

interface DiagSocket {
  family: number;
  state: number;
  sport: number;
  dport: number;
  src: number[];
  dst: number[];
  ifindex?: number;
  uid: number;
  inode: number;
  attributes?: Buffer[];
}

function attribute(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt16LE(4 + value.length, 0);
  header.writeUInt16LE(type, 2);
  const padding = Buffer.alloc((4 - (value.length % 4)) % 4);
  return Buffer.concat([header, value, padding]);
}

function u64(value: bigint): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE(value);
  return buffer;
}

/** nlmsghdr (host order) + payload; the kernel pads each message to 4 bytes. */
function message(type: number, payload: Buffer, sequence = SEQUENCE): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32LE(16 + payload.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(2, 6); // NLM_F_MULTI
  header.writeUInt32LE(sequence, 8);
  return Buffer.concat([header, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
}

/** struct inet_diag_msg (72 bytes) and its attributes. */
function socketMessage(socket: DiagSocket, sequence = SEQUENCE, type = SOCK_DIAG_BY_FAMILY): Buffer {
  const body = Buffer.alloc(72);
  body.writeUInt8(socket.family, 0);
  body.writeUInt8(socket.state, 1);
  body.writeUInt16BE(socket.sport, 4);
  body.writeUInt16BE(socket.dport, 6);
  Buffer.from(socket.src).copy(body, 8);
  Buffer.from(socket.dst).copy(body, 24);
  body.writeUInt32LE(socket.ifindex ?? 0, 40);
  body.writeUInt32LE(3, 56); // rqueue
  body.writeUInt32LE(4, 60); // wqueue
  body.writeUInt32LE(socket.uid, 64);
  body.writeUInt32LE(socket.inode, 68);
  return message(type, Buffer.concat([body, ...(socket.attributes ?? [])]), sequence);
}

function done(status = 0): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeInt32LE(status);
  return message(NLMSG_DONE, payload);
}

function parse(bytes: Buffer, protocol = 6) {
  const reply = getBinding().parseSockDiagReply!(new Uint8Array(bytes), protocol, SEQUENCE);
  const table = new RowTable(reply.rows, reply.count);
  const maker = new RecordMaker(LINUX_ROWS, (index) => (index === 1 ? 'lo' : undefined));
  return { ...reply, records: Array.from({ length: reply.count }, (_, row) => maker.make(table, row)) };
}

const LISTENER: DiagSocket = {
  family: AF_INET6,
  state: 10,
  sport: 8080,
  dport: 0,
  src: new Array<number>(16).fill(0),
  dst: new Array<number>(16).fill(0),
  uid: 1000,
  inode: 4242,
  ifindex: 1,
  attributes: [attribute(INET_DIAG_SKV6ONLY, Buffer.of(0)), attribute(INET_DIAG_CGROUP_ID, u64(77n))],
};
const CONNECTION: DiagSocket = {
  family: AF_INET,
  state: 1,
  sport: 40000,
  dport: 443,
  src: [127, 0, 0, 1, ...new Array<number>(12).fill(0xee)],
  dst: [192, 0, 2, 9, ...new Array<number>(12).fill(0xee)],
  uid: 0,
  inode: 99,
};

describe('parsing sock_diag replies', () => {
  it('reads socket messages, their attributes, and the end of the dump', () => {
    const reply = parse(Buffer.concat([socketMessage(LISTENER), socketMessage(CONNECTION), done()]));
    expect(reply).toMatchObject({ status: 'done', errno: 0, malformed: 0, count: 2 });
    expect(reply.records).toEqual([
      {
        protocol: 'tcp',
        family: 'IPv6',
        localAddress: '::',
        localPort: 8080,
        remoteAddress: '::',
        remotePort: 0,
        state: 'LISTEN',
        uid: 1000,
        inode: 4242,
        kernelOnly: false,
        source: 'sock_diag',
        ipv6Only: false,
        boundDevice: 'lo',
        boundDeviceIndex: 1,
        cgroupId: 77,
      },
      {
        // bytes past the first four of an IPv4 address are not the kernel's to mean anything
        protocol: 'tcp',
        family: 'IPv4',
        localAddress: '127.0.0.1',
        localPort: 40000,
        remoteAddress: '192.0.2.9',
        remotePort: 443,
        state: 'ESTABLISHED',
        uid: 0,
        inode: 99,
        kernelOnly: false,
        source: 'sock_diag',
      },
    ]);
  });

  it('reads the replies to the request of both families (TCPDIAG_GETSOCK, 18), and skips messages of any other type', () => {
    const TCPDIAG_GETSOCK = 18;
    const reply = parse(
      Buffer.concat([
        socketMessage(LISTENER, SEQUENCE, TCPDIAG_GETSOCK),
        socketMessage(CONNECTION, SEQUENCE, 19),
        socketMessage(CONNECTION, SEQUENCE, TCPDIAG_GETSOCK),
        done(),
      ]),
    );
    expect(reply).toMatchObject({ status: 'done', count: 2, malformed: 0 });
    expect(reply.records.map((record) => [record.family, record.localPort])).toEqual([
      ['IPv6', 8080],
      ['IPv4', 40000],
    ]);
  });

  it('names a bound-but-inactive TCP socket BOUND, and a UDP one UNCONNECTED', () => {
    const bound = { ...CONNECTION, state: 7, dport: 0, dst: new Array(16).fill(0) };
    expect(parse(Buffer.concat([socketMessage(bound), done()])).records[0]!.state).toBe('BOUND');
    expect(parse(Buffer.concat([socketMessage(bound), done()]), 17).records[0]!.state).toBe('UNCONNECTED');
  });

  it('goes on after a datagram without NLMSG_DONE, and skips answers to other requests', () => {
    const reply = parse(Buffer.concat([socketMessage(CONNECTION, SEQUENCE + 1), socketMessage(LISTENER)]));
    expect(reply).toMatchObject({ status: 'more', errno: 0, count: 1 });
    expect(reply.records[0]!.localPort).toBe(8080);
  });

  it('reports the kernel refusing a dump by its errno', () => {
    const refusal = Buffer.alloc(20);
    refusal.writeInt32LE(-constants.errno.ENOENT, 0);
    expect(parse(message(NLMSG_ERROR, refusal))).toMatchObject({ status: 'error', errno: constants.errno.ENOENT, count: 0 });
    expect(parse(Buffer.concat([socketMessage(CONNECTION), done(-constants.errno.EINTR)]))).toMatchObject({ status: 'error', errno: constants.errno.EINTR });
  });

  it('fails with EBADMSG on a status that is no errno (INT_MIN, whose negation overflowed; found by fuzz_diag_reply)', () => {
    const refusal = Buffer.alloc(20);
    refusal.writeInt32LE(-(2 ** 31), 0);
    expect(parse(message(NLMSG_ERROR, refusal))).toMatchObject({ status: 'error', errno: constants.errno.EBADMSG });
    refusal.writeInt32LE(-4096, 0);
    expect(parse(message(NLMSG_ERROR, refusal))).toMatchObject({ status: 'error', errno: constants.errno.EBADMSG });
    expect(parse(done(-(2 ** 31)))).toMatchObject({ status: 'error', errno: constants.errno.EBADMSG });
    expect(parse(done(-4095))).toMatchObject({ status: 'error', errno: 4095 });
  });

  it('counts malformed socket messages and keeps the good ones', () => {
    const short = message(SOCK_DIAG_BY_FAMILY, Buffer.alloc(40));
    const strangeFamily = socketMessage({ ...CONNECTION, family: 99 });
    const badAttribute = socketMessage({ ...LISTENER, attributes: [Buffer.from([0xff, 0x00, 11, 0])] });
    const shortCgroup = socketMessage({ ...LISTENER, attributes: [attribute(INET_DIAG_CGROUP_ID, Buffer.alloc(4))] });
    const reply = parse(Buffer.concat([short, strangeFamily, socketMessage(CONNECTION), badAttribute, shortCgroup, done()]));
    expect(reply).toMatchObject({ status: 'done', malformed: 4, count: 1 });
    expect(reply.records[0]!.inode).toBe(99);
  });

  it('fails with EBADMSG on a broken message chain, at every place a reply can be cut', () => {
    const whole = Buffer.concat([socketMessage(LISTENER), socketMessage(CONNECTION), done()]);
    const full = parse(whole).records;
    const boundaries = new Set([0, socketMessage(LISTENER).length, socketMessage(LISTENER).length + socketMessage(CONNECTION).length]);
    for (let cut = 1; cut < whole.length; cut++) {
      const reply = parse(whole.subarray(0, cut));
      if (boundaries.has(cut)) {
        expect(reply.status, `cut at ${cut}`).toBe('more');
      } else {
        expect(reply, `cut at ${cut}`).toMatchObject({ status: 'error', errno: constants.errno.EBADMSG });
      }
      // whatever came before the damage is exactly what the whole reply says
      expect(full.slice(0, reply.count), `cut at ${cut}`).toEqual(reply.records);
    }
    const tooShort = Buffer.from(whole);
    tooShort.writeUInt32LE(8, 0); // nlmsg_len smaller than its own header
    expect(parse(tooShort)).toMatchObject({ status: 'error', errno: constants.errno.EBADMSG, count: 0 });
  });

  it('survives random bytes', () => {
    let seed = 99;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(Array.from({ length: next() % 600 }, () => next() % 256));
      // keep some headers plausible so that the parser goes past the first check
      if (bytes.length >= 16 && i % 2 === 0) {
        bytes.writeUInt32LE(Math.min(bytes.length, 16 + (next() % 120)), 0);
        bytes.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
        bytes.writeUInt32LE(SEQUENCE, 8);
      }
      const reply = parse(bytes);
      expect(['more', 'done', 'error']).toContain(reply.status);
    }
  });
});
