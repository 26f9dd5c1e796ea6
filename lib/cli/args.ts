// Argument parsing for every command: node:util parseArgs, with its errors turned into ERR_USAGE.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { PortclashError } from '../errors.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

export const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;

/** --netns: the commands that read a network namespace's tables can read another's (Linux). */
export const NETNS_OPTION = { netns: { type: 'string' } } as const satisfies Options;

/** The library's `{ netns }` for a --netns value: nothing when it was not given. */
export function netnsOf(values: { netns?: string | undefined }): { netns?: string } {
  return values.netns === undefined ? {} : { netns: values.netns };
}

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

const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** `500ms`, `30s`, `2m`, `1.5s`; a plain number is seconds. Milliseconds, or ERR_USAGE. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (match === null) {
    throw new PortclashError('ERR_USAGE', `${option} must be a duration like 500ms, 30s or 2m (a plain number is seconds), got ${JSON.stringify(text)}`);
  }
  return Math.round(Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS]);
}
