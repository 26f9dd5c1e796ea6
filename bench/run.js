// `npm run bench`: every measurement in one run, medians and ratios, on this machine.
// As root it re-runs itself in a network namespace of its own, so that the load it makes is
// the only thing in the tables and no other socket on the machine is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { findOwners, listSockets, listSocketsSync } from '../dist/index.js';
import { benchJson, benchStartup } from './cli.js';
import { benchCrossing } from './crossing.js';
import { measureFloor } from './floor.js';
import { listSocketsJs } from './js-parser.js';
import { startLoad } from './load.js';
import { enterOwnNamespace, insideOwnNamespace, runApart } from './namespace.js';
import { benchDupOwners, benchListingWithOwners, benchOwners } from './owners.js';
import { measurePeers } from './peers.js';
import { benchPredict } from './predict.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

const self = fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url));
const rssChild = fileURLToPath(new URL('./rss-child.js', import.meta.url));
const PROC_TABLES = ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6'];

enterOwnNamespace(self);

// TCP sockets per scale; each scale adds a UDP share of one in twenty.
const scales = (process.env.PORTCLASH_BENCH_SCALES ?? '1000,30000,100000').split(',').map(Number);
console.log(
  `portclash bench — Node ${process.version}, ${process.platform}-${process.arch}, kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`,
);
console.log(insideOwnNamespace() ? 'in a fresh network namespace' : 'in the current network namespace (not root)');

benchCrossing();
// before any load: the tables of a fresh namespace are as small as a developer's machine's
benchStartup();

/**
 * @param {string} command
 * @param {string[]} args
 */
