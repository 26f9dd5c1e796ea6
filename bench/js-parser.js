// The straightforward pure-JS way to read /proc/net: readFileSync, split, parseInt. For comparison.
import { readFileSync } from 'node:fs';

const TCP_STATES = [
  '',
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

/** @param {string} hex */
function address(hex) {
  const bytes = [];
  for (let word = 0; word < hex.length; word += 8) {
    for (let i = 6; i >= 0; i -= 2) bytes.push(parseInt(hex.slice(word + i, word + i + 2), 16));
  }
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  if (groups.slice(0, 5).every((group) => group === '0') && groups[5] === 'ffff') return `::ffff:${bytes.slice(12).join('.')}`;
  // longest run of zero groups becomes '::'
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    let end = i;
    while (end < 8 && groups[end] === '0') end++;
    if (end - i > best[1]) best = [i, end - i];
    i = end === i ? i + 1 : end;
  }
  if (best[1] < 2) return groups.join(':');
  return `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0] + best[1]).join(':')}`;
}

/**
 * @param {string} path
 * @param {'tcp' | 'udp'} protocol
 * @param {'IPv4' | 'IPv6'} family
 */
export function parseProcNetJs(path, protocol, family) {
  const lines = readFileSync(path, 'latin1').split('\n');
  const records = [];
  for (let i = 1; i < lines.length; i++) {
    const fields = lines[i].trim().split(/\s+/);
    if (fields.length < 10) continue;
    const [localHex, localPort] = fields[1].split(':');
    const [remoteHex, remotePort] = fields[2].split(':');
    const state = parseInt(fields[3], 16);
    records.push({
      protocol,
      family,
      localAddress: address(localHex),
      localPort: parseInt(localPort, 16),
      remoteAddress: address(remoteHex),
      remotePort: parseInt(remotePort, 16),
      state: protocol === 'tcp' ? TCP_STATES[state] : state === 7 ? 'UNCONNECTED' : 'ESTABLISHED',
      uid: Number(fields[7]),
      inode: Number(fields[9]),
    });
  }
  return records;
}

export function listSocketsJs() {
  return [
    ...parseProcNetJs('/proc/net/tcp', 'tcp', 'IPv4'),
    ...parseProcNetJs('/proc/net/tcp6', 'tcp', 'IPv6'),
    ...parseProcNetJs('/proc/net/udp', 'udp', 'IPv4'),
    ...parseProcNetJs('/proc/net/udp6', 'udp', 'IPv6'),
  ];
}
