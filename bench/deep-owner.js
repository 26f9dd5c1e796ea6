// A listener deep in one process's fds, every process in one cgroup: predictBind and findOwners against ss, where the cgroup hint cannot help.
import { fork, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

import { findOwners, listSockets, predictBind } from '../dist/index.js';
import { stopAll } from './load.js';
import { enterOwnNamespace } from './namespace.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

/** @import { ChildProcess } from 'node:child_process' */
/** @import { Row } from './stats.js' */

const child = fileURLToPath(new URL('./load-child.js', import.meta.url));

/**
 * One process holding 6,000 listeners and two holding 1,500 listeners and 5,000 connections each
 * (about 30,000 sockets), forked straight from here so that all share this process's cgroup. P is
 * a listener of the first process, alone on its port: its first, the one in the middle of its fds,
 * and its last.
 */
export async function benchDeepOwner() {
  /** @type {ChildProcess[]} */
  const loads = [];
  try {
    for (const args of [
      ['6000', '0'],
      ['1500', '5000'],
      ['1500', '5000'],
    ]) {
      const load = fork(child, args, { stdio: 'ignore' });
      loads.push(load);
    }
    await Promise.all(loads.map((load) => once(load, 'message', { signal: AbortSignal.timeout(120_000) })));
    const holder = loads[0]?.pid;
    if (holder === undefined) throw new Error('the load process has no pid');
    const all = await listSockets({ protocol: 'tcp' });
    /** @type {Map<number, number>} */
    const perPort = new Map();
    for (const socket of all) perPort.set(socket.localPort, (perPort.get(socket.localPort) ?? 0) + 1);
    // its listeners in the order it opened them, which is the order of their fds
    const mine = (await listSockets({ pid: holder, protocol: 'tcp', listening: true })).sort((a, b) => a.inode - b.inode);
    const alone = mine.filter((socket) => perPort.get(socket.localPort) === 1);
    const cases = [
      ['first', alone[0]],
      ['in the middle', alone[Math.floor(alone.length / 2)]],
      ['last', alone.at(-1)],
    ];

    /** @type {Row[]} */
    const rows = [];
    for (const [label, socket] of cases) {
      if (socket === undefined || typeof label !== 'string' || typeof socket === 'string') throw new Error('the load holds no listener alone on its port');
      const port = socket.localPort;
      let verdict = '';
      rows.push([
        `predictBind({ port: P }), P ${label}`,
        await medianMsAsync(
          async () => {
            const prediction = await predictBind({ port });
            verdict = `${prediction.verdict}${prediction.conflicts[0] !== undefined && 'owner' in prediction.conflicts[0] && prediction.conflicts[0].owner?.pid === holder ? ', the pid' : ' (OWNER NOT NAMED)'}`;
          },
          { runs: 11 },
        ),
        verdict,
      ]);
      let named = '';
      rows.push([
        `findOwners(listSockets({ port: P, listening }), { scan: 'first' }), P ${label}`,
        await medianMsAsync(
          async () => {
            const [owned] = await findOwners(await listSockets({ port, protocol: 'tcp', listening: true }), { scan: 'first' });
            named = owned?.owner?.pid === holder ? 'the pid' : 'WRONG';
          },
          { runs: 11 },
        ),
        named,
      ]);
      if (label === 'in the middle') {
        rows.push([
          "ss -tanH 'sport = :P' (process)",
          medianMs(() => spawnSync('ss', ['-tanH', `sport = :${port}`], { stdio: ['ignore', 'pipe', 'inherit'] }), { runs: 11 }),
        ]);
        rows.push([
          "ss -tanpH 'sport = :P' (process, with the owner)",
          medianMs(() => spawnSync('ss', ['-tanpH', `sport = :${port}`], { stdio: ['ignore', 'pipe', 'inherit'] }), { runs: 11 }),
        ]);
      }
    }
    printTable(
      `A listener deep in the fds of a process with 6,000 listeners, every process in one cgroup (${all.length} TCP sockets)`,
      rows,
      "ss -tanH 'sport = :P' (process)",
    );
  } finally {
    await stopAll(loads);
  }
}

// run alone (bench/run.js does so): node bench/deep-owner.js, as root in a network namespace of its own
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  enterOwnNamespace(fileURLToPath(import.meta.url));
  await benchDeepOwner();
}
