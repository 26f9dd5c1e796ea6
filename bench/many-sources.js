// One port, all states, at ~100,000 TCP sockets whose connections come from thousands of source addresses: listSockets({ port }) against ss and the kernel floor.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { listSockets, listSocketsSync } from '../dist/index.js';
import { measureFloor } from './floor.js';
import { startLoad } from './load.js';
import { enterOwnNamespace } from './namespace.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

/** @import { Row } from './stats.js' */

/**
 * The layout that made the all-states query for one port slower than `ss` (issue 17): each client
 * connects from an address of its own, so the kernel's bind hash, which `listSockets({ port })` walks
 * for bound-only sockets and `ss` does not, holds a bucket for nearly every connection.
 * @param {number} [scale] TCP sockets
 */
export async function benchManySources(scale = 100_000) {
  const load = await startLoad(scale, { manySources: true });
  try {
    const sockets = listSocketsSync({ protocol: 'tcp' });
    const sources = new Set(sockets.filter((socket) => socket.state === 'ESTABLISHED').map((socket) => socket.localAddress)).size;
    const port = listSocketsSync({ protocol: 'tcp', listening: true })[Math.floor(scale / 8)]?.localPort;
    if (port === undefined) throw new Error('the load holds no listener');
    /** @type {Row[]} */
    const rows = [
      ['kernel floor: raw dump of all states on P (C), one family after the other', measureFloor('port-all', { port }).medianMs],
      ['kernel floor: the same without bound-only sockets (C), as ss asks', measureFloor('port-connected', { port }).medianMs],
      ['listSockets({ port: P })', await medianMsAsync(() => listSockets({ port }))],
      [
        "ss -tanH 'sport = :P' (process)",
        medianMs(() => spawnSync('ss', ['-tanH', `sport = :${port}`], { stdio: ['ignore', 'pipe', 'inherit'] }), { runs: 11 }),
      ],
    ];
    printTable(`~${scale} TCP sockets, connections from ${sources} source addresses: one port P, all states`, rows, "ss -tanH 'sport = :P' (process)");
  } finally {
    await load.stop();
  }
}

// run alone (bench/run.js does so): node bench/many-sources.js [scale], as root in a network namespace of its own
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  enterOwnNamespace(fileURLToPath(import.meta.url));
  await benchManySources(process.argv[2] === undefined ? undefined : Number(process.argv[2]));
}
