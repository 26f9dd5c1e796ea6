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
  for (let i = 0; i < 8; ) {
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

  const embedsIPv4 =
    bestStart === 0 && (bestLength === 6 || (bestLength === 5 && groups[5] === 0xffff));

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
