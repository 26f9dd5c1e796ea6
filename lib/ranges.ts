// Port classes (IANA's and BSD's) and the shapes of port ranges, the same on every OS.
import { parsePort } from './ports.js';

export type PortClass = 'reserved' | 'well-known' | 'registered' | 'dynamic';

/** IANA's ranges (RFC 6335 §6): System 0–1023, User 1024–49151, Dynamic 49152–65535. */
export function portClass(port: number): { class: PortClass; description: string } {
  const checked = parsePort(port);
  if (checked === 0) {
    return { class: 'reserved', description: 'asks the kernel for any free port when binding' };
  }
  if (checked <= 1023) {
    return {
      class: 'well-known',
      description:
        'well-known (system) port 1–1023, assigned by IANA; on Linux, binding below net.ipv4.ip_unprivileged_port_start (1024 unless changed) needs CAP_NET_BIND_SERVICE',
    };
  }
  if (checked <= 49151) {
    return { class: 'registered', description: 'registered (user) port 1024–49151, assigned by IANA on request' };
  }
  return {
    class: 'dynamic',
    description: 'dynamic (private) port 49152–65535, never assigned by IANA; the range it suggests for ephemeral ports',
  };
}

export type BsdPortClass = 'client' | 'server' | 'privileged' | 'reserved';

/**
 * The traditional BSD split, from <netinet/in.h>: below IPPORT_RESERVED (1024) only root binds,
 * IPPORT_RESERVED up to IPPORT_USERRESERVED (5000) were handed out to clients, 5000 and up were
 * left for servers. Linux never used it (its ephemeral range is a sysctl), but people still ask.
 */
export function bsdClass(port: number): BsdPortClass {
  const checked = parsePort(port);
  if (checked === 0) return 'reserved';
  if (checked < 1024) return 'privileged';
  if (checked < 5000) return 'client';
  return 'server';
}

/** A closed range of ports, low ≤ high. */
export type PortRange = [number, number];

export function inRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some(([low, high]) => port >= low && port <= high);
}

export interface EphemeralRange {
  low: number;
  high: number;
  /** How many ports connect() and bind(0) can choose from: high − low + 1. */
  size: number;
}
