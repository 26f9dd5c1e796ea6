// explainBindError: the prediction behind an EADDRINUSE, EACCES or EADDRNOTAVAIL that net or dgram emitted.
import { isIP } from 'node:net';

import { describeOwner, describePrediction } from './describe.js';
import { PortclashError } from './errors.js';
import { predictBind } from './predict/index.js';
import type { BindErrno, BindRequest, Prediction } from './predict/types.js';

const BIND_ERRNOS: ReadonlySet<string> = new Set<BindErrno>(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

/** What the app asked for, where the error cannot tell: everything of BindRequest but the port. */
export type ExplainOptions = Omit<BindRequest, 'port'>;

/**
 * The bind an error from `server.listen()` or `socket.bind()` was about, or null when it is no bind
 * error. Node sets `code`, `syscall`, `address` and `port` on these (internal/errors.js
 * UVExceptionWithHostPort); net says `listen` even when bind() failed, dgram says `bind`.
 */
export function bindRequestOf(error: unknown, options: ExplainOptions = {}): BindRequest | null {
  checkOptions(options);
  if (typeof error !== 'object' || error === null) return null;
  const { code, syscall, address, port } = error as Record<string, unknown>;
  if (typeof code !== 'string' || !BIND_ERRNOS.has(code)) return null;
  if (syscall !== 'listen' && syscall !== 'bind') return null;
  const ip = typeof address === 'string' && isIP(address) !== 0 ? address : undefined;
  // Node sets `port` only when it is not 0 (`listen EADDRNOTAVAIL: address not available 192.0.2.1`);
  // listen(path) fails with the path as address and no port, which no socket table knows
  const bound = port === undefined && ip !== undefined ? 0 : port;
  if (typeof bound !== 'number' || !Number.isInteger(bound) || bound < 0 || bound > 65535) return null;
  const host = options.host ?? ip;
  return {
    ...options,
    port: bound,
    ...(host === undefined ? {} : { host }),
    protocol: options.protocol ?? (syscall === 'listen' ? 'tcp' : 'udp'),
  };
}

function checkOptions(options: unknown): asserts options is ExplainOptions {
  if (typeof options !== 'object' || options === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `explainBindError: options must be an object, not ${String(options)}`);
  }
  const { protocol } = options as Record<string, unknown>;
  if (protocol !== undefined && protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `explainBindError: protocol must be 'tcp' or 'udp', not ${JSON.stringify(protocol) ?? typeof protocol}`);
  }
}

/**
 * For an app's 'error' handler: the Prediction for the bind that failed, holders named; null for
 * an error that is no bind error, and null (never a rejection) when the tables cannot be read, so
 * explaining an error never raises another. Only options that are not an object, or a protocol
 * other than 'tcp'/'udp', reject (PortclashError ERR_INVALID_ARGUMENT).
 */
export async function explainBindError(error: unknown, options: ExplainOptions = {}): Promise<Prediction | null> {
  const request = bindRequestOf(error, options);
  if (request === null) return null;
  try {
    return await predictBind(request);
  } catch (_failure) {
    return null;
  }
}

/** One line: `port 3000/tcp is held by node server.js (pid 4121, user deploy, since 10:02, api.service)`. */
export function describeBindError(prediction: Prediction): string {
  if (typeof prediction !== 'object' || prediction === null || !Array.isArray(prediction.conflicts)) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'describeBindError takes a prediction, as explainBindError resolves with');
  }
  const label = `port ${prediction.port}/${prediction.protocol}`;
  const owners = prediction.conflicts.flatMap((socket) => ('owners' in socket ? socket.owners : []));
  if (prediction.verdict === 'in-use' && owners.length > 0) {
    const pids = new Set(owners.map((owner) => owner.pid));
    const more = pids.size > 1 ? ` and ${pids.size - 1} more` : '';
    return `${label} is held by ${describeOwner(owners[0]!)}${more}`;
  }
  return `port ${describePrediction(prediction)}`;
}
