// The differential oracle's moving parts: predict a bind inside a namespace as a given user, really bind, compare.
import { pathToFileURL, fileURLToPath } from 'node:url';

import type { BindErrno, BindRequest, Prediction, Verdict } from '../../lib/predict/types.js';
import { holdSockets, runCommand, type Netns, type SocketSpec } from './holders.js';

const DIST_INDEX = pathToFileURL(fileURLToPath(new URL('../../dist/index.js', import.meta.url))).href;
const DIST_FACTS = pathToFileURL(fileURLToPath(new URL('../../dist/linux/facts.js', import.meta.url))).href;
const DIST_LINUX = pathToFileURL(fileURLToPath(new URL('../../dist/linux/index.js', import.meta.url))).href;

/** Who binds (and predicts): uid 0, or nobody (65534), which lacks CAP_NET_BIND_SERVICE and ptrace rights. */
export type Runner = 'root' | 'nobody';

/** The uid `nobody` runs as on both sides: setpriv for the prediction, hold_sockets.py for the real bind. */
export const NOBODY_UID = 65534;

/**
 * What a real bind()+listen() did: nothing failed (errno null), or the call that failed and its errno
 * name; and the uid the binding process ran as.
 */
export interface RealOutcome {
  errno: string | null;
  syscall: string | null;
  uid: number;
}

export type Agreement = 'agree' | 'unknown' | 'DISAGREE';

const VERDICT_ERRNO: Record<Exclude<Verdict, 'unknown'>, BindErrno | null> = {
  free: null,
  'in-use': 'EADDRINUSE',
  denied: 'EACCES',
  unavailable: 'EADDRNOTAVAIL',
};

/**
 * The socket a request stands for, with every default written out as lib/predict/types.ts states it
 * (Node's server.listen(port)): this side does not share the predictor's defaults, it checks them.
 */
export function requestToSpec(request: BindRequest): SocketSpec {
  if (typeof request.port !== 'number') throw new Error('the oracle binds numeric ports only');
  const protocol = request.protocol ?? 'tcp';
  const address = request.host ?? '::';
  const family = address.includes(':') ? 6 : 4;
  const spec: SocketSpec = {
    protocol,
    family,
    address,
    port: request.port,
    reuseAddr: request.reuseAddr ?? protocol === 'tcp',
    reusePort: request.reusePort ?? false,
  };
  if (family === 6) spec.ipv6Only = request.ipv6Only ?? false;
  if (protocol === 'tcp') spec.listen = request.listen ?? true;
  return spec;
}

/** The argv prefix that enters the namespace and, for nobody, drops to uid/gid 65534 with no groups and no capabilities. */
function enter(netns: Netns, runner: Runner): string[] {
  const drop = runner === 'nobody' ? ['setpriv', `--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'] : [];
  return [`--net=${netns.path}`, ...drop];
}

/**
 * Runs predictBind(request) from the built dist/ in a fresh Node inside the namespace, as `runner`;
 * also returns the uid the prediction took for the new socket's (the system facts' fsuid).
 */
export async function predictInNetns(
  netns: Netns,
  request: BindRequest,
  runner: Runner,
  options?: { owners?: boolean },
  order: 'as-chosen' | 'in-turn' = 'as-chosen',
): Promise<{ prediction: Prediction; uid: number }> {
  // in-turn: the backend's socket counters say nothing, so the dump of every state waits for the
  // listeners', as it does in a namespace of many sockets (a fresh one has few, and asks both at once)
  const script = `
    const library = await import(${JSON.stringify(DIST_INDEX)});
    const facts = await import(${JSON.stringify(DIST_FACTS)});
    if (${JSON.stringify(order)} === 'in-turn') (await import(${JSON.stringify(DIST_LINUX)})).linux.countSockets = () => null;
    if (typeof library.predictBind !== 'function' || typeof facts.readSystemFacts !== 'function') {
      process.stderr.write('dist/ lacks predictBind or readSystemFacts: run npm run build:ts');
      process.exit(3);
    }
    const prediction = await library.predictBind(${JSON.stringify(request)}, ${JSON.stringify(options ?? {})});
    process.stdout.write(JSON.stringify({ prediction, uid: facts.readSystemFacts().uid }));`;
  const result = await runCommand('nsenter', [...enter(netns, runner), process.execPath, '--input-type=module', '-e', script], {
    timeoutMs: 15_000,
  });
  if (result.code !== 0) {
    throw new Error(`predictBind(${JSON.stringify(request)}) as ${runner} failed (exit ${result.code ?? result.signal}): ${result.stderr.trim()}`);
  }
  let printed: { prediction?: unknown; uid?: unknown };
  try {
    printed = JSON.parse(result.stdout) as typeof printed;
  } catch {
    throw new Error(`predictBind printed something that is not JSON: ${result.stdout}`);
  }
  const { prediction, uid } = printed;
  if (!isPrediction(prediction) || typeof uid !== 'number') throw new Error(`predictBind returned an unexpected shape: ${result.stdout}`);
  return { prediction, uid };
}

/** Really binds (and listens, per the request) as `runner` inside the namespace, and closes at once. */
export async function bindForReal(netns: Netns, request: BindRequest, runner: Runner): Promise<RealOutcome> {
  const holder = await holdSockets([requestToSpec(request)], runner === 'nobody' ? { netns: netns.path, user: 'nobody' } : { netns: netns.path });
  await holder.close();
  const held = holder.sockets[0];
  if (held === undefined) throw new Error('the holder reported no socket');
  return 'error' in held ? { errno: held.error, syscall: held.syscall, uid: holder.uid } : { errno: null, syscall: null, uid: holder.uid };
}

/** A confident verdict agrees when the real call did exactly that: same success or failure, same errno. */
export function compare(prediction: Prediction, real: RealOutcome): Agreement {
  if (prediction.verdict === 'unknown') return 'unknown';
  const expected = VERDICT_ERRNO[prediction.verdict];
  return expected === real.errno && prediction.errno === real.errno ? 'agree' : 'DISAGREE';
}

export function describeOutcome(real: RealOutcome): string {
  return real.errno === null ? 'ok' : `${real.errno} (${real.syscall})`;
}

export function describeVerdict(prediction: Prediction): string {
  return prediction.errno === null ? prediction.verdict : `${prediction.verdict} ${prediction.errno}`;
}

/** Plain columns, padded; the last column (the reason) is left unpadded. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

function isPrediction(value: unknown): value is Prediction {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.verdict === 'string' &&
    ['free', 'in-use', 'denied', 'unavailable', 'unknown'].includes(record.verdict) &&
    (record.errno === null || typeof record.errno === 'string') &&
    typeof record.reason === 'string' &&
    Array.isArray(record.assumptions) &&
    Array.isArray(record.conflicts)
  );
}
