// The system facts a bind depends on, and the ephemeral and reserved port ranges, as this OS keeps them.
import { platform, type SystemFacts } from './platform.js';
import type { EphemeralRange, PortRange } from './ranges.js';

/** Every fact a prediction rests on, read afresh: local addresses, sysctls, capabilities, policy. */
export function readSystemFacts(): SystemFacts {
  return platform().readSystemFacts();
}

/** Where connect() and bind(0) take ports from; the kernel's default when it cannot be read. */
export function readEphemeralRange(): EphemeralRange {
  return platform().readEphemeralRange();
}

/** Ports inside the ephemeral range that connect() and bind(0) skip; an explicit bind() to them still works. */
export function readReservedPorts(): PortRange[] {
  return platform().readReservedPorts();
}
