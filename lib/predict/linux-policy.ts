// What no Linux socket table shows: security modules and cgroup-BPF programs that may refuse or rewrite a bind.
import type { LinuxFacts } from '../linux/facts.js';
import * as say from './linux-reasons.js';
import type { Prediction, ResolvedRequest } from './types.js';

/**
 * What no socket table shows. A security module confining this process may refuse a bind the
 * tables allow. cgroup-BPF programs on socket(), bind() and post-bind may refuse it (EPERM),
 * rewrite its address or port, or waive the privilege check (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE):
 * where they run, `free` and `denied` become unknown, and other verdicts say what they assume.
 * Where they cannot be counted (no CAP_NET_ADMIN), the verdict stands on a stated assumption.
 */
export function withPolicy(prediction: Prediction, request: ResolvedRequest, facts: LinuxFacts): Prediction {
  const unknown = (reason: string, assumption: string): Prediction => ({
    ...prediction,
    verdict: 'unknown',
    errno: null,
    reason,
    assumptions: [...prediction.assumptions, assumption],
  });
  if (facts.confinement !== null && prediction.verdict === 'free') {
    return unknown(say.policy.confined.reason, say.policy.confined.assumption(facts.confinement));
  }

  const hooks = facts.bindHooks;
  const where = say.policy.where(hooks.cgroup);
  const programs = request.family === 'IPv6' ? hooks.ipv6 : hooks.ipv4;
  if (programs === 0) return prediction;
  if (programs === null) {
    if (prediction.verdict !== 'free' && prediction.verdict !== 'denied') return prediction;
    const assumption = say.policy.uncounted(where, hooks.unseen, prediction.verdict === 'free');
    return { ...prediction, assumptions: [...prediction.assumptions, assumption] };
  }
  const judge = say.policy.judge(programs, where);
  const attached = say.policy.attached(where, programs, request.family);
  if (prediction.verdict === 'free') return unknown(say.policy.freeBut(judge), say.policy.mayRefuse(attached));
  if (prediction.verdict === 'denied') return unknown(say.policy.deniedBut(prediction.reason, judge), say.policy.mayWaive(attached));
  return { ...prediction, assumptions: [...prediction.assumptions, say.policy.mayRewrite(attached)] };
}
