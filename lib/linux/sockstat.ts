// /proc/net/sockstat and sockstat6: how many sockets a network namespace holds, by the kernel's own
// counters. A hint for the order in which the tables are asked, never part of a verdict.
import { readTexts } from './procfs.js';
import type { NetPlace } from './netns.js';

/**
 * The TCP sockets (hashed, IPv4 and IPv6, and TIME-WAIT) or UDP sockets of this process's network
 * namespace, as `inuse` and `tw` count them (per namespace; `alloc` is the machine's); null when the
 * files cannot be read, or for another namespace, whose files these are not. Bound-only TCP sockets
 * are in no counter.
 */
export function countSockets(protocol: 'tcp' | 'udp', place: NetPlace | null): number | null {
  if (place !== null) return null;
  const [v4 = null, v6 = null] = readTexts(['/proc/net/sockstat', '/proc/net/sockstat6']);
  if (v4 === null) return null;
  const name = protocol.toUpperCase();
  const counts = [counter(v4, name, 'inuse'), protocol === 'tcp' ? counter(v4, name, 'tw') : 0, v6 === null ? 0 : counter(v6, `${name}6`, 'inuse')];
  return counts.some((count) => count === null) ? null : counts.reduce<number>((sum, count) => sum + (count ?? 0), 0);
}

/** `TCP: inuse 3 orphan 0 tw 1 alloc 4 mem 1`: the number after `field` on the line of `name`; null when absent. */
export function counter(text: string, name: string, field: string): number | null {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}: `));
  const fields = line?.slice(name.length + 2).split(' ') ?? [];
  const at = fields.indexOf(field);
  const value = at === -1 ? NaN : Number(fields[at + 1]);
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}
