// What is worth knowing about a port beyond the verdict: ephemeral, privileged, another service's.
import type { SystemFacts } from '../facts.js';
import { inRanges } from '../ranges.js';
import { getServiceByPort } from '../services.js';
import type { Prediction, ResolvedRequest } from './types.js';

// The phrase every registered-service warning carries, so that a caller that lists services
// itself (portclash info) can leave those warnings out.
const REGISTERED_FOR = ' is registered for ';

export function isServiceWarning(warning: string): boolean {
  return warning.includes(REGISTERED_FOR);
}

export function withWarnings(prediction: Prediction, request: ResolvedRequest, facts: SystemFacts): Prediction {
  return { ...prediction, warnings: bindWarnings(request, facts) };
}

export function bindWarnings(request: ResolvedRequest, facts: SystemFacts): string[] {
  const warnings: string[] = [];
  const { port } = request;
  if (port === 0) return warnings;
  const [low, high] = facts.ephemeralRange;
  if (port >= low && port <= high && !inRanges(port, facts.reservedPorts)) {
    warnings.push(
      `${port} lies inside the ephemeral range ${low}–${high}: an outgoing connection can take it between this check and your bind. ` +
        `Use a port outside it, or reserve it (sysctl -w net.ipv4.ip_local_reserved_ports=${port}).`,
    );
  }
  if (port < facts.unprivilegedPortStart && facts.canBindPrivileged === true) {
    warnings.push(
      `${port} is privileged (below net.ipv4.ip_unprivileged_port_start, ${facts.unprivilegedPortStart}): this process may bind it, ` +
        'a process without CAP_NET_BIND_SERVICE may not.',
    );
  }
  const registered = getServiceByPort(port, request.protocol);
  if (registered !== null && request.service === undefined) {
    warnings.push(`${port}/${request.protocol}${REGISTERED_FOR}${registered.name} (${registered.source === 'file' ? 'services database' : 'built-in table'}).`);
  } else if (registered !== null && request.service !== undefined && registered.name !== request.service) {
    warnings.push(`${port}/${request.protocol}${REGISTERED_FOR}${registered.name}, not ${request.service}.`);
  }
  return warnings;
}
