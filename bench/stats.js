// Timing helpers for the benchmarks: warm up, repeat, report the median.
import { performance } from 'node:perf_hooks';

/** @typedef {{ runs?: number, warmup?: number }} Repeats */
/**
 * One line of a table: the case, its median in ms, and a note such as the answer it gave.
 * @typedef {[name: string, ms: number, note?: string]} Row
 */

/**
 * Runs fn `warmup` times unmeasured, then `runs` times; returns the median in milliseconds.
 * @param {() => unknown} fn
 * @param {Repeats} [repeats]
 */
export function medianMs(fn, { runs = 15, warmup = 3 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** @param {number} ms */
export function formatMs(ms) {
  return ms < 10 ? ms.toFixed(2) : ms.toFixed(1);
}

/**
 * Prints rows of [name, ms, note] with each time's ratio to the baseline row's.
 * @param {string} title
 * @param {Row[]} rows
 * @param {string} baselineName
 */
export function printTable(title, rows, baselineName) {
  const baseline = rows.find((row) => row[0] === baselineName)?.[1];
  const width = Math.max(...rows.map((row) => row[0].length));
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(width)}  ${'median ms'.padStart(10)}  ${`× ${baselineName}`.padStart(10)}`);
  for (const [name, ms, note = ''] of rows) {
    const ratio = baseline ? (ms / baseline).toFixed(2) : '';
    console.log(`${name.padEnd(width)}  ${formatMs(ms).padStart(10)}  ${ratio.padStart(10)}  ${note}`);
  }
}

/**
 * medianMs for a function that returns a promise.
 * @param {() => Promise<unknown>} fn
 * @param {Repeats} [repeats]
 */
export async function medianMsAsync(fn, { runs = 15, warmup = 3 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}
