// What is worth knowing about a port beyond the verdict: this OS's notes (ephemeral, privileged), and another service's.
import type { Platform, SystemFacts } from '../platform.js';
import { getServiceByPort } from '../services.js';
import type { Prediction, ResolvedRequest } from './types.js';

// The phrase every registered-service warning carries, so that a caller that lists services
// itself (portclash info) can leave those warnings out.
const REGISTERED_FOR = ' is registered for ';

export function isServiceWarning(warning: string): boolean {
  return warning.includes(REGISTERED_FOR);
}

/** What is worth knowing about the port beyond the verdict: this OS's notes, then another service's; nothing for port 0. */
export function portWarnings(os: Platform, request: ResolvedRequest, facts: SystemFacts): string[] {
  return request.port === 0 ? [] : [...os.rules.warnings(request, facts), ...serviceWarnings(request)];
}

/** The prediction with the port's warnings after the rules' own (what the sockets on the port imply). */
export function withWarnings(prediction: Prediction, warnings: readonly string[]): Prediction {
  return warnings.length === 0 ? prediction : { ...prediction, warnings: [...prediction.warnings, ...warnings] };
}

function serviceWarnings(request: ResolvedRequest): string[] {
  const { port, protocol } = request;
  const registered = getServiceByPort(port, protocol);
  if (registered === null) return [];
  if (request.service === undefined) {
    return [`${port}/${protocol}${REGISTERED_FOR}${registered.name} (${registered.source === 'file' ? 'services database' : 'built-in table'}).`];
  }
  return registered.name === request.service ? [] : [`${port}/${protocol}${REGISTERED_FOR}${registered.name}, not ${request.service}.`];
}
