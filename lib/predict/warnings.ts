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

/** The prediction with what is worth knowing added after the rules' own warnings (what the sockets on the port imply). */
export function withWarnings(os: Platform, prediction: Prediction, request: ResolvedRequest, facts: SystemFacts): Prediction {
  if (request.port === 0) return prediction;
  return { ...prediction, warnings: [...prediction.warnings, ...os.rules.warnings(request, facts), ...serviceWarnings(request)] };
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
