// The list command's warnings about skipped input name where it was skipped, for /proc and sock_diag alike.
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type NativeBinding, type SockDiagQuery } from '../lib/binding.js';
import { runCli } from '../lib/cli/run.js';

describe.runIf(process.platform === 'linux')('portclash list, when some input was malformed', () => {
  afterEach(() => setBinding(null));

  it('names the sock_diag dump or the /proc file it skipped input in', async () => {
    const real = getBinding();
    // the real tables, with one malformed message reported for the first dump and line for /proc
    const binding: NativeBinding = {
      ...real,
      readSockDiag: async (queries: readonly SockDiagQuery[], onRows) => {
        const reading = await real.readSockDiag!(queries, onRows);
        return { ...reading, sources: reading.sources.map((source, index) => (index === 0 ? { ...source, malformed: 1 } : source)) };
      },
    };
    setBinding(binding);
    const stderr: string[] = [];
    const code = await runCli(['list', '--tcp', '--listening', '--json'], { stdout: () => {}, stderr: (text) => stderr.push(text) });
    expect(code).toBe(0);
    // TCP is one dump of both families
    expect(stderr).toEqual(['portclash: warning: skipped 1 malformed message(s) in the sock_diag dump of tcp IPv4 and IPv6\n']);

    const { readSockDiag, readSockDiagSync, ...procOnly } = real;
    expect([readSockDiag, readSockDiagSync].every((reader) => typeof reader === 'function')).toBe(true);
    setBinding({
      ...procOnly,
      readProcNet: async (sources, onRows) => {
        const reading = await real.readProcNet!(sources, onRows);
        return { ...reading, sources: reading.sources.map((source, index) => (index === 0 ? { ...source, malformed: 2 } : source)) };
      },
    });
    stderr.length = 0;
    expect(await runCli(['list', '--tcp', '--json'], { stdout: () => {}, stderr: (text) => stderr.push(text) })).toBe(0);
    expect(stderr).toEqual(['portclash: warning: skipped 2 malformed line(s) in /proc/net/tcp\n']);
  });
});
