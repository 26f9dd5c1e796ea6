// Runs the built `portclash` executable (dist/, compiled by `npm test`'s pretest) as users do.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Netns } from './holders.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/launcher.cjs', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `env` is added to this process's environment (PORTCLASH_BACKEND=probing, say). */
export function runCli(args: string[], timeoutMs = 15_000, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    // typed as the Error it is: @types/node's ExecFileException is an Omit<> of one, which lint cannot tell is an Error
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, ...env } },
      (error: (Error & { code?: unknown }) | null, stdout, stderr) => {
        if (error !== null && typeof error.code !== 'number') {
          reject(error);
          return;
        }
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
      },
    );
  });
}

/** A `check --json` prediction, and how many pidfd_getfd calls (duplicates of others' sockets) it made. */
export interface TracedCheck {
  verdict: string;
  reason: string;
  assumptions: string[];
  getfdCalls: number;
}

/** `portclash check … --json` inside a namespace, under strace, which counts the duplicates it makes. */
export async function checkTraced(netns: Netns, args: readonly string[]): Promise<TracedCheck> {
  const trace = join(tmpdir(), `portclash-trace-${process.pid}-${Date.now()}`);
  try {
    const result = await netns.run('strace', ['-f', '-qq', '-e', 'trace=pidfd_getfd', '-o', trace, process.execPath, CLI, 'check', ...args, '--json'], {
      timeoutMs: 20_000,
    });
    if (result.stdout.trim() === '') throw new Error(`check printed nothing: ${result.stderr}`);
    const prediction = JSON.parse(result.stdout) as Omit<TracedCheck, 'getfdCalls'>;
    const calls = readFileSync(trace, 'utf8')
      .split('\n')
      .filter((line) => line.includes('pidfd_getfd(')).length;
    return { ...prediction, getfdCalls: calls };
  } finally {
    rmSync(trace, { force: true });
  }
}
