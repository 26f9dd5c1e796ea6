// The command line as a process: its start-up against a bare `node -e 0`, and its JSON against ss.
// `node bench/cli.js [scale]` runs these rows alone (as root in a network namespace of its own, as
// `npm run bench` does); run.js calls the same functions in the full run.
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { listSocketsSync } from '../dist/index.js';
import { measureFloor } from './floor.js';
import { startLoad } from './load.js';
import { enterOwnNamespace } from './namespace.js';
import { printTable } from './stats.js';

/** @import { Row } from './stats.js' */

const cli = fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url));
const self = fileURLToPath(import.meta.url);

/**
 * Medians of several commands measured in turns (one run of each, then the next round), so that
 * a burst of load on a shared machine falls on all of them rather than on one.
 * @param {[name: string, command: string, args: string[]][]} cases
 * @param {{ runs?: number, warmup?: number }} [repeats]
 * @returns {Row[]}
 */
export function interleavedMedians(cases, { runs = 21, warmup = 2 } = {}) {
  /** @type {number[][]} */
  const times = cases.map(() => []);
  for (let round = 0; round < warmup + runs; round++) {
    cases.forEach(([name, command, args], index) => {
      const start = performance.now();
      const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
      const ms = performance.now() - start;
      // check and who answer 1 for a port in use; anything else is a failure to measure
      if (result.status !== 0 && result.status !== 1) throw new Error(`${name} exited ${result.status}: ${result.stderr.toString()}`);
      if (round >= warmup) times[index].push(ms);
    });
  }
  return cases.map(([name], index) => {
    const sorted = times[index].sort((a, b) => a - b);
    return [name, sorted[Math.floor(sorted.length / 2)]];
  });
}

/** `portclash check/who/info/list --listening/--help` against `node -e 0`, with the tables as they are (small). */
export function benchStartup() {
  const sockets = listSocketsSync().length;
  const port = '3000';
  const rows = interleavedMedians([
    ['node -e 0', process.execPath, ['-e', '0']],
    ['portclash --help', process.execPath, [cli, '--help']],
    [`portclash check ${port}`, process.execPath, [cli, 'check', port]],
    [`portclash who ${port}`, process.execPath, [cli, 'who', port]],
    [`portclash info ${port}`, process.execPath, [cli, 'info', port]],
    ['portclash list --listening', process.execPath, [cli, 'list', '--listening']],
    ['ss -ltn', 'ss', ['-ltn']],
  ]);
  // what check's dumps cost the kernel alone, in-process: a free port needs every state, bound-only
  // sockets included, and those alone cost as much (the kernel walks its connection hash after them)
  rows.push(
    [`kernel floor: listeners on ${port} (C, in-process)`, measureFloor('port-listen', { port: Number(port) }).medianMs],
    [`kernel floor: every state on ${port}, bound-only included (C, in-process)`, measureFloor('port-all', { port: Number(port) }).medianMs],
    [`kernel floor: bound-only sockets on ${port} alone (C, in-process)`, measureFloor('port-bound', { port: Number(port) }).medianMs],
  );
  printTable(`start-up: the CLI as a process against a bare Node (${sockets} sockets in the tables)`, rows, 'node -e 0');
}

/**
 * `list --json` against `ss -tuan`, and `ss -tuane`, whose uid, inode and cgroup are the closest
 * to a record's content: the same sockets, each tool's whole output read from its pipe.
 */
export function benchJson() {
  const sockets = listSocketsSync().length;
  const rows = interleavedMedians(
    [
      ['node -e 0', process.execPath, ['-e', '0']],
      ['ss -tuan', 'ss', ['-tuan']],
      ['ss -tuane', 'ss', ['-tuane']],
      ['portclash list --json', process.execPath, [cli, 'list', '--json']],
    ],
    { runs: 9, warmup: 1 },
  );
  // the kernel's part of any reader's time: what list --json spends above it and Node's start is its own
  rows.push([
    'kernel floor: raw dump of every TCP and UDP socket (C, in-process)',
    measureFloor('full-tcp-bound').medianMs + measureFloor('full-udp').medianMs,
  ]);
  printTable(`every socket as text (${sockets} sockets)`, rows, 'ss -tuan');
}

/** `list --owners --json` against `ss -tuanp`: every socket with the processes holding it. */
export function benchJsonWithOwners() {
  const sockets = listSocketsSync().length;
  const rows = interleavedMedians(
    [
      ['ss -tuanp', 'ss', ['-tuanp']],
      ['portclash list --owners --json', process.execPath, [cli, 'list', '--owners', '--json']],
    ],
    { runs: 7, warmup: 1 },
  );
  printTable(`every socket with its owners as text (${sockets} sockets)`, rows, 'ss -tuanp');
}

if (process.argv[1] === self) {
  enterOwnNamespace(self);
  benchStartup();
  for (const scale of process.argv.slice(2).map(Number)) {
    const load = await startLoad(scale, { udp: Math.round(scale / 20) });
    try {
      benchJson();
      if (scale <= 50_000) benchJsonWithOwners();
    } finally {
      await load.stop();
    }
  }
}
