// A trial bind() (and listen(), for TCP) with a request's options, released at once: the answer of last resort, never the default.
import dgram from 'node:dgram';
import net from 'node:net';

import type { BindRules } from '../platform.js';
import { prediction } from './prediction.js';
import type { BindErrno, Prediction, ResolvedRequest, Verdict } from './types.js';

/** How long a trial bind may take before its answer is given up (the kernel answers at once: this only bounds the wait). */
export const PROBE_TIMEOUT = 2000;

/** Said beside every probed answer: what a probe is, and what it cannot promise. */
export const PROBE_CAVEAT =
  'probed: settled by binding the port for an instant, so it was true then and another process may take the port before yours does (and a bind of it by another process in that instant would have failed)';

// What a trial bind's error means: the verdict, and the errno the request's own bind would meet.
const FAILURES: Record<string, { verdict: Exclude<Verdict, 'free' | 'unknown'>; errno: BindErrno }> = {
  EADDRINUSE: { verdict: 'in-use', errno: 'EADDRINUSE' },
  EACCES: { verdict: 'denied', errno: 'EACCES' },
  EPERM: { verdict: 'denied', errno: 'EPERM' },
  EADDRNOTAVAIL: { verdict: 'unavailable', errno: 'EADDRNOTAVAIL' },
};

/**
 * Why a trial bind from Node could not ask with exactly these options, or null when it can. Node's
 * listen() sets SO_REUSEADDR on TCP sockets or not as libuv does on each OS (`defaults`), and Node 20
 * sets SO_REUSEPORT nowhere: a probe with other options than the request's would answer another question.
 */
export function unprobeable(request: ResolvedRequest, defaults: BindRules['defaults']): string | null {
  if (request.reusePort) return 'a trial bind from Node 20 cannot set SO_REUSEPORT, so it cannot ask with these options';
  if (request.protocol === 'tcp' && request.reuseAddr !== defaults.reuseAddr.tcp) {
    return `Node's listen() ${defaults.reuseAddr.tcp ? 'always' : 'never'} sets SO_REUSEADDR on this OS, so a trial bind cannot ask with these options`;
  }
  return null;
}

/** What one trial bind met: null when it succeeded, else Node's error code (EADDRINUSE…). */
export async function trialBind(request: ResolvedRequest): Promise<string | null> {
  const { port, host, protocol } = request;
  // IPV6_V6ONLY is Node's to set only on ::; a specific IPv6 address is v6-only by itself
  const ipv6Only = host === '::' && request.ipv6Only;
  if (protocol === 'tcp') {
    const server = net.createServer();
    server.listen({ port, host, ipv6Only, exclusive: true });
    return settle(server, () => new Promise<void>((resolve) => server.close(() => resolve())));
  }
  const socket = dgram.createSocket({ type: request.family === 'IPv6' ? 'udp6' : 'udp4', reuseAddr: request.reuseAddr, ipv6Only });
  socket.bind({ port, address: host, exclusive: true });
  return settle(socket, () => closeDgram(socket));
}

/**
 * The prediction a trial bind settles: the tables' own one, its verdict replaced by what the bind
 * met, and `context` (why the tables could not tell) after the reason.
 */
export async function probedPrediction(request: ResolvedRequest, defaults: BindRules['defaults'], tables: Prediction, context: string): Promise<Prediction> {
  const declined = unprobeable(request, defaults);
  if (declined !== null) return { ...tables, assumptions: [...tables.assumptions, `not probed: ${declined}`] };
  const code = await trialBind(request);
  const asked = request.protocol === 'tcp' ? (request.listen ? 'bind() and listen()' : 'bind() and listen() (Node cannot bind without listening)') : 'bind()';
  const before = `; ${context}`;
  const more = { conflicts: tables.conflicts, warnings: [...tables.warnings, PROBE_CAVEAT] };
  if (code === null) return probed(request, 'free', null, `a trial ${asked} with these options succeeded${before}`, more);
  const failure = FAILURES[code];
  // a listen() that Node could not leave out may fail where the bind alone would not
  if (failure === undefined || (request.protocol === 'tcp' && !request.listen)) {
    return { ...tables, assumptions: [...tables.assumptions, `a trial ${asked} failed with ${code}, which does not settle it`] };
  }
  return probed(request, failure.verdict, failure.errno, `a trial ${asked} with these options failed with ${code}${before}`, more);
}

function probed(
  request: ResolvedRequest,
  verdict: Verdict,
  errno: BindErrno | null,
  reason: string,
  more: Pick<Prediction, 'conflicts' | 'warnings'>,
): Prediction {
  return { ...prediction(request, verdict, errno, reason, more), source: 'probe' };
}

function closeDgram(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      // ERR_SOCKET_DGRAM_NOT_RUNNING: closed already
      resolve();
    }
  });
}

/** Waits for `listening` or `error`, then closes: null, or the error's code. Bounded by PROBE_TIMEOUT. */
function settle(emitter: net.Server | dgram.Socket, close: () => Promise<void>): Promise<string | null> {
  return new Promise((resolve) => {
    const done = (code: string | null) => {
      clearTimeout(timer);
      emitter.off('listening', onListening);
      emitter.off('error', onError);
      // released before the answer is given: a caller that binds next must find the port as it was
      void close().then(() => resolve(code));
    };
    const onListening = () => done(null);
    const onError = (error: NodeJS.ErrnoException) => done(error.code ?? 'EUNKNOWN');
    const timer = setTimeout(() => done('ETIMEDOUT'), PROBE_TIMEOUT);
    emitter.once('listening', onListening);
    emitter.once('error', onError);
  });
}
