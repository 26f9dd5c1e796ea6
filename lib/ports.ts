// Port numbers from users: validated once, here, for the CLI and the library alike.
import { PortclashError } from './errors.js';

export const MAX_PORT = 65535;

/** A port as a number 0–65535, from a number or from decimal text ("8080"). */
export function parsePort(input: unknown, what = 'port'): number {
  const port =
    typeof input === 'number' ? input : typeof input === 'string' && /^[0-9]{1,5}$/.test(input) ? Number(input) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
    throw new PortclashError(
      'ERR_INVALID_PORT',
      `${what} must be an integer from 0 to ${MAX_PORT}, got ${JSON.stringify(input) ?? String(input)}`,
    );
  }
  return port;
}

/** `3000`, `3000/tcp` or `3000/udp`: a port, and a protocol when the user named one. */
export function parsePortTarget(input: string): { port: number; protocol?: 'tcp' | 'udp' } {
  const match = /^([^/]*)(?:\/(tcp|udp))?$/i.exec(input);
  if (match === null) {
    throw new PortclashError('ERR_INVALID_PORT', `expected a port like 3000, 3000/tcp or 3000/udp, got ${JSON.stringify(input)}`);
  }
  const port = parsePort(match[1], 'port');
  const protocol = match[2]?.toLowerCase();
  return protocol === 'tcp' || protocol === 'udp' ? { port, protocol } : { port };
}
