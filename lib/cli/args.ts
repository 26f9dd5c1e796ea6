// Argument parsing for every command: node:util parseArgs, with its errors turned into ERR_USAGE.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { PortclashError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

export function parseCommandArgs<O extends Options>(args: string[], options: O, allowPositionals = false): Parsed<O> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    // Node's messages run on with advice about '--'; the first sentence is the useful part.
    const message = (error as Error).message.split(/\n|(?<=\.) /)[0] ?? String(error);
    throw new PortclashError('ERR_USAGE', message, { cause: error });
  }
}

/** `3000`, `http`, `3000/tcp`, `5353/udp`: the port or service, and the protocol when one is named; null for anything else. */
export function splitPortProtocol(input: string): { port: string; protocol: 'tcp' | 'udp' | undefined } | null {
  const match = /^([^/]*)(?:\/(tcp|udp))?$/i.exec(input);
  return match === null ? null : { port: match[1]!, protocol: match[2]?.toLowerCase() as 'tcp' | 'udp' | undefined };
}
