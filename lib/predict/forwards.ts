// The NAT rules that send a port's packets elsewhere, as a prediction tells them: a bind that succeeds may still never see what was meant for it.
import { bracketHost, describeNatTarget } from '../describe.js';
import { PortclashError } from '../errors.js';
import type { Forward, ForwardsReport, ForwardsUnknown, NatForward, ProxyForward } from '../forwards.js';
import type { Platform } from '../platform.js';
import type { Protocol } from '../records.js';
import type { Prediction, ResolvedRequest } from './types.js';

/** What the forwards add to a prediction; null when this backend cannot read them at all (nothing to say there). */
export type ForwardsReading = ForwardsReport | { unread: string } | null;

/**
 * Reads the forwards of a port (or, for a batch, of a protocol: `port` undefined, and then a rule
 * that cannot be interpreted is told for every port, its own matches unread) on this backend. A
 * backend without a reader (the probing one) gives null; a reader that fails gives why, which the
 * prediction then says.
 */
export async function readForwardsFor(os: Platform, protocol: Protocol, port: number | undefined): Promise<ForwardsReading> {
  try {
    return await os.findForwards({ protocol, ...(port === undefined ? {} : { port }) });
  } catch (error) {
    if (error instanceof PortclashError && error.code === 'ERR_UNSUPPORTED_PLATFORM') return os.netns === null ? null : { unread: error.message };
    if (error instanceof PortclashError) return { unread: `${error.code}: ${error.message}` };
    throw error;
  }
}

/** The prediction with the forwards of its port in `forwards` and a warning for each, and one for what could not be read. */
export function withForwards(prediction: Prediction, request: ResolvedRequest, reading: ForwardsReading): Prediction {
  if (reading === null || request.port === 0) return prediction;
  if ('unread' in reading) return { ...prediction, warnings: [...prediction.warnings, unreadWarning(request, reading.unread)] };
  const forwards = reading.forwards.filter((forward) => forward.protocol === request.protocol && coversPort(forward, request.port));
  // rules that could not be interpreted one by one; what could not be read at all, in one sentence
  const unread = reading.unknown.filter((unknown) => unknown.source !== 'rule');
  const warnings = [
    ...forwards.map((forward) => forwardWarning(prediction, request, forward)),
    ...reading.unknown.filter((unknown) => unknown.source === 'rule').map((unknown) => unknownWarning(request, unknown)),
    ...(unread.length === 0 ? [] : [unreadWarning(request, unread.map((unknown) => unknown.reason).join('; '))]),
  ];
  if (forwards.length === 0 && warnings.length === 0) return prediction;
  return { ...prediction, ...(forwards.length === 0 ? {} : { forwards }), warnings: [...prediction.warnings, ...warnings] };
}

function coversPort(forward: Forward, port: number): boolean {
  return forward.ports === null || forward.ports.some(([low, high]) => port >= low && port <= high);
}

/** `tcp/8080 arriving from the network is DNATed to 192.0.2.10:80 by ip nat PREROUTING > DOCKER #12 (docker)` */
function forwardWarning(prediction: Prediction, request: ResolvedRequest, forward: Forward): string {
  const but = prediction.verdict === 'free' ? 'the bind succeeds, but ' : '';
  return forward.kind === 'proxy' ? `${but}${proxyWarning(request, forward)}` : `${but}${natWarning(request, forward)}`;
}

function natWarning(request: ResolvedRequest, forward: NatForward): string {
  const what = `${request.protocol}/${request.port}${forward.family === 'IPv6' ? ' (IPv6)' : forward.tableFamily === 'inet' ? ' (IPv4)' : ''}`;
  const from = forward.hook === 'prerouting' ? 'arriving from the network' : 'sent by this host (to itself too)';
  const action = forward.kind === 'redirect' ? `redirected to ${describeNatTarget(forward)}` : `DNATed to ${describeNatTarget(forward)}`;
  const notes = [forward.owner, forward.comment === null ? null : JSON.stringify(forward.comment)].filter((note) => note !== null);
  const only = forward.conditions.length === 0 ? '' : `, when ${forward.conditions.join(' and ')}`;
  return `${what} ${from} is ${action} by ${describeRule(forward)}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}${only}: a server here never sees those packets`;
}

/** Windows: netsh interface portproxy, whose service listens on the port itself and connects each client on. */
function proxyWarning(request: ResolvedRequest, forward: ProxyForward): string {
  const target = `${bracketHost(forward.target.address)}:${forward.target.port}`;
  return `${request.protocol}/${request.port} on ${forward.listenAddress} is forwarded to ${target} by the portproxy rule ${forward.type} ${forward.value.name} (netsh interface portproxy): the IP Helper service (iphlpsvc) listens there itself`;
}

function describeRule(where: { tableFamily?: string; table?: string; path?: string[]; chain?: string; handle?: number }): string {
  const chains = where.path !== undefined && where.path.length > 0 ? where.path.join(' > ') : (where.chain ?? '?');
  return `table ${where.tableFamily ?? '?'} ${where.table ?? '?'} chain ${chains}${where.handle === undefined ? '' : `, rule #${where.handle}`}`;
}

function unknownWarning(request: ResolvedRequest, unknown: ForwardsUnknown): string {
  const where = unknown.source === 'rule' ? ` (${describeRule(unknown)})` : '';
  return `NAT rules may send ${request.protocol}/${request.port} elsewhere${where}: ${unknown.reason}`;
}

function unreadWarning(request: ResolvedRequest, why: string): string {
  return `the NAT rules that could send ${request.protocol}/${request.port} elsewhere were not read: ${why}`;
}
