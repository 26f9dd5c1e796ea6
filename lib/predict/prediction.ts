// One Prediction literal for every OS's rules: the request's port, host and protocol, and the verdict with why.
import type { BindErrno, Prediction, ResolvedRequest, Verdict } from './types.js';

export function prediction(
  request: ResolvedRequest,
  verdict: Verdict,
  errno: BindErrno | null,
  reason: string,
  more: Partial<Pick<Prediction, 'conflicts' | 'assumptions' | 'warnings'>> = {},
): Prediction {
  return {
    port: request.port,
    host: request.host,
    protocol: request.protocol,
    verdict,
    errno,
    reason,
    conflicts: [],
    assumptions: [],
    warnings: [],
    source: 'tables',
    ...more,
  };
}
