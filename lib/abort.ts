// AbortSignal handling for the pollers (waitForPort, watchSockets): stop at once, and leave no timer or listener behind.
import { setTimeout as sleep } from 'node:timers/promises';

import { PortclashError } from './errors.js';

/**
 * A poller's `interval` (milliseconds between looks, `fallback` when absent, at least `min`) and
 * `signal`, checked: ERR_INVALID_ARGUMENT naming what is wrong.
 */
export function checkPolling(
  options: { interval?: unknown; signal?: unknown },
  fallback: number,
  min: number,
): { interval: number; signal: AbortSignal | undefined } {
  const interval = options.interval ?? fallback;
  if (typeof interval !== 'number' || !Number.isFinite(interval) || interval < min) {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `interval must be a number of milliseconds, at least ${min} (each look reads the kernel's tables), got ${JSON.stringify(interval) ?? typeof interval}`,
    );
  }
  const { signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new PortclashError('ERR_INVALID_ARGUMENT', 'signal must be an AbortSignal');
  return { interval, signal };
}

/** Throws the poller's own abort error (ABORT_ERR) when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, abortError: () => Error): void {
  if (signal?.aborted === true) throw abortError();
}

/** The work, or the abort error as soon as `signal` fires: a table read in flight finishes on its own, unawaited. */
export async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, abortError: () => Error): Promise<T> {
  if (signal === undefined) return work;
  throwIfAborted(signal, abortError);
  let onAbort: (() => void) | undefined;
  const abort = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, abort]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    // the work may still reject after the abort won: nobody awaits it then
    work.catch(() => undefined);
  }
}

/** Waits `ms`, or throws the abort error as soon as `signal` fires; the timer is cleared either way. */
export async function abortableSleep(ms: number, signal: AbortSignal | undefined, abortError: () => Error): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
  } catch (error) {
    throw error instanceof Error && error.name === 'AbortError' ? abortError() : error;
  }
}
