// Who holds port P: portclash's owner scan against ss -p, lsof, fuser and the npm packages people use.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import findProcess from 'find-process';
import { portToPid } from 'pid-port';

import { findOwners, listSockets } from '../dist/index.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

/** @import { OwnedSocket } from '../dist/index.js' */
/** @import { Row } from './stats.js' */

const cli = fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url));

/**
 * Times each way of naming the process that listens on `port`; `holder` is the right answer.
 * `port` is held by the first listener its process opened, as a server's port usually is;
 * `deepPort` by a listener halfway through that process's fds, the early-stop scan's worst case.
 * @param {number} port
 * @param {number} deepPort
 * @param {number} holder
 * @param {{ runs?: number }} [options]
 */
export async function benchOwners(port, deepPort, holder, { runs = 11 } = {}) {
  // a tool that finds nobody may say so with an empty list or with undefined (pid-port)
  /** @param {(number | string | undefined)[]} pids */
  const answer = (pids) => {
    const unique = [...new Set(pids.filter((pid) => pid !== undefined).map(Number))].sort((a, b) => a - b);
    return unique.length === 0 ? 'found nobody' : `found pid ${unique.join(',')}${unique.includes(holder) ? '' : ' (WRONG)'}`;
  };
  /** @type {Row[]} */
  const rows = [];
  /**
   * @param {string} name
   * @param {() => Promise<(number | string | undefined)[]>} ask
   */
  const timeAsync = async (name, ask, times = runs) => {
    let outcome = '';
    const ms = await medianMsAsync(
      async () => {
        // a tool that cannot find the holder may throw: that is its answer, and it is timed too
        outcome = await ask().then(answer, (/** @type {Error} */ error) => `failed: ${error.message.split('\n')[0]}`);
      },
      { runs: times },
    );
    rows.push([name, ms, outcome]);
  };
  /**
   * @param {string} name
   * @param {string} command
   * @param {string[]} args
   * @param {(stdout: string, stderr: string) => (number | string)[]} pidsOf
   */
  const timeProcess = (name, command, args, pidsOf, times = runs) => {
    /** @type {(number | string)[]} */
    let pids = [];
    const ms = medianMs(
      () => {
        const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 30 });
        pids = pidsOf(result.stdout, result.stderr);
      },
      { runs: times },
    );
    rows.push([name, ms, answer(pids)]);
  };

  // without the cgroup hint: as if sock_diag had not named the cgroup that made the socket
  /** @param {'first' | 'all'} scan */
  const ownersOf = async (scan, on = port, hint = true) => {
    const sockets = await listSockets({ port: on, protocol: 'tcp', listening: true });
    const owned = await findOwners(hint ? sockets : sockets.map(({ cgroupId, ...socket }) => socket), { scan });
    return owned.flatMap((socket) => socket.owners.map((owner) => owner.pid));
  };
  await timeAsync("findOwners(listSockets({ port: P, listening }), { scan: 'first' })", () => ownersOf('first'));
  await timeAsync("findOwners(listSockets({ port: P, listening }), { scan: 'all' })", () => ownersOf('all'));
  await timeAsync("the same, scan: 'first', for a listener D deep in the process's fds", () => ownersOf('first', deepPort));
  await timeAsync("scan: 'first' for P, without the cgroup hint", () => ownersOf('first', port, false));
  await timeAsync("scan: 'first' for D, without the cgroup hint", () => ownersOf('first', deepPort, false));
  timeProcess('portclash who P/tcp --json (process)', process.execPath, [cli, 'who', '--json', `${port}/tcp`], (stdout) => {
    /** @type {unknown} */
    const owned = JSON.parse(stdout);
    return /** @type {OwnedSocket[]} */ (owned).flatMap((socket) => socket.owners.map((owner) => owner.pid));
  });
  timeProcess("ss -ltnpH 'sport = :P' (process)", 'ss', ['-ltnpH', `sport = :${port}`], (stdout) =>
    [...stdout.matchAll(/pid=(\d+)/g)].map((match) => match[1]),
  );
  timeProcess(
    'lsof -nP -iTCP:P -sTCP:LISTEN (process)',
    'lsof',
    ['-nP', '-t', `-iTCP:${port}`, '-sTCP:LISTEN'],
    (stdout) => stdout.split('\n').filter(Boolean),
    3,
  );
  timeProcess('fuser -n tcp P (process)', 'fuser', ['-n', 'tcp', String(port)], (stdout) => stdout.split(/\s+/).filter(Boolean), 3);
  await timeAsync("find-process find('port', P)", async () => (await findProcess('port', port)).map((found) => found.pid), 5);
  await timeAsync('pid-port portToPid(P)', async () => [await portToPid(port)], 5);

  printTable(`who holds port P (the first listener of load process ${holder})`, rows, "findOwners(listSockets({ port: P, listening }), { scan: 'first' })");
}

/** The whole table with owners, against ss -tuanp. */
export async function benchListingWithOwners({ runs = 5 } = {}) {
  let count = 0;
  /** @type {Row[]} */
  const rows = [
    [
      'findOwners(listSockets()) in-process',
      await medianMsAsync(
        async () => {
          count = (await findOwners(await listSockets())).length;
        },
        { runs },
      ),
    ],
    [
      'portclash list --owners --json (process)',
      medianMs(() => spawnSync(process.execPath, [cli, 'list', '--owners', '--json'], { maxBuffer: 1 << 30 }), { runs }),
    ],
    ['ss -tuanp (process)', medianMs(() => spawnSync('ss', ['-tuanp'], { maxBuffer: 1 << 30 }), { runs })],
  ];
  printTable(`every socket with its owners (${count} sockets)`, rows, 'ss -tuanp (process)');
}

/**
 * One listener behind many fds (dup2, as a server that hands one socket to many places does): the
 * owner matching must stay linear in the fds found (issue 10, item 2), against ss -ltnp.
 */
export async function benchDupOwners({ counts = [10_000, 20_000, 40_000], runs = 5 } = {}) {
  const hostile = fileURLToPath(new URL('../test/helpers/hostile.py', import.meta.url));
  /** @type {Row[]} */
  const rows = [];
  for (const count of counts) {
    const child = spawn('python3', [hostile, 'dups', String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      /** @type {unknown[]} */
      const firstLine = await once(createInterface({ input: child.stdout }), 'line');
      /** @type {unknown} */
      const held = JSON.parse(/** @type {string} */ (firstLine[0]));
      const { port, inode } = /** @type {{ port: number, inode: number }} */ (held);
      const sockets = (await listSockets({ port, protocol: 'tcp' })).filter((socket) => socket.inode === inode);
      let owners = 0;
      rows.push([
        `findOwners, ${count} fds of one listener, scan: 'all'`,
        await medianMsAsync(
          async () => {
            owners = (await findOwners(sockets, { scan: 'all' }))[0].owners.length;
          },
          { runs, warmup: 1 },
        ),
        `${owners} owners`,
      ]);
      rows.push([
        `ss -ltnpH 'sport = :P', ${count} fds (process)`,
        medianMs(() => spawnSync('ss', ['-ltnpH', `sport = :${port}`], { maxBuffer: 1 << 30 }), { runs, warmup: 1 }),
      ]);
    } finally {
      child.stdin.end();
      await once(child, 'exit');
    }
  }
  printTable('one listener behind many fds', rows, `findOwners, ${counts[0]} fds of one listener, scan: 'all'`);
}
