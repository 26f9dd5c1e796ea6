// Linux's ephemeral and reserved port ranges: the net.ipv4 sysctls, read from /proc/sys.
import type { EphemeralRange, PortRange } from '../ranges.js';
import { readInside, unreadableError, type NetPlace } from './netns.js';
import { readText } from './procfs.js';

/**
 * The list format of net.ipv4.ip_local_reserved_ports: `8080,9000-9010`, or an empty line when
 * none are reserved. Pieces that are not a port or a low-high range of ports are skipped: the
 * kernel never prints them, and a reader should not fail on text it did not write.
 */
export function parsePortRanges(text: string): PortRange[] {
  const ranges: PortRange[] = [];
  for (const piece of text.split(',')) {
    const match = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(piece.trim());
    if (match === null) continue;
    const low = Number(match[1]);
    const high = match[2] === undefined ? low : Number(match[2]);
    if (low <= high && high <= 65535) ranges.push([low, high]);
  }
  return ranges;
}

/** The kernel's default net.ipv4.ip_local_port_range (older kernels ended it at 61000). */
export const DEFAULT_EPHEMERAL_RANGE: Readonly<EphemeralRange> = Object.freeze({ low: 32768, high: 60999, size: 28232 });

/** `32768\t60999`: two ports separated by whitespace, low ≤ high; null for anything else. */
export function parseEphemeralRange(text: string): EphemeralRange | null {
  const match = /^\s*([0-9]{1,5})\s+([0-9]{1,5})\s*$/.exec(text);
  if (match === null) return null;
  const low = Number(match[1]);
  const high = Number(match[2]);
  if (low > high || high > 65535) return null;
  return { low, high, size: high - low + 1 };
}

// Both sysctls live under net.ipv4 but govern IPv6 sockets too, and like all of /proc/sys/net
// they are per network namespace: these readers answer for the namespace this process is in.
// A socket can narrow the ephemeral range for itself with IP_LOCAL_PORT_RANGE (Linux 6.3), which
// no file shows.
const EPHEMERAL_RANGE_PATH = '/proc/sys/net/ipv4/ip_local_port_range';
const RESERVED_PORTS_PATH = '/proc/sys/net/ipv4/ip_local_reserved_ports';

/**
 * net.ipv4.ip_local_port_range: where connect() and bind(0) take ports from. The kernel's
 * default when the file cannot be read or says something unexpected.
 */
export function readEphemeralRange(options: { path?: string } = {}): EphemeralRange {
  const text = readText(options.path ?? EPHEMERAL_RANGE_PATH);
  return (text === null ? null : parseEphemeralRange(text)) ?? { ...DEFAULT_EPHEMERAL_RANGE };
}

/**
 * net.ipv4.ip_local_reserved_ports: ports inside the ephemeral range that connect() and bind(0)
 * skip; an explicit bind() to them still works. None when the file cannot be read.
 */
export function readReservedPorts(options: { path?: string } = {}): PortRange[] {
  const text = readText(options.path ?? RESERVED_PORTS_PATH);
  return text === null ? [] : parsePortRanges(text);
}

/**
 * Both ranges of a network namespace: this process's own (null), as the readers above read them,
 * or another's, read from inside it; ERR_NETNS_UNREADABLE when it cannot be entered, since no file
 * outside it shows them and a default in their place would be a guess.
 */
export function readNamespaceRanges(place: NetPlace | null): { ephemeral: EphemeralRange; reserved: PortRange[] } {
  if (place === null) return { ephemeral: readEphemeralRange(), reserved: readReservedPorts() };
  const inside = readInside(place, [EPHEMERAL_RANGE_PATH, RESERVED_PORTS_PATH]);
  if (!inside.entered) throw unreadableError(place, inside.why, 'the ephemeral and reserved port ranges', false);
  const [range = null, reserved = null] = inside.texts;
  return {
    ephemeral: (range === null ? null : parseEphemeralRange(range)) ?? { ...DEFAULT_EPHEMERAL_RANGE },
    reserved: reserved === null ? [] : parsePortRanges(reserved),
  };
}
