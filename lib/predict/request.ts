// A bind request made whole: port or service checked, host name resolved as Node's listen() does, defaults filled in.
import { lookup } from 'node:dns/promises';

import { formatIPv4, formatIPv6, parseInetAton, parseIPv4, parseIPv6 } from '../address.js';
import { PortclashError } from '../errors.js';
import type { BindRules, SystemFacts } from '../platform.js';
import type { Protocol } from '../records.js';
import { parsePortOrService } from '../services.js';
import type { BindRequest, ResolvedRequest } from './types.js';

/** Fills in the defaults of Node's server.listen(port) on this OS (its rules' `defaults`), and checks the request. */
export function resolveRequest(request: BindRequest, facts: SystemFacts, rules: BindRules): ResolvedRequest {
  const { port, service, protocol } = resolveTarget(request);
  for (const flag of ['reuseAddr', 'reusePort', 'ipv6Only', 'listen'] as const) {
    if (request[flag] !== undefined && typeof request[flag] !== 'boolean') {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `${flag} must be a boolean, got ${JSON.stringify(request[flag])}`);
    }
  }
  if (request.host !== undefined && typeof request.host !== 'string') {
    throw new PortclashError('ERR_INVALID_HOST', `host must be a string (an IP address or a host name), got ${JSON.stringify(request.host)}`);
  }
  const parsed = parseHost(request.host ?? (facts.ipv6Enabled ? '::' : '0.0.0.0'));
  if ('error' in parsed) throw new PortclashError('ERR_INVALID_HOST', `${parsed.error}; give an IP address such as 0.0.0.0, 127.0.0.1, :: or ::1`);
  const { family, canonical } = parsed;
  const mapped = family === 'IPv6' && canonical.startsWith('::ffff:') && canonical.includes('.');
  if (mapped && request.ipv6Only === true) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is an IPv4 address in IPv6 form, which an IPV6_V6ONLY socket cannot bind (EINVAL)`);
  }
  if (family === 'IPv6' && /^fe[89ab]|^ff0[12]:/.test(canonical)) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is link-local: binding it needs a scope (an interface), which portclash does not take yet`);
  }
  if (family === 'IPv6' && protocol === 'tcp' && canonical.startsWith('ff')) {
    throw new PortclashError('ERR_INVALID_HOST', `${canonical} is a multicast address, which a TCP socket cannot bind (EINVAL)`);
  }
  const resolved: ResolvedRequest = {
    port,
    host: canonical,
    family,
    protocol,
    reuseAddr: request.reuseAddr ?? rules.defaults.reuseAddr[protocol],
    reusePort: request.reusePort ?? false,
    // a specific IPv6 address (not ::, not v4-mapped) turns IPV6_V6ONLY on by itself
    ipv6Only: family === 'IPv6' && !mapped && (request.ipv6Only === true || canonical !== '::'),
    listen: protocol === 'tcp' && request.listen !== false,
    uid: facts.uid,
    hostDefaulted: request.host === undefined,
    ...(service === undefined ? {} : { service }),
  };
  rules.check(resolved);
  return resolved;
}

/** The port and protocol of a request, checked: all that the kernel's first question needs. */
export function resolveTarget(request: BindRequest): { port: number; service: string | undefined; protocol: Protocol } {
  if (typeof request !== 'object' || request === null) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'the request must be an object like { port: 3000 }');
  }
  const protocol = request.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  const { port, service } = parsePortOrService(request.port, protocol);
  return { port, service, protocol };
}

