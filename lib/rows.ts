// The packed row table the addon returns: its layout, a reader over it, and a writer for tests.

/** Must equal kRowLayoutVersion and sizeof(RawRow) in native/sockets.h. */
export const ROW_LAYOUT_VERSION = 4;
export const ROW_SIZE = 80;

/** Which address of a row: the field's offset. */
export const LOCAL = 0;
export const REMOTE = 16;
export type AddressEnd = typeof LOCAL | typeof REMOTE;
const INODE_LOW = 32;
const INODE_HIGH = 36;
const UID = 40;
const TX_QUEUE = 44;
const RX_QUEUE = 48;
const LOCAL_PORT = 52;
const REMOTE_PORT = 54;
const PROTOCOL = 56;
const FAMILY = 57;
const STATE = 58;
const FLAGS = 59;
const INTERFACE_INDEX = 60;
const CGROUP_LOW = 64;
const CGROUP_HIGH = 68;
const CLASS_ID = 72;
const OWNER_PID = 76;

/** Bits of a row's flags byte (kRow* in native/sockets.h). */
export const ROW_FROM_SOCK_DIAG = 1 << 0;
export const ROW_V6ONLY_KNOWN = 1 << 1;
export const ROW_V6ONLY = 1 << 2;
export const ROW_CGROUP_KNOWN = 1 << 3;
export const ROW_CLASS_ID_KNOWN = 1 << 4;

export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** One row as plain data: what a replacement binding records or invents. */
export interface RawRow {
  protocol: 6 | 17;
  family: 4 | 6;
  /** 4 (IPv4) or 16 (IPv6) bytes in network order. */
  localAddress: Uint8Array;
  localPort: number;
  remoteAddress: Uint8Array;
  remotePort: number;
  state: number;
  uid: number;
  inode: number;
  txQueue?: number;
  rxQueue?: number;
  /** ROW_* bits; 0 for a /proc row. */
  flags?: number;
  interfaceIndex?: number;
  cgroupId?: number;
  /** INET_DIAG_CLASS_ID; set ROW_CLASS_ID_KNOWN in flags for it to be read. */
  classId?: number;
  /** The owning process where the OS's table names it; 0 (the default) where it does not, as on Linux. */
  ownerPid?: number;
}

/**
 * Reads rows in place through typed-array views, so filters run before any object is made.
 * Numbers are in the machine's byte order, as the addon wrote them.
 */
export class RowTable {
  readonly count: number;
  private readonly bytes: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;

  constructor(buffer: ArrayBuffer, count: number) {
    if (!Number.isInteger(count) || count < 0 || buffer.byteLength < count * ROW_SIZE) {
      throw new RangeError(`a row table of ${buffer.byteLength} bytes cannot hold ${count} rows`);
    }
    this.count = count;
    this.bytes = new Uint8Array(buffer, 0, count * ROW_SIZE);
    this.u16 = new Uint16Array(buffer, 0, (count * ROW_SIZE) / 2);
    this.u32 = new Uint32Array(buffer, 0, (count * ROW_SIZE) / 4);
  }

  protocol(row: number): number {
    return this.bytes[row * ROW_SIZE + PROTOCOL]!;
  }

  family(row: number): number {
    return this.bytes[row * ROW_SIZE + FAMILY]!;
  }

  state(row: number): number {
    return this.bytes[row * ROW_SIZE + STATE]!;
  }

  localPort(row: number): number {
    return this.u16[(row * ROW_SIZE + LOCAL_PORT) / 2]!;
  }

  remotePort(row: number): number {
    return this.u16[(row * ROW_SIZE + REMOTE_PORT) / 2]!;
  }

  flags(row: number): number {
    return this.bytes[row * ROW_SIZE + FLAGS]!;
  }

  interfaceIndex(row: number): number {
    return this.u32[(row * ROW_SIZE + INTERFACE_INDEX) / 4]!;
  }

