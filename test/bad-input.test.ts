// Bad input everywhere: each API argument and CLI flag tried with wrong types, out-of-range and odd values gets a PortclashError with a stable code (docs/bad-input.md).
import { describe, expect, it } from 'vitest';

import * as portclash from '../lib/index.js';
import { apiCases, CLI_CASES } from './helpers/bad-input-cases.mjs';
import { runCli } from './helpers/cli.js';

const { PortclashError } = portclash;
const API = apiCases(portclash);

describe.runIf(process.platform === 'linux')('bad input', () => {
  it.each(API)('%s rejects with a PortclashError, never a TypeError', async (_name, call, code) => {
    const error = await Promise.resolve()
      .then(call)
      .then(
        () => null,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(PortclashError);
    expect(error).toMatchObject({ code });
  });

  it('the CLI answers each with its usage exit status and the code, on one line', async () => {
    for (const [args, status, code] of CLI_CASES) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(status);
      expect(result.stderr, args.join(' ')).toMatch(new RegExp(`^portclash: ${code}: [^\\n]+\\n$`));
      expect(result.stderr, args.join(' ')).not.toMatch(/internal error| {4}at /);
    }
  });
});
