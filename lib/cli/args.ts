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