  cgroupId(row: number): number {
    const base = row * ROW_SIZE;
    return this.u32[(base + CGROUP_HIGH) / 4]! * 2 ** 32 + this.u32[(base + CGROUP_LOW) / 4]!;
  }

  /** INET_DIAG_CLASS_ID, or undefined when the kernel did not send it (ROW_CLASS_ID_KNOWN). */
  classId(row: number): number | undefined {
    if ((this.flags(row) & ROW_CLASS_ID_KNOWN) === 0) return undefined;
    return this.u32[(row * ROW_SIZE + CLASS_ID) / 4]!;
  }

  /**
   * The owning process where the OS's table names it, else 0. Linux's tables never do: its owners
   * come from the /proc/<pid>/fd scan.
   */
  ownerPid(row: number): number {
    return this.u32[(row * ROW_SIZE + OWNER_PID) / 4]!;
  }

  uid(row: number): number {
    return this.u32[(row * ROW_SIZE + UID) / 4]!;
  }

  inode(row: number): number {
    const base = row * ROW_SIZE;
    // Socket inodes are 32-bit today; the high word keeps the value exact up to 2^53.
    return this.u32[(base + INODE_HIGH) / 4]! * 2 ** 32 + this.u32[(base + INODE_LOW) / 4]!;
  }

  txQueue(row: number): number {
    return this.u32[(row * ROW_SIZE + TX_QUEUE) / 4]!;
  }

  rxQueue(row: number): number {
    return this.u32[(row * ROW_SIZE + RX_QUEUE) / 4]!;
  }

  /** One 32-bit word of an address, in the machine's byte order: a cheap key for caches. */
  addressWord(row: number, end: AddressEnd, word: number): number {
    return this.u32[(row * ROW_SIZE + end) / 4 + word]!;
  }

  /** The address bytes: a view into the table, 4 bytes for IPv4 and 16 for IPv6. */
  address(row: number, end: AddressEnd): Uint8Array {
    const start = row * ROW_SIZE + end;
    return this.bytes.subarray(start, start + (this.family(row) === 6 ? 16 : 4));
  }
}

/** Packs rows the way the addon does, for bindings that replay recorded or invented rows. */
export function packRows(rows: readonly RawRow[]): ArrayBuffer {
  const buffer = new ArrayBuffer(rows.length * ROW_SIZE);
  const bytes = new Uint8Array(buffer);
  const u16 = new Uint16Array(buffer);
  const u32 = new Uint32Array(buffer);
  rows.forEach((row, index) => {
    const base = index * ROW_SIZE;
    bytes.set(row.localAddress.subarray(0, 16), base + LOCAL);
    bytes.set(row.remoteAddress.subarray(0, 16), base + REMOTE);
    u32[(base + INODE_LOW) / 4] = row.inode % 2 ** 32;
    u32[(base + INODE_HIGH) / 4] = Math.floor(row.inode / 2 ** 32);
    u32[(base + UID) / 4] = row.uid;
    u32[(base + TX_QUEUE) / 4] = row.txQueue ?? 0;
    u32[(base + RX_QUEUE) / 4] = row.rxQueue ?? 0;
    u16[(base + LOCAL_PORT) / 2] = row.localPort;
    u16[(base + REMOTE_PORT) / 2] = row.remotePort;
    bytes[base + PROTOCOL] = row.protocol;
    bytes[base + FAMILY] = row.family;
    bytes[base + STATE] = row.state;
    bytes[base + FLAGS] = row.flags ?? 0;
    u32[(base + INTERFACE_INDEX) / 4] = row.interfaceIndex ?? 0;
    u32[(base + CGROUP_LOW) / 4] = (row.cgroupId ?? 0) % 2 ** 32;
    u32[(base + CGROUP_HIGH) / 4] = Math.floor((row.cgroupId ?? 0) / 2 ** 32);
    u32[(base + CLASS_ID) / 4] = row.classId ?? 0;
    u32[(base + OWNER_PID) / 4] = row.ownerPid ?? 0;
  });
  return buffer;
}
