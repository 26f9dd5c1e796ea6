// What the comparisons (side-by-side.js, kill-side-by-side.js) share: a tool run in a child, a bounded step, the tables.
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

/** How long one step of making or tearing down a situation may take: loopback work, so this only bounds a surprise. */
export const STEP_MS = 10_000;

/**
 * The promise, or a rejection naming `what` when it takes longer than STEP_MS.
 * @template T
 * @param {Promise<T>} promise
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function bounded(promise, what) {
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  /** @type {Promise<never>} */
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${STEP_MS} ms`)), STEP_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One answer when every run gave it, else `flips: a / b`.
 * @param {string[]} values
 */
export function same(values) {
  const distinct = [...new Set(values)];
  return distinct.length === 1 ? distinct[0] : `flips: ${distinct.join(' / ')}`;
}

/**
 * A Markdown table: the first row is the header.
 * @param {string[][]} rows
 */
export function markdownTable(rows) {
  const [head, ...body] = rows;
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}
