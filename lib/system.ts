// The system facts a bind depends on, and the ephemeral and reserved port ranges, as this OS keeps them.
import { PortclashError } from './errors.js';
import { platformIn, type Platform, type SystemFacts } from './platform.js';
import type { EphemeralRange, PortRange } from './ranges.js';

/** Where to read: another network namespace (Linux), as listSockets' `netns` names one. */
export interface NamespaceOptions {
  netns?: string;
}

/**
 * Every fact a prediction rests on, read afresh: local addresses, sysctls, capabilities, policy.
 * With `netns`, the addresses and sysctls are that namespace's (`sysctlsUnread` says when they
 * could not be read); the process facts stay this process's.
 */
export function readSystemFacts(options: NamespaceOptions = {}): SystemFacts {
  return backend(options).readSystemFacts();
}

/**
 * Where connect() and bind(0) take ports from; the kernel's default when it cannot be read. With
 * `netns`, ERR_NETNS_UNREADABLE where that namespace cannot be entered (nothing outside shows it).
 */
export function readEphemeralRange(options: NamespaceOptions = {}): EphemeralRange {
  return backend(options).readEphemeralRange();
}

/** Ports inside the ephemeral range that connect() and bind(0) skip; an explicit bind() to them still works. */
export function readReservedPorts(options: NamespaceOptions = {}): PortRange[] {
  return backend(options).readReservedPorts();
}

/** The backend for the options' network namespace. */
export function backend(options: NamespaceOptions): Platform {
  if (typeof options !== 'object' || options === null) throw new PortclashError('ERR_INVALID_ARGUMENT', "the options must be an object like { netns: 'web' }");
  return platformIn(options.netns);
}
