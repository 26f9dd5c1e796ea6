// Walking netlink bytes: the messages of a reply, and the (nested) attributes of one message, checked at every step.
import { endianness } from 'node:os';

/** Netlink headers are in the host's byte order; nf_tables' own numbers are big-endian. */
const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** A reply the kernel cannot have sent: a length that runs past its end, a number of the wrong size. */
export class MalformedNetlinkError extends Error {
  override readonly name = 'MalformedNetlinkError';
}

/** One netlink message: its header's fields and what follows the header. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  sequence: number;
  payload: Uint8Array;
}

/** The kernel sets this on each message of a dump that the ruleset changed under (nft retries then). */
export const NLM_F_DUMP_INTR = 0x10;

const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
/** The flags of nla_type; what remains is the attribute's type. */
const NLA_TYPE_MASK = ~0xc000 & 0xffff;

const align4 = (length: number): number => (length + 3) & ~3;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The messages packed back to back in `bytes`, each padded to 4 bytes, as the addon hands them over. */
export function splitMessages(bytes: Uint8Array): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  const data = view(bytes);
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (bytes.byteLength - offset < NLMSG_HDRLEN) throw new MalformedNetlinkError(`a netlink header cut short at byte ${offset}`);
    const length = data.getUint32(offset, HOST_LITTLE_ENDIAN);
    if (length < NLMSG_HDRLEN || length > bytes.byteLength - offset)
      throw new MalformedNetlinkError(`a netlink message of ${length} bytes at byte ${offset} of ${bytes.byteLength}`);
    messages.push({
      type: data.getUint16(offset + 4, HOST_LITTLE_ENDIAN),
      flags: data.getUint16(offset + 6, HOST_LITTLE_ENDIAN),
      sequence: data.getUint32(offset + 8, HOST_LITTLE_ENDIAN),
      payload: bytes.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return messages;
}

/** One attribute: its type (flags masked off) and value. */
export interface Attribute {
  type: number;
  value: Uint8Array;
}

/** The attributes packed in `bytes`, in order (a nested list repeats one type). */
export function attributeList(bytes: Uint8Array): Attribute[] {
  const attributes: Attribute[] = [];
  const data = view(bytes);
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (bytes.byteLength - offset < NLA_HDRLEN) throw new MalformedNetlinkError(`an attribute header cut short at byte ${offset}`);
    const length = data.getUint16(offset, HOST_LITTLE_ENDIAN);
    if (length < NLA_HDRLEN || length > bytes.byteLength - offset)
      throw new MalformedNetlinkError(`an attribute of ${length} bytes at byte ${offset} of ${bytes.byteLength}`);
    attributes.push({ type: data.getUint16(offset + 2, HOST_LITTLE_ENDIAN) & NLA_TYPE_MASK, value: bytes.subarray(offset + NLA_HDRLEN, offset + length) });
    offset += align4(length);
  }
  return attributes;
}

/** Attributes by type, for a message or nest where each type appears once (the last one wins). */
export class Attributes {
  private readonly byType = new Map<number, Uint8Array>();

  constructor(bytes: Uint8Array) {
    for (const attribute of attributeList(bytes)) this.byType.set(attribute.type, attribute.value);
  }

  has(type: number): boolean {
    return this.byType.has(type);
  }

  bytes(type: number): Uint8Array | undefined {
    return this.byType.get(type);
  }

  nested(type: number): Attributes | undefined {
    const value = this.byType.get(type);
    return value === undefined ? undefined : new Attributes(value);
  }

  /** A NUL-terminated string (NLA_STRING); the NUL, when present, and what follows it dropped. */
  string(type: number): string | undefined {
    const value = this.byType.get(type);
    if (value === undefined) return undefined;
    const end = value.indexOf(0);
    return Buffer.from(value.subarray(0, end === -1 ? value.byteLength : end)).toString('utf8');
  }

  /** A big-endian u32, as nf_tables sends its numbers. */
  u32(type: number): number | undefined {
    const value = this.byType.get(type);
    if (value === undefined) return undefined;
    if (value.byteLength !== 4) throw new MalformedNetlinkError(`attribute ${type} has ${value.byteLength} bytes, not the 4 of a u32`);
    return view(value).getUint32(0, false);
  }

  /** A big-endian i32 (verdict codes are negative). */
  i32(type: number): number | undefined {
    const value = this.u32(type);
    return value === undefined ? undefined : value | 0;
  }

  /** A big-endian u64 (handles), as a number: the kernel counts handles up from 1. */
  u64(type: number): number | undefined {
    const value = this.byType.get(type);
    if (value === undefined) return undefined;
    if (value.byteLength !== 8) throw new MalformedNetlinkError(`attribute ${type} has ${value.byteLength} bytes, not the 8 of a u64`);
    return Number(view(value).getBigUint64(0, false));
  }
}

/** A netlink attribute for a request: header in host order, value padded to 4 bytes. */
export function encodeAttribute(type: number, value: Uint8Array): Uint8Array {
  const length = NLA_HDRLEN + value.byteLength;
  const bytes = new Uint8Array(align4(length));
  const data = view(bytes);
  data.setUint16(0, length, HOST_LITTLE_ENDIAN);
  data.setUint16(2, type, HOST_LITTLE_ENDIAN);
  bytes.set(value, NLA_HDRLEN);
  return bytes;
}

/** An NLA_STRING attribute: the text and its NUL. */
export function encodeStringAttribute(type: number, text: string): Uint8Array {
  const encoded = Buffer.from(`${text}\0`, 'utf8');
  return encodeAttribute(type, new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength));
}

/** Attributes for one request, back to back. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}
