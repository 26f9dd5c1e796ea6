// One child process run to its end for the comparisons: its output, how it ended, and SIGKILL if it outlives a bound.
import { spawn } from 'node:child_process';
import { once } from 'node:events';

/** @typedef {{ code: number | null, signal: string | null, stdout: string, stderr: string, ms: number, timedOut: boolean }} RunResult */

/**
 * Runs `command` with `args`, collecting stdout and stderr; killed (through its handle, so by its own
 * pid) when it runs longer than `timeoutMs`. A non-zero exit is a result, not a rejection.
 * @param {string} command
 * @param {string[]} args
 * @param {number} timeoutMs
 * @returns {Promise<RunResult>}
 */
export async function runChild(command, args, timeoutMs) {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  let timedOut = false;
  const killer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    await once(child, 'close');
  } finally {
    clearTimeout(killer);
  }
  return { code: child.exitCode, signal: child.signalCode, stdout, stderr, ms: Math.round(performance.now() - started), timedOut };
}
