// `npm run soak`: many rounds of listSockets() + findOwners() + predictBind() in one process; RSS, heap, fds and threads must stay flat.
// As root it re-runs itself in a network namespace of its own, so that the background it opens is
// the whole table and every round asks the same question of the kernel.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { findOwners, listSockets, predictBind } from '../dist/index.js';

const self = fileURLToPath(import.meta.url);

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10000' },
    // a sample every this many rounds; the table shows one line per `line` rounds
    every: { type: 'string', default: '100' },
    line: { type: 'string', default: '1000' },
    // default: the first half. V8 sizes its heap for the first few thousand rounds here (a +16 MB
    // step of its young generation near round 2,500, then a creep that ends by ~5,000: see
    // docs/benchmarks.md); only a leak still grows in a straight line after that.
    warmup: { type: 'string' },
    // the raw samples as JSON on stdout; the report goes to stderr then
    json: { type: 'boolean', default: false },
  },
});
const rounds = positive('rounds');
const every = positive('every');
const line = positive('line');
const warmup = options.warmup === undefined ? Math.floor(rounds / 2) : Number(options.warmup);
if (!Number.isSafeInteger(warmup) || warmup < 0 || warmup >= rounds) throw new Error(`--warmup must be an integer in [0, --rounds), got ${options.warmup}`);

// 0.1 MB per 1,000 rounds is 100 bytes a round: less than one leaked socket record (an object of a
// dozen fields is some 200 bytes in V8) or one leaked 1 KB read buffer every ten rounds; a leaked
// fd is not in our RSS, and the fd count catches it. A leak of anything per round, per socket or
// per owner lands well above it. After V8 has sized its heap, what is left is jitter of a megabyte or so
// (96.4..97.7 MB here), which the least-squares slope over the 51 samples of the second half averages out.
const RSS_SLOPE_LIMIT_MB_PER_1000 = 0.1;

if (process.getuid?.() === 0 && process.env.PORTCLASH_SOAK_NETNS === undefined) {
  const result = spawnSync('unshare', ['--net', '--', process.execPath, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, PORTCLASH_SOAK_NETNS: '1' },
  });
  process.exit(result.status ?? 1);
}
if (process.env.PORTCLASH_SOAK_NETNS === '1') execFileSync('ip', ['link', 'set', 'lo', 'up']);

/**
 * @typedef {{
 *   round: number, elapsedMs: number, rss: number, vmRss: number, heapTotal: number, heapUsed: number,
 *   external: number, arrayBuffers: number, fds: number, threads: number
 * }} Sample
 */