const spawnMs = (command, args) =>
  medianMs(
    () => {
      const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });
      if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`);
    },
    { runs: 11 },
  );

for (const scale of scales) {
  const load = await startLoad(scale, { udp: Math.round(scale / 20) });
  try {
    await benchScale(scale, load);
  } finally {
    await load.stop();
  }
}

// the owner scan's hardest layout: no cgroup to go by, the holder's listener deep in its fds; as root
// in a namespace of its own, away from the sockets the loads above leave closing
if (process.env.PORTCLASH_BENCH_DEEP !== '0') runApart(fileURLToPath(new URL('./deep-owner.js', import.meta.url)));
// the one-port query where the connections come from many source addresses, each in a bucket of the bind hash
if (process.env.PORTCLASH_BENCH_SOURCES !== '0') runApart(fileURLToPath(new URL('./many-sources.js', import.meta.url)));

/**
 * @param {number} scale
 * @param {Awaited<ReturnType<typeof startLoad>>} load
 */
async function benchScale(scale, load) {
  const counted = listSocketsSync().length;
  const fromProc = listSocketsSync({}, { source: 'proc' });
  const jsCount = listSocketsJs().length;
  if (jsCount !== fromProc.length) throw new Error(`the JS parser saw ${jsCount} sockets, portclash's /proc reader ${fromProc.length}`);

  const floorTcp = measureFloor('full-tcp');
  const floorTcpBound = measureFloor('full-tcp-bound');
  const floorUdp = measureFloor('full-udp');
  const floorAll = floorTcpBound.medianMs + floorUdp.medianMs;
  const where = load.cgroups > 0 ? `; ${load.cgroups} load process${load.cgroups === 1 ? '' : 'es'}, each in a cgroup of its own` : '';
  const title = `~${scale} TCP + ${load.heldUdp} UDP sockets (${counted} in the tables${where}): full enumeration`;
  printTable(
    title,
    [
      ['kernel floor: raw sock_diag dump, TCP (C)', floorTcp.medianMs],
      ['kernel floor: raw dump, TCP + bound + UDP (C)', floorAll, 'the question listSockets() asks'],
      ['listSockets() in-process, sock_diag', await medianMsAsync(() => listSockets())],
      ['listSocketsSync() in-process, sock_diag', medianMs(() => listSocketsSync())],
      ['listSockets() in-process, /proc', await medianMsAsync(() => listSockets({}, { source: 'proc' }))],
      ['pure-JS /proc parser in-process', medianMs(() => listSocketsJs())],
      ['read() of /proc/net/* in-process', medianMs(() => PROC_TABLES.forEach((path) => readFileSync(path)))],
      ['cat /proc/net/* (process)', spawnMs('cat', PROC_TABLES)],
      ['portclash list --json (process)', spawnMs(process.execPath, [cli, 'list', '--json'])],
      ['ss -tuan (process)', spawnMs('ss', ['-tuan'])],
    ],
    'kernel floor: raw dump, TCP + bound + UDP (C)',
  );
  benchJson();
  /** @type {unknown} */
  const rssReport = JSON.parse(execFileSync(process.execPath, [rssChild], { encoding: 'utf8' }));
  const rss = /** @type {{ sockets: number, baselineKb: number, growthKb: number }} */ (rssReport);
  console.log(
    `peak RSS growth of one listSockets() at ${rss.sockets} sockets: ${(rss.growthKb / 1024).toFixed(1)} MB (baseline ${(rss.baselineKb / 1024).toFixed(1)} MB)`,
  );

  // A port held by one of the load's listeners, and the way each tool asks about it.
  const port = listSocketsSync({ protocol: 'tcp', listening: true })[Math.floor(scale / 8)]?.localPort;
  if (port === undefined) throw new Error('the load holds no listener');
  const floorPortAll = measureFloor('port-all', { port });
  const floorPortListen = measureFloor('port-listen', { port });
  // ss's question: every state but bound-only, whose walk of the bind hash it does not ask for
  const floorPortConnected = measureFloor('port-connected', { port });
  printTable(
    `~${scale} TCP sockets: one port P held by a listener`,
    [
      ['kernel floor: raw dump of LISTEN on P (C)', floorPortListen.medianMs],
      ['kernel floor: raw dump of all states on P (C)', floorPortAll.medianMs],
      ['kernel floor: the same without bound-only sockets (C), as ss asks', floorPortConnected.medianMs],
      ['listSockets({ port: P, listening: true })', await medianMsAsync(() => listSockets({ port, listening: true }))],
      ['listSockets({ port: P })', await medianMsAsync(() => listSockets({ port }))],
      ['portclash list --listening --port P (process)', spawnMs(process.execPath, [cli, 'list', '--listening', '--json', '--port', String(port)])],
      ...(await measurePeers(port)),
    ],
    'kernel floor: raw dump of all states on P (C)',
  );

  // Owners at ~30k sockets held by a few processes: the scan reads every fd of every process.
  if (scale >= 10_000 && scale <= 50_000) {
    const [listener] = await findOwners(await listSockets({ port, protocol: 'tcp', listening: true }), { scan: 'all' });
    const holder = listener?.owner?.pid;
    if (holder === undefined) throw new Error(`no owner found for the load's port ${port}`);
    // Listeners alone on their port, opened first and halfway by one process: the owner scan finds
    // the first in its first round, the other only deep in that process's fds. Chosen by fd, so
    // that every run asks the same questions.
    const listeners = await findOwners(await listSockets({ protocol: 'tcp', listening: true }), { scan: 'all' });
    /** @type {Map<number, number>} */
    const perPort = new Map();
    for (const socket of listeners) perPort.set(socket.localPort, (perPort.get(socket.localPort) ?? 0) + 1);
    const alone = listeners
      .flatMap((socket) =>
        perPort.get(socket.localPort) === 1 && socket.owner?.pid === holder && socket.owner.fd !== null
          ? [{ localPort: socket.localPort, fd: socket.owner.fd }]
          : [],
      )
      .sort((a, b) => a.fd - b.fd);
    if (alone.length === 0) throw new Error(`load process ${holder} holds no listener alone on its port`);
    const [first, deep] = [alone[0], alone[Math.floor(alone.length / 2)]];
    await benchOwners(first.localPort, deep.localPort, holder);
    await benchListingWithOwners();
    await benchDupOwners();
    await benchPredict(deep.localPort, first.localPort);
  }
}
