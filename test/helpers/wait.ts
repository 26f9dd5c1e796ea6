// Waiting on a condition the kernel reaches on its own (a TIME_WAIT appearing), with a deadline.
import { setTimeout as delay } from 'node:timers/promises';

export async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(Math.min(2 ** attempt, 50));
  }
}
