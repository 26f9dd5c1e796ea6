// How long the npm packages people reach for, and ss, take to answer "is port P in use?".
import { spawnSync } from 'node:child_process';

import { detect } from 'detect-port';
import getPort, { clearLockedPorts } from 'get-port';
import tcpPortUsed from 'tcp-port-used';

import { medianMs, medianMsAsync } from './stats.js';

/** @import { Row } from './stats.js' */

const describeAnswer = (/** @type {boolean | undefined} */ inUse) => (inUse ? 'said in use' : 'said free');

/**
 * Times one complete "is `port` in use?" answer from each peer, in-process for the npm packages and
 * as a spawned process for ss. Returns printTable rows: [name, median ms, the answer it gave].
 * Names say P for the port asked about.
 * @param {number} port
 * @param {{ runs?: number }} [options]
 * @returns {Promise<Row[]>}
 */
export async function measurePeers(port, { runs = 15 } = {}) {
  /** @type {Row[]} */
  const rows = [];

  // Each row keeps the answer of its last run, so that a fast wrong answer shows as wrong.
  /**
   * @param {string} name
   * @param {() => Promise<boolean>} answer
   */
  const measureAsync = async (name, answer) => {
    /** @type {boolean | undefined} */
    let inUse;
    const ms = await medianMsAsync(
      async () => {
        inUse = await answer();
      },
      { runs },
    );
    rows.push([name, ms, describeAnswer(inUse)]);
  };
  /**
   * @param {string} name
   * @param {string[]} args
   */
  const measureSpawn = (name, args) => {
    /** @type {boolean | undefined} */
    let inUse;
    const ms = medianMs(
      () => {
        const result = spawnSync('ss', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 30 });
        if (result.status !== 0)
          throw new Error(`ss ${args.join(' ')} exited ${result.status ?? result.signal}${result.error ? `: ${result.error.message}` : ''}`);
        inUse = result.stdout.trim() !== '';
      },
      { runs },
    );
    rows.push([name, ms, describeAnswer(inUse)]);
  };

  // get-port remembers every port it hands out for 15-30 s and answers some other port when asked
  // for it again, so without clearing, every run after the first would say "in use" for a free port.
  await measureAsync('get-port({ port: P }) !== P', async () => {
    clearLockedPorts();
    return (await getPort({ port })) !== port;
  });
  // detect-port listens on P on its default host, 0.0.0.0, 127.0.0.1, localhost and the first IPv4
  // address; when P is taken it goes on to try P+1 .. P+10, so "in use" costs it up to 11 rounds.
  await measureAsync('detect-port detect(P) !== P', async () => (await detect(port)) !== port);
  // tcp-port-used connects to 127.0.0.1:P; it sees only listeners that accept on that address.
  await measureAsync("tcp-port-used check(P, '127.0.0.1')", () => tcpPortUsed.check(port, '127.0.0.1'));
  measureSpawn("ss -ltnH 'sport = :P' (process)", ['-ltnH', `sport = :${port}`]);
  measureSpawn("ss -tanH 'sport = :P' (process)", ['-tanH', `sport = :${port}`]);
  return rows;
}
