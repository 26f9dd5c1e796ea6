// Port numbers from users: validated once, here, for the CLI and the library alike.
import { PortclashError } from './errors.js';

export const MAX_PORT = 65535;

/** A port as a number 0–65535, from a number or from decimal text ("8080"). */
export function parsePort(input: unknown, what = 'port'): number {
  const port = typeof input === 'number' ? input : typeof input === 'string' && /^[0-9]{1,5}$/.test(input) ? Number(input) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
    throw new PortclashError('ERR_INVALID_PORT', `${what} must be an integer from 0 to ${MAX_PORT}, got ${JSON.stringify(input) ?? String(input)}`);
  }
  return port;
}