/** Parses and checks a request's host: an IP address, no zone; what bind() would refuse with EINVAL. */
export function parseHost(host: string): { family: 'IPv4' | 'IPv6'; canonical: string } | { error: string } {
  const ipv4 = parseIPv4(host);
  if (ipv4 !== null) return { family: 'IPv4', canonical: formatIPv4(ipv4) };
  const ipv6 = parseIPv6(host);
  if (ipv6 !== null) return { family: 'IPv6', canonical: formatIPv6(ipv6) };
  const quoted = JSON.stringify(host);
  if (/^\[.*\]$/.test(host)) return { error: `${quoted} is an address in brackets, as URLs write it; give it without them (${host.slice(1, -1)})` };
  if (host.includes('%') && parseIPv6(host.slice(0, host.indexOf('%'))) !== null) {
    return { error: `${quoted} is a scoped IPv6 address: binding one needs its interface, which portclash does not take yet` };
  }
  if (/^[\dx.]+$/i.test(host)) return { error: `${quoted} is not an IPv4 address, not even in inet_aton's short forms (127.1, 0x7f.0.0.1)` };
  return { error: `${quoted} is not an IPv4 or IPv6 address` };
}

/** The address itself, or inet_aton's reading of a short IPv4 form (`127.1` → 127.0.0.1), as getaddrinfo gives it before any DNS. */
function numericAddress(host: string): string | null {
  const parsed = parseHost(host);
  if (!('error' in parsed)) return parsed.canonical;
  return parseInetAton(host);
}

// A host name as RFC 1123 allows: dot-separated labels of letters, digits and inner hyphens.
const HOST_NAME = /^(?=.{1,253}$)[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?(?:\.[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?)*\.?$/i;

/**
 * The request with a host name (`localhost`) replaced by its address (see addressOf); `addresses`
 * keeps each host's lookup for the other requests of a batch.
 */
export async function withHostAddress(request: BindRequest, addresses = new Map<string, Promise<string>>()): Promise<BindRequest> {
  if (typeof request !== 'object' || request === null || typeof request.host !== 'string') return request;
  let address = addresses.get(request.host);
  if (address === undefined) {
    address = addressOf(request.host);
    addresses.set(request.host, address);
  }
  return { ...request, host: await address };
}

/**
 * The address Node's listen(port, host) would bind for `host`: the first that dns.lookup gives,
 * in the resolver's order. An IP address is its own; anything that is not a host name is left
 * for resolveRequest to refuse, so that a typo never becomes a DNS query.
 */
async function addressOf(host: string): Promise<string> {
  const numeric = numericAddress(host);
  if (numeric !== null) return numeric;
  if (!isHostName(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (error) {
    throw unresolved(host, error);
  }
}

/**
 * Every address Node's connect(port, host) may try for `host`: all that dns.lookup gives (Node 20
 * tries each in turn, autoSelectFamily being on by default). An IP address is its own only address;
 * anything that is neither is ERR_INVALID_HOST, never a DNS query.
 */
export async function connectAddressesOf(host: string): Promise<string[]> {
  const numeric = numericAddress(host);
  if (numeric !== null) return [numeric];
  if (!isHostName(host)) {
    const parsed = parseHost(host);
    const why = 'error' in parsed ? parsed.error : `${JSON.stringify(host)} is not an address`;
    throw new PortclashError('ERR_INVALID_HOST', `${why}, nor a host name; give an IP address such as 127.0.0.1 or ::1, or a name such as localhost`);
  }
  try {
    const found = await lookup(host, { all: true });
    return [
      ...new Set(
        found.map(({ address }) => {
          const parsed = parseHost(address);
          return 'error' in parsed ? address : parsed.canonical;
        }),
      ),
    ];
  } catch (error) {
    throw unresolved(host, error);
  }
}

/** A name for the resolver: not an IP address, and shaped like a host name (no typo becomes a DNS query). */
function isHostName(host: string): boolean {
  return 'error' in parseHost(host) && HOST_NAME.test(host) && !/^[\d.]+$/.test(host);
}

function unresolved(host: string, error: unknown): PortclashError {
  const code = (error as NodeJS.ErrnoException).code ?? 'an error';
  return new PortclashError(
    'ERR_INVALID_HOST',
    `cannot resolve host name ${JSON.stringify(host)} (${code}); give an IP address such as 0.0.0.0, 127.0.0.1, :: or ::1`,
    { cause: error },
  );
}
