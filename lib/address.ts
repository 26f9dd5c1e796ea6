// Address bytes → the text Node's `net` prints (libuv's inet_ntop): dotted IPv4, RFC 5952 IPv6.

export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * IPv6 as libuv's inet_ntop6 writes it: lower-case hex, the longest run (two or more) of zero
 * groups as `::` (the first such run on a tie), and the last 32 bits dotted for v4-mapped
 * (`::ffff:1.2.3.4`) and v4-compatible (`::1.2.3.4`) addresses.
 */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);

  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > bestLength) {
      bestStart = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (bestLength < 2) bestStart = -1;

  const embedsIPv4 = bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff));

  let text = '';
  for (let i = 0; i < 8; i++) {
    if (bestStart !== -1 && i >= bestStart && i < bestStart + bestLength) {
      if (i === bestStart) text += ':';
      continue;
    }
    if (i !== 0) text += ':';
    if (i === 6 && embedsIPv4) {
      text += formatIPv4(bytes.subarray(12, 16));
      break;
    }
    text += groups[i]!.toString(16);
  }
  // a run reaching the end needs its closing colon: "1::" and "::"
  if (bestStart !== -1 && bestStart + bestLength === 8) text += ':';
  return text;
}

export function formatAddress(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIPv4(bytes) : formatIPv6(bytes);
}

/** Dotted IPv4 text → 4 bytes, or null when it is not exactly that. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return null;
    bytes[i] = Number(part);
  }
  return bytes;
}

/**
 * IPv4 text in any of inet_aton's forms → the dotted quad, or null. getaddrinfo reads a host this
 * way before it asks DNS, so Node's listen(port, host) binds `127.1` as 127.0.0.1, `0` as 0.0.0.0,
 * `0x7f.1` and `0177.1` as 127.0.0.1: one to four parts, each decimal, octal (a leading 0) or hex
 * (0x), the last filling the bytes that are left (`a.b` is a, then b in 24 bits).
 */
export function parseInetAton(text: string): string | null {
  const parts = text.split('.');
  if (parts.length > 4) return null;
  const values: number[] = [];
  for (const part of parts) {
    let value: number;
    if (/^0[xX][0-9a-fA-F]+$/.test(part)) value = parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8);
    else if (/^[1-9][0-9]*$/.test(part)) value = Number(part);
    else return null;
    if (!Number.isSafeInteger(value)) return null;
    values.push(value);
  }
  const last = values.pop()!;
  if (values.some((value) => value > 255) || last > 2 ** (8 * (4 - values.length)) - 1) return null;
  let number = last;
  values.forEach((value, index) => (number += value * 2 ** (8 * (3 - index))));
  return [24, 16, 8, 0].map((shift) => Math.floor(number / 2 ** shift) % 256).join('.');
}

/** IPv6 text (RFC 4291 forms: `::` once, an IPv4 tail) → 16 bytes, or null. No zone (`%eth0`). */
export function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const ipv4 = parseIPv4(piece);
        if (ipv4 === null) return null;
        groups.push((ipv4[0]! << 8) | ipv4[1]!, (ipv4[2]! << 8) | ipv4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    bytes[index * 2] = group >> 8;
    bytes[index * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** `address:port` with IPv6 in brackets, and `*` for the port of a peer that is not there. */
export function formatEndpoint(family: 'IPv4' | 'IPv6', address: string, port: number | '*'): string {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}
