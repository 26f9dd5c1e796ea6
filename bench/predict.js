// predictBind against what people run today to ask "is P taken": ss, and the kernel floor.
import { spawnSync } from 'node:child_process';

import { listSocketsSync, predictBind } from '../dist/index.js';
import { measureFloor } from './floor.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

/** @import { BindRequest, PredictOptions } from '../dist/index.js' */
/** @import { Row } from './stats.js' */

/**
 * `deepPort` is held by a listener opened late by a process with thousands of listeners (the
 * owner scan has to go far into its fds); `firstPort` by the first listener a load process
 * opened, as a server's port usually is. Each is the only listener on its port.
 * @param {number} deepPort
 * @param {number} firstPort
 */
export async function benchPredict(deepPort, firstPort) {
  const used = new Set(listSocketsSync().map((socket) => socket.localPort));
  let freePort = 20000;
  while (used.has(freePort)) freePort++;

  /**
   * @param {BindRequest} request
   * @param {PredictOptions} [options]
   */
  const verdict = async (request, options) => (await predictBind(request, options)).verdict;
  /** @type {Row[]} */
  const rows = [];
  for (const [label, port] of [
    ['P deep in a process with 2,500 listeners', deepPort],
    ['P the first listener of its process', firstPort],
  ]) {
    let answer = '';
    rows.push([`predictBind({ port: P }), ${label}`, await medianMsAsync(async () => (answer = await verdict({ port }))), answer]);
    rows.push([
      `predictBind({ port: P }, { owners: false }), ${label}`,
      await medianMsAsync(async () => (answer = await verdict({ port }, { owners: false }))),
      answer,
    ]);
  }
  rows.push(["ss -tanH 'sport = :P' (process)", medianMs(() => spawnSync('ss', ['-tanH', `sport = :${deepPort}`]), { runs: 11 })]);
  let freeAnswer = '';
  rows.push(['predictBind({ port: F }), F free', await medianMsAsync(async () => (freeAnswer = await verdict({ port: freePort }))), freeAnswer]);
  rows.push(['kernel floor: raw dump of all states on F (C)', measureFloor('port-all', { port: freePort }).medianMs]);
  printTable('predictBind: will bind()+listen() on P succeed?', rows, "ss -tanH 'sport = :P' (process)");
}
