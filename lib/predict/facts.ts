// The facts a backend's rules are given, checked to be their own kernel's.
import { PortclashError } from '../errors.js';
import type { SystemFacts } from '../platform.js';

/** The facts, checked to be the named kernel's: a backend's rules are only ever given their own. */
export function factsOf<K extends SystemFacts['kernel']>(facts: SystemFacts, kernel: K): Extract<SystemFacts, { kernel: K }> {
  if (facts.kernel !== kernel) throw new PortclashError('ERR_INVALID_ARGUMENT', `${kernel}'s rules were given ${facts.kernel}'s facts`);
  return facts as Extract<SystemFacts, { kernel: K }>;
}