/** @param {'rounds' | 'every' | 'line'} name */
function positive(name) {
  const value = Number(options[name]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} must be a positive integer, got ${options[name]}`);
  return value;
}

/** VmRSS and Threads from /proc/self/status: the kernel's own count, beside Node's. */
function readStatus() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const vmRss = /VmRSS:\s+(\d+) kB/.exec(status);
  const threads = /Threads:\s+(\d+)/.exec(status);
  if (vmRss === null || threads === null) throw new Error('/proc/self/status has no VmRSS or Threads line');
  return { vmRss: Number(vmRss[1]) * 1024, threads: Number(threads[1]) };
}

/**
 * @param {number} round
 * @param {number} startedAt
 * @returns {Sample}
 */
function sample(round, startedAt) {
  const memory = process.memoryUsage();
  const { vmRss, threads } = readStatus();
  return {
    round,
    elapsedMs: performance.now() - startedAt,
    rss: memory.rss,
    vmRss,
    heapTotal: memory.heapTotal,
    heapUsed: memory.heapUsed,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    // the directory's own fd is counted too, the same one every time
    fds: readdirSync('/proc/self/fd').length,
    threads,
  };
}

/**
 * A fixed background of this process's own: listeners, both ends of connections, UDP bound and connected.
 * @returns {Promise<{ heldPort: number, freePort: number, close: () => Promise<void> }>}
 */
async function openBackground() {
  /** @type {net.Server[]} */
  const servers = [];
  /** @type {net.Socket[]} */
  const connections = [];
  /** @type {dgram.Socket[]} */
  const datagrams = [];
  /**
   * @param {string} host
   * @returns {Promise<net.Server>}
   */
  const listen = (host) =>
    new Promise((resolve, reject) => {
      const server = net.createServer((socket) => connections.push(socket));
      server.once('error', reject).listen(0, host, () => resolve(server));
    });
  for (const host of ['127.0.0.1', '127.0.0.1', '::1']) servers.push(await listen(host));
  const portOf = (/** @type {net.Server} */ server) => /** @type {net.AddressInfo} */ (server.address()).port;
  for (const server of servers) {
    const { address, port } = /** @type {net.AddressInfo} */ (server.address());
    const accepted = new Promise((resolve) => server.once('connection', resolve));
    const client = net.connect(port, address);
    await new Promise((resolve, reject) => client.once('connect', resolve).once('error', reject));
    await accepted;
    connections.push(client);
  }
  /**
   * @param {'udp4' | 'udp6'} type
   * @param {string} host
   * @returns {Promise<dgram.Socket>}
   */
  const bindUdp = (type, host) =>
    new Promise((resolve, reject) => {
      const socket = dgram.createSocket(type);
      socket.once('error', reject).bind(0, host, () => resolve(socket));
    });
  const udp4 = await bindUdp('udp4', '127.0.0.1');
  const udp6 = await bindUdp('udp6', '::1');
  const connected = await bindUdp('udp4', '127.0.0.1');
  await new Promise((resolve) => connected.connect(udp4.address().port, '127.0.0.1', () => resolve(undefined)));
  datagrams.push(udp4, udp6, connected);

  // A free port: one the kernel just gave and took back. In the namespace of our own nothing else takes it.
  const probe = await listen('127.0.0.1');
  const freePort = portOf(probe);
  await new Promise((resolve) => probe.close(resolve));

  return {
    heldPort: portOf(servers[0]),
    freePort,
    async close() {
      for (const socket of connections) socket.destroy();
      for (const socket of datagrams) socket.close();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    },
  };
}

/**
 * Least-squares slope of y over x.
 * @param {number[]} xs
 * @param {number[]} ys
 */
function slope(xs, ys) {
  const n = xs.length;
  const meanX = xs.reduce((sum, x) => sum + x, 0) / n;
  const meanY = ys.reduce((sum, y) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    covariance += (xs[i] - meanX) * (ys[i] - meanY);
    variance += (xs[i] - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

/** @param {number[]} values */
function sparkline(values) {
  const bars = '▁▂▃▄▅▆▇█';
  const low = Math.min(...values);
  const high = Math.max(...values);
  return values.map((value) => bars[high === low ? 0 : Math.min(bars.length - 1, Math.floor(((value - low) / (high - low)) * bars.length))]).join('');
}

const MB = 1024 * 1024;
/** @param {number} bytes */
const mb = (bytes) => (bytes / MB).toFixed(1);
/** @param {number} value */
const signed = (value) => `${value >= 0 ? '+' : ''}${value.toFixed(2)}`;

const background = await openBackground();
/** @type {Sample[]} */
const samples = [];
const unexpected = { held: 0, free: 0 };
let tableSize = 0;
let ownersFound = 0;
const startedAt = performance.now();
samples.push(sample(0, startedAt));
for (let round = 1; round <= rounds; round++) {
  // A monitoring loop's heavy case: the whole table with every socket's owners.
  const sockets = await listSockets();
  const owned = await findOwners(sockets);
  const held = await predictBind({ port: background.heldPort });
  const free = await predictBind({ port: background.freePort });
  if (held.verdict !== 'in-use') unexpected.held++;
  if (free.verdict !== 'free') unexpected.free++;
  tableSize = sockets.length;
  ownersFound = owned.filter((socket) => socket.owner !== null).length;
  if (round % every === 0) samples.push(sample(round, startedAt));
}
await background.close();

/**
 * Growth and least-squares slopes over the samples from round `from` on.
 * @param {number} from
 */
function growthFrom(from) {
  const window = samples.filter((entry) => entry.round >= from);
  const first = window[0];
  const last = window[window.length - 1];
  const rounds = window.map((entry) => entry.round / 1000);
  /** @param {(entry: Sample) => number} value */
  const perThousand = (value) =>
    slope(
      rounds,
      window.map((entry) => value(entry) / MB),
    );
  /** @param {(entry: Sample) => number} value */
  const grown = (value) => (value(last) - value(first)) / MB;
  /** @param {(entry: Sample) => number} value */
  const range = (value) => ({ min: Math.min(...window.map(value)), max: Math.max(...window.map(value)) });
  return {
    from,
    to: last.round,
    rssGrowthMb: grown((entry) => entry.rss),
    rssSlopeMbPer1000: perThousand((entry) => entry.rss),
    vmRssGrowthMb: grown((entry) => entry.vmRss),
    // V8's reservation: it grows its young generation in steps while it learns the allocation rate
    heapTotalGrowthMb: grown((entry) => entry.heapTotal),
    heapUsedSlopeMbPer1000: perThousand((entry) => entry.heapUsed),
    // what is not V8's heap: the addon, malloc arenas, Buffers, code
    outsideHeapGrowthMb: grown((entry) => entry.rss - entry.heapTotal),
    outsideHeapSlopeMbPer1000: perThousand((entry) => entry.rss - entry.heapTotal),
    externalGrowthMb: grown((entry) => entry.external),
    fds: range((entry) => entry.fds),
    threads: range((entry) => entry.threads),
  };
}

const steady = growthFrom(warmup);
// the warm-up of 1,000 rounds, shown beside the judged window so that nothing hides in the warm-up
const early = growthFrom(Math.min(1000, warmup));
const verdict = {
  ...steady,
  rssSlopeLimitMbPer1000: RSS_SLOPE_LIMIT_MB_PER_1000,
  early,
  unexpectedVerdicts: unexpected,
  msPerRound: samples[samples.length - 1].elapsedMs / rounds,
};
const rssSlope = steady.rssSlopeMbPer1000;
const failures = [
  ...(rssSlope >= RSS_SLOPE_LIMIT_MB_PER_1000 ? [`RSS slope ${rssSlope.toFixed(3)} MB per 1,000 rounds ≥ ${RSS_SLOPE_LIMIT_MB_PER_1000}`] : []),
  ...(steady.fds.min !== steady.fds.max ? [`fd count moved after warm-up: ${steady.fds.min}..${steady.fds.max}`] : []),
  ...(steady.threads.min !== steady.threads.max ? [`thread count moved after warm-up: ${steady.threads.min}..${steady.threads.max}`] : []),
  ...(unexpected.held + unexpected.free > 0 ? [`wrong predictions: held port not in-use ${unexpected.held}×, free port not free ${unexpected.free}×`] : []),
];
const machine = {
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  cpus: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  namespace: process.env.PORTCLASH_SOAK_NETNS === '1' ? 'fresh network namespace' : 'current network namespace (not root)',
  tableSize,
  ownersFound,
};

// With --json the raw samples go to stdout and the report to stderr, so one run gives both.
const print = options.json ? console.error : console.log;
if (options.json) process.stdout.write(`${JSON.stringify({ machine, rounds, every, verdict, pass: failures.length === 0, failures, samples }, null, 2)}\n`);
printReport();

/** The table, one line per --line rounds, the sparklines and the verdict, ready to paste in a note. */
function printReport() {
  print(`portclash soak — Node ${machine.node}, ${machine.platform}, kernel ${machine.kernel}, ${machine.cpus} × ${machine.cpu}`);
  print(`${machine.namespace}; ${tableSize} sockets in the table (${ownersFound} with an owner); ${rounds} rounds, a sample every ${every}`);
  print('each round: findOwners(await listSockets()), predictBind({ port: held }), predictBind({ port: free })');
  print('');
  print('| round | ms/round | RSS MB | VmRSS MB | heap total MB | heap used MB | external MB | fds | threads |');
  print('|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  let previous = samples[0];
  for (const entry of samples) {
    if (entry.round !== 0 && entry.round % line !== 0 && entry !== samples[samples.length - 1]) continue;
    const perRound = entry.round === previous.round ? '' : ((entry.elapsedMs - previous.elapsedMs) / (entry.round - previous.round)).toFixed(1);
    print(
      `| ${entry.round} | ${perRound} | ${mb(entry.rss)} | ${mb(entry.vmRss)} | ${mb(entry.heapTotal)} | ${mb(entry.heapUsed)} | ${mb(entry.external)} | ${entry.fds} | ${entry.threads} |`,
    );
    previous = entry;
  }
  print('');
  const rssValues = samples.map((entry) => entry.rss);
  print(`RSS, one bar per ${every} rounds, ${mb(Math.min(...rssValues))}..${mb(Math.max(...rssValues))} MB:`);
  print(sparkline(rssValues));
  const heapValues = samples.map((entry) => entry.heapUsed);
  print(`heapUsed, ${mb(Math.min(...heapValues))}..${mb(Math.max(...heapValues))} MB:`);
  print(sparkline(heapValues));
  print('');
  /** @param {ReturnType<typeof growthFrom>} window */
  const describe = (window) =>
    `rounds ${window.from}..${window.to}: RSS ${signed(window.rssGrowthMb)} MB, slope ${window.rssSlopeMbPer1000.toFixed(3)} MB per 1,000 rounds ` +
    `(VmRSS ${signed(window.vmRssGrowthMb)} MB); V8 heap reserved ${signed(window.heapTotalGrowthMb)} MB, used slope ${window.heapUsedSlopeMbPer1000.toFixed(3)} MB per 1,000; ` +
    `outside V8's heap ${signed(window.outsideHeapGrowthMb)} MB, slope ${window.outsideHeapSlopeMbPer1000.toFixed(3)}; ` +
    `fds ${window.fds.min}..${window.fds.max}; threads ${window.threads.min}..${window.threads.max}`;
  if (early.from !== steady.from) print(`from round ${early.from}: ${describe(early)}`);
  print(`after warm-up, ${describe(steady)}`);
  print(`${verdict.msPerRound.toFixed(1)} ms a round on average`);
  print(
    failures.length === 0
      ? `PASS: RSS slope < ${RSS_SLOPE_LIMIT_MB_PER_1000} MB per 1,000 rounds, fd and thread counts constant, every prediction right`
      : `FAIL: ${failures.join('; ')}`,
  );
}
process.exitCode = failures.length === 0 ? 0 : 1;
