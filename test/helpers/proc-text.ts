// Crafted /proc/net/tcp text for tests of the table readers: a header and listeners on 127.0.0.1:8080.

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const LINE = '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 INODE 1 0000000000000000 100 0 0 10 0\n';

/** A /proc/net/tcp table of `count` listeners, with the inodes 1 to `count`. */
export function listenerTable(count: number): string {
  return HEADER + Array.from({ length: count }, (_, i) => LINE.replace('INODE', String(i + 1))).join('');
}
