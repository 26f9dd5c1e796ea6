// What the port tools people use today answer about six real situations on a port, beside portclash's answer and the truth.
//
// node bench/side-by-side.js [--runs N] [--only id,id] [--json]
//
// Each situation is made on a port of its own (chosen by the kernel), probed, then torn down. Every peer
// answers in a child process of its own, so a peer that hangs is reported and killed, not waited for,
// and no peer's in-process state (get-port's locked ports, portfinder's host list) carries over.
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { bounded, markdownTable, runChild, same } from './compare.js';

const self = fileURLToPath(import.meta.url);
const holdSocketsPy = fileURLToPath(new URL('../test/helpers/hold_sockets.py', import.meta.url));

/** A probe's own work longer than this is a hang: every peer here answers a loopback question in well under 2 s, or times out at 2 s. */
const HANG_MS = 5000;
/** The child gets this long in all, loading included, before it is killed. */
const KILL_MS = 30_000;

/** @typedef {'free' | 'in use'} FreeAnswer */
/**
 * What one probe said. `free` / `listening` is the yes-or-no it amounts to (absent when it gave none:
 * portclash's `unknown`, an error, a hang); `said` is its own words, shortened for the table.
 * @typedef {{ said: string, free?: boolean, listening?: boolean, detail: string, ms: number, hung?: boolean }} ProbeResult
 */
/**
 * A situation while it exists. `listeners` are the listening sockets it made, for the waiters' truth.
 * @typedef {{ port: number, listeners: { address: string, ipv6Only: boolean }[], close: () => Promise<void> }} Made
 */
/** @typedef {{ id: string, label: string, make: () => Promise<Made> }} Situation */

/**
 * portclash's prediction for Node's listen(P); with `probe`, an unknown is settled by a trial bind.
 * @param {number} port
 * @param {boolean} probe
 * @returns {Promise<Omit<ProbeResult, 'ms'>>}
 */
async function portclashCheck(port, probe) {
  const { predictBind } = await import('../dist/index.js');
  const prediction = await predictBind({ port }, { probe });
  const dependsOn = prediction.assumptions.length > 0 ? ` — depends on: ${prediction.assumptions.join('; ')}` : '';
  const detail = `${prediction.verdict}${prediction.errno ? ` (${prediction.errno})` : ''}: ${prediction.reason}${dependsOn}`;
  const said = prediction.source === 'probe' ? `${prediction.verdict} (probed)` : prediction.verdict;
  if (prediction.verdict === 'unknown') return { said, detail };
  return { said, free: prediction.verdict === 'free', detail };
}

const FINDERS = ['get-port', 'detect-port', 'portfinder', 'tcp-port-used', 'portclash check', 'portclash check --probe'];
const WAITERS = ['wait-on', 'tcp-port-used wait', 'portclash wait'];

// ---- the probes, run one per child process --------------------------------------------------------

/**
 * The calls people make, each with the meaning the brief gives it. Imports are inside each probe so a
 * child loads only the package it asks.
 * @type {Record<string, (port: number) => Promise<Omit<ProbeResult, 'ms'>>>}
 */
const PROBES = {
  'get-port': async (port) => {
    const { default: getPort } = await import('get-port');
    const returned = await getPort({ port });
    return freeIf(returned === port, `getPort({ port: P }) returned ${returned === port ? 'P' : returned}`);
  },
  'detect-port': async (port) => {
    const { detect } = await import('detect-port');
    const returned = await detect(port);
    return freeIf(returned === port, `detect(P) returned ${returned === port ? 'P' : returned}`);
  },
  portfinder: async (port) => {
    const { getPortPromise } = await import('portfinder');
    try {
      const returned = await getPortPromise({ port, stopPort: port });
      return freeIf(returned === port, `getPortPromise resolved ${returned === port ? 'P' : returned}`);
    } catch (error) {
      // its answer for "not free in [port, stopPort]" is a rejection with this message
      const message = error instanceof Error ? error.message : String(error);
      if (/No open ports/.test(message)) return freeIf(false, `getPortPromise rejected: ${message.replaceAll(String(port), 'P')}`);
      throw error;
    }
  },
  'tcp-port-used': async (port) => {
    const { default: tcpPortUsed } = await import('tcp-port-used');
    const inUse = await tcpPortUsed.check(port);
    return freeIf(!inUse, `check(P) resolved ${inUse}`);
  },
  'portclash check': (port) => portclashCheck(port, false),
  // an unknown settled by a trial bind, as `check --probe` does; a confident answer is left as it is
  'portclash check --probe': (port) => portclashCheck(port, true),
  'wait-on': async (port) => {
    const { default: waitOn } = await import('wait-on');
    try {
      await waitOn({ resources: [`tcp:localhost:${port}`], timeout: 2000, tcpTimeout: 1000 });
      return listeningIf(true, 'resolved');
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/timed out/i.test(message)) return listeningIf(false, `rejected: ${message.replaceAll(String(port), 'P')}`);
      throw error;
    }
  },
  'tcp-port-used wait': async (port) => {
    const { default: tcpPortUsed } = await import('tcp-port-used');
    try {
      // waitUntilUsed(P) would ask 127.0.0.1; the question here is "reachable at localhost"
      await tcpPortUsed.waitUntilUsedOnHost(port, 'localhost', 100, 2000);
      return listeningIf(true, "waitUntilUsedOnHost(P, 'localhost', 100, 2000) resolved");
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (message === 'timeout') return listeningIf(false, "waitUntilUsedOnHost(P, 'localhost', 100, 2000) rejected: timeout");
      throw error;
    }
  },
  'portclash wait': async (port) => {
    const { PortclashError, waitForPort } = await import('../dist/index.js');
    try {
      const result = await waitForPort(port, { until: 'listening', host: 'localhost', timeout: 2000 });
      const on = result.until === 'listening' ? result.listeners.map((socket) => `${socket.localAddress}:P`).join(', ') : '';
      return listeningIf(true, `resolved: listening on ${on}`);
    } catch (error) {
      if (error instanceof PortclashError && error.code === 'ERR_TIMEOUT')
        return listeningIf(false, `ERR_TIMEOUT: ${error.message.replaceAll(String(port), 'P')}`);
      throw error;
    }
  },
};

/**
 * @param {boolean} free
 * @param {string} detail
 */
function freeIf(free, detail) {
  return { said: free ? 'free' : 'in use', free, detail };
}

/**
 * @param {boolean} listening
 * @param {string} detail
 */
function listeningIf(listening, detail) {
  return { said: listening ? 'listening' : 'not listening', listening, detail };
}

/**
 * The child's side: run one probe, print its result as one JSON line, exit. The exit is explicit: a
 * peer may leave a socket connecting (tcp-port-used behind a full queue) that would hold the child open.
 * @param {string} name
 * @param {number} port
 */
async function runProbe(name, port) {
  const probe = PROBES[name];
  if (probe === undefined) throw new Error(`no probe named ${name}`);
  const started = performance.now();
  /** @type {ProbeResult} */
  let result;
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  /** @type {Promise<null>} */
  const hang = new Promise((resolve) => {
    timer = setTimeout(resolve, HANG_MS, null);
  });
  try {
    const answer = await Promise.race([probe(port), hang]);
    const ms = Math.round(performance.now() - started);
    result = answer === null ? { said: `hung >${HANG_MS / 1000}s`, hung: true, detail: 'no answer', ms } : { ...answer, ms };
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : error instanceof Error ? error.message : String(error);
    result = { said: `error ${code}`, detail: error instanceof Error ? error.message : String(error), ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

/**
 * The parent's side: one child per probe, killed (by its pid, through its handle) if it outlives KILL_MS.
 * @param {string} name
 * @param {number} port
 * @returns {Promise<ProbeResult>}
 */
async function askChild(name, port) {
  const { stdout, stderr, code, signal, timedOut: killed } = await runChild(process.execPath, [self, '--probe', name, '--port', String(port)], KILL_MS);
  if (killed) return { said: `hung >${KILL_MS / 1000}s (killed)`, hung: true, detail: 'killed', ms: KILL_MS };
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    /** @type {unknown} */
    const result = JSON.parse(line);
    return /** @type {ProbeResult} */ (result);
  } catch {
    return { said: 'crashed', detail: `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' / ')}`, ms: 0 };
  }
}

// ---- the situations -------------------------------------------------------------------------------

/**
 * A Node listener, with the connections it accepted destroyed on close (server.close waits for them).
 * @param {import('node:net').ListenOptions} options
 * @returns {Promise<Made>}
 */
async function nodeListener(options) {
  const server = net.createServer();
  /** @type {Set<import('node:net').Socket>} */
  const accepted = new Set();
  server.on('connection', (socket) => {
    accepted.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => accepted.delete(socket));
  });
  server.listen({ ...options, port: 0 });
  await bounded(once(server, 'listening'), 'listen');
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    port: address.port,
    listeners: [{ address: address.address, ipv6Only: options.ipv6Only === true }],
    close: async () => {
      for (const socket of accepted) socket.destroy();
      const closed = once(server, 'close');
      server.close();
      await bounded(closed, 'server.close');
    },
  };
}

/**
 * hold_sockets.py with `sockets`: resolves with its report once every socket exists; close() ends its
 * stdin, which is its signal to close them and exit.
 * @param {object[]} sockets
 */
async function holdSockets(sockets) {
  const child = spawn('python3', [holdSocketsPy, JSON.stringify(sockets)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const close = async () => {
    child.stdin.end();
    try {
      await bounded(exited, 'hold_sockets.py exit');
    } catch (error) {
      child.kill('SIGTERM');
      throw error;
    }
  };
  try {
    /** @type {unknown[]} */
    const firstLine = await bounded(once(createInterface({ input: child.stdout }), 'line'), 'hold_sockets.py report');
    /** @type {unknown} */
    const parsed = JSON.parse(/** @type {string} */ (firstLine[0]));
    const report = /** @type {{ sockets: { error?: string, localPort: number, state?: string }[] }} */ (parsed);
    const failed = report.sockets.find((socket) => socket.error !== undefined);
    if (failed) throw new Error(`hold_sockets.py could not make ${JSON.stringify(sockets)}: ${JSON.stringify(failed)}`);
    return { sockets: report.sockets, close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/**
 * A TIME_WAIT on the port and nothing else: the holder's accepted end closes first, so the TIME_WAIT is
 * on the listener's port; the listener and both ends are closed before it reports, and the holder can go
 * at once, as the TIME_WAIT stays 60 s. The accepted socket inherits the listener's SO_REUSEADDR and the
 * TIME_WAIT keeps it: with it (as a Node server leaves one) a listen() with SO_REUSEADDR may share the
 * port; without it (Python's default) it may not.
 * @param {boolean} reuseAddr
 * @returns {Promise<Made>}
 */
async function timeWaitOnly(reuseAddr) {
  const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', reuseAddr, selfConnect: 'serverTimeWait' }]);
  const port = holder.sockets[0].localPort;
  await holder.close();
  return { port, listeners: [], close: () => Promise.resolve() };
}

/** @type {Situation[]} */
const SITUATIONS = [
  { id: 'v4-loopback', label: 'listener on 127.0.0.1', make: () => nodeListener({ host: '127.0.0.1' }) },
  { id: 'v6-loopback', label: 'listener on [::1]', make: () => nodeListener({ host: '::1' }) },
  { id: 'v6only-wildcard', label: 'listener on [::], IPV6_V6ONLY', make: () => nodeListener({ host: '::', ipv6Only: true }) },
  {
    id: 'bound-only',
    label: 'bound, not listening (127.0.0.1)',
    make: async () => {
      // Node cannot bind without listening; the kernel picks the port (bind to port 0)
      const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1' }]);
      return { port: holder.sockets[0].localPort, listeners: [], close: holder.close };
    },
  },
  {
    id: 'full-queue',
    label: 'listener on 127.0.0.1, accept queue full',
    make: async () => {
      // backlog 0 and never accepting: the kernel queues one connection (sk_ack_backlog > sk_max_ack_backlog
      // is full), then drops every SYN, so a connecting probe sees no answer at all
      const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '127.0.0.1', listen: true, backlog: 0 }]);
      const port = holder.sockets[0].localPort;
      const client = net.connect({ port, host: '127.0.0.1' });
      client.on('error', () => undefined);
      try {
        await bounded(once(client, 'connect'), 'the queued connection');
        const listener = readKernelRows(port).find((row) => row.state === 'LISTEN');
        if (!listener || listener.acceptQueue < 1) throw new Error(`the accept queue on ${port} is not full: ${JSON.stringify(listener)}`);
      } catch (error) {
        client.destroy();
        await holder.close();
        throw error;
      }
      return {
        port,
        listeners: [{ address: '127.0.0.1', ipv6Only: false }],
        close: async () => {
          client.destroy();
          await holder.close();
        },
      };
    },
  },
  {
    id: 'time-wait',
    label: 'TIME_WAIT only (127.0.0.1)',
    make: () => timeWaitOnly(false),
  },
  {
    id: 'time-wait-reuseaddr',
    label: 'TIME_WAIT only (127.0.0.1), left by an SO_REUSEADDR server',
    make: () => timeWaitOnly(true),
  },
];

// ---- the truth ------------------------------------------------------------------------------------

/**
 * Does net.createServer().listen(port[, host]) succeed right now? The server is closed at once.
 * @param {number} port
 * @param {string} [host]
 * @returns {Promise<{ ok: boolean, code?: string }>}
 */
async function tryListen(port, host) {
  const server = net.createServer();
  /** @type {Promise<{ ok: boolean, code?: string }>} */
  const outcome = new Promise((resolve) => {
    server.once('error', (error) => resolve({ ok: false, code: /** @type {NodeJS.ErrnoException} */ (error).code ?? error.message }));
    server.once('listening', () => server.close(() => resolve({ ok: true })));
  });
  server.listen(host === undefined ? { port } : { port, host });
  return bounded(outcome, `listen(${port}${host ? `, ${host}` : ''})`);
}

/**
 * Would a client connecting to one of `addresses` reach this listener? Its own address, its family's
 * wildcard, or a dual-stack `::` for IPv4. Worked out from what the script made, not from any tool.
 * @param {{ address: string, ipv6Only: boolean }} listener
 * @param {string} address
 */
function reaches(listener, address) {
  if (listener.address === address) return true;
  if (listener.address === '0.0.0.0') return net.isIPv4(address);
  if (listener.address === '::') return net.isIPv6(address) || !listener.ipv6Only;
  return false;
}

const TCP_STATES = ['', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT', 'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING'];

/**
 * The rows of /proc/net/tcp and tcp6 whose local port is `port`, read here directly (not through
 * portclash), to show the kernel had what the situation says. A bound-only socket is state CLOSE.
 * For a listener, rx_queue is the number of connections waiting in its accept queue.
 * @param {number} port
 */
function readKernelRows(port) {
  const rows = [];
  for (const table of ['tcp', 'tcp6']) {
    const lines = readFileSync(`/proc/net/${table}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      const [addressHex, portHex] = fields[1].split(':');
      if (parseInt(portHex, 16) !== port) continue;
      const state = TCP_STATES[parseInt(fields[3], 16)] ?? fields[3];
      rows.push({ state, address: decodeAddress(addressHex), acceptQueue: parseInt(fields[4].split(':')[1], 16) });
    }
  }
  return rows;
}

/**
 * /proc/net's address: IPv4 as one little-endian word, IPv6 as four.
 * @param {string} hex
 */
function decodeAddress(hex) {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((word) => (word.match(/../g) ?? []).reverse().map((byte) => parseInt(byte, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  // the longest run of zero groups becomes ::, as inet_ntop writes it
  const text = groups.join(':');
  const runs = text.match(/(^|:)0(:0)+(:|$)/g) ?? [];
  const longest = runs.reduce((best, run) => (run.length > best.length ? run : best), '');
  return `[${longest ? text.replace(longest, '::') : text}]`;
}

/** @param {{ state: string, address: string, acceptQueue: number }[]} rows */
function describeRows(rows) {
  if (rows.length === 0) return 'nothing';
  return rows.map((row) => `${row.state} ${row.address}${row.state === 'LISTEN' && row.acceptQueue > 0 ? ` (${row.acceptQueue} queued)` : ''}`).join(', ');
}

// ---- running and printing ---------------------------------------------------------------------------

/**
 * One situation, made, looked at, probed by every peer in turn, torn down.
 * @param {Situation} situation
 * @param {string[]} localhost
 */
async function runSituation(situation, localhost) {
  const made = await situation.make();
  try {
    const { port } = made;
    const before = readKernelRows(port);
    const listenDefault = await tryListen(port);
    const listenV4 = await tryListen(port, '127.0.0.1');
    const listening = made.listeners.some((listener) => localhost.some((address) => reaches(listener, address)));
    /** @type {Record<string, ProbeResult>} */
    const probes = {};
    for (const name of [...FINDERS, ...WAITERS]) probes[name] = await askChild(name, port);
    const after = readKernelRows(port);
    return { port, kernelBefore: describeRows(before), kernelAfter: describeRows(after), truth: { listenDefault, listenV4, listening }, probes };
  } finally {
    await made.close();
  }
}

/** @typedef {Awaited<ReturnType<typeof runSituation>>} SituationRun */

/**
 * One cell: the answer, ✗ when wrong, `?` when no yes-or-no was given; every run's answer when they differ.
 * @param {ProbeResult[]} results
 * @param {(result: ProbeResult) => boolean | undefined} yes
 * @param {boolean[]} truths
 */
function cell(results, yes, truths) {
  const marked = results.map((result, run) => {
    const answer = yes(result);
    return `${result.said}${answer === undefined ? ' ?' : answer === truths[run] ? '' : ' ✗'}`;
  });
  const distinct = [...new Set(marked)];
  if (distinct.length === 1) return distinct[0];
  return `flips: ${distinct.map((text) => `${text} (${marked.filter((one) => one === text).length}/${marked.length})`).join(', ')}`;
}

/** @param {string} name */
function versionOf(name) {
  const path = name === 'portclash' ? new URL('../package.json', import.meta.url) : new URL(`../node_modules/${name}/package.json`, import.meta.url);
  /** @type {unknown} */
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  return /** @type {{ version: string }} */ (manifest).version;
}

/**
 * @param {{ situation: Situation, runs: SituationRun[] }[]} results
 * @param {string[]} localhost
 */
function printTables(results, localhost) {
  const runCount = results[0]?.runs.length ?? 0;
  const versions = ['get-port', 'detect-port', 'portfinder', 'tcp-port-used', 'wait-on', 'portclash'].map((name) => `${name} ${versionOf(name)}`);
  console.log(`Node ${process.version}, Linux ${os.release()}; ${versions.join(', ')}.`);
  console.log(`localhost resolves to ${localhost.join(', ')}. ${runCount} run${runCount === 1 ? '' : 's'}; ✗ marks a wrong answer, ? no answer.\n`);

  /** @param {ProbeResult} result */
  const saysFree = (result) => result.free;
  /** @param {ProbeResult} result */
  const saysListening = (result) => result.listening;
  // a situation keeps its number in the full list when --only leaves others out
  /** @param {Situation} situation */
  const numbered = (situation) => `${SITUATIONS.indexOf(situation) + 1}`;
  const finderRows = results.map(({ situation, runs }) => {
    const truths = runs.map((run) => run.truth.listenDefault.ok);
    const truth = same(runs.map((run) => (run.truth.listenDefault.ok ? 'yes' : `no (${run.truth.listenDefault.code})`)));
    return [
      `${numbered(situation)}. ${situation.label}`,
      truth,
      ...FINDERS.map((name) =>
        cell(
          runs.map((run) => run.probes[name]),
          saysFree,
          truths,
        ),
      ),
    ];
  });
  console.log('Is port P free for my server?\n');
  console.log(markdownTable([['situation', 'truth: listen(P) succeeds?', ...FINDERS], ...finderRows]));
  const differs = results
    .map(({ situation, runs }) => ({ situation, v4: runs.map((run) => run.truth.listenV4), runs }))
    .filter(({ runs }) => runs.some((run) => run.truth.listenV4.ok !== run.truth.listenDefault.ok));
  if (differs.length > 0) console.log('');
  for (const { situation, v4 } of differs)
    console.log(
      `In ${numbered(situation)}, listen(P, '127.0.0.1') ${same(v4.map((outcome) => (outcome.ok ? 'succeeds' : `fails (${outcome.code})`)))}, unlike listen(P).`,
    );

  const waiterRows = results.map(({ situation, runs }) => {
    const truths = runs.map((run) => run.truth.listening);
    return [
      `${numbered(situation)}. ${situation.label}`,
      same(truths.map((yes) => (yes ? 'yes' : 'no'))),
      ...WAITERS.map((name) =>
        cell(
          runs.map((run) => run.probes[name]),
          saysListening,
          truths,
        ),
      ),
    ];
  });
  console.log('\nIs a server listening on P, reachable at localhost?\n');
  console.log(markdownTable([['situation', 'truth: listening at localhost?', ...WAITERS], ...waiterRows]));

  // a socket that is bound and not listening is in neither the listening nor the established hash, which
  // is all /proc/net/tcp prints; only sock_diag (Linux 6.9+, ss -B) lists it
  console.log("\nWhat /proc/net/tcp{,6} showed on P (this script's own reading; it does not list bound-only sockets), before the probes:\n");
  for (const { situation, runs } of results) {
    console.log(`${numbered(situation)}. ${same(runs.map((run) => run.kernelBefore))}`);
    for (const run of runs) if (run.kernelAfter !== run.kernelBefore) console.log(`   after the probes (port ${run.port}): ${run.kernelAfter}`);
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      probe: { type: 'string' },
      port: { type: 'string' },
    },
  });
  if (values.probe !== undefined) return runProbe(values.probe, Number(values.port));
  if (process.platform !== 'linux') throw new Error('the situations are made with Linux sockets (hold_sockets.py, /proc/net); run this on Linux');
  const runCount = Number(values.runs);
  if (!Number.isInteger(runCount) || runCount < 1) throw new Error(`--runs must be a whole number of at least 1, got ${values.runs}`);

  const localhost = (await lookup('localhost', { all: true })).map(({ address }) => address);
  const only = values.only?.split(',');
  const unknownIds = only?.filter((id) => !SITUATIONS.some((situation) => situation.id === id)) ?? [];
  if (unknownIds.length > 0)
    throw new Error(`--only: no situation ${unknownIds.join(', ')}; there are ${SITUATIONS.map((situation) => situation.id).join(', ')}`);
  /** @type {{ situation: Situation, runs: SituationRun[] }[]} */
  const results = SITUATIONS.filter((situation) => !only || only.includes(situation.id)).map((situation) => ({ situation, runs: [] }));
  for (let run = 0; run < runCount; run++) {
    for (const result of results) {
      process.stderr.write(`run ${run + 1}/${runCount}: ${result.situation.label}\n`);
      result.runs.push(await runSituation(result.situation, localhost));
    }
  }
  if (values.json) {
    const versions = Object.fromEntries(
      ['get-port', 'detect-port', 'portfinder', 'tcp-port-used', 'wait-on', 'portclash'].map((name) => [name, versionOf(name)]),
    );
    const raw = results.map(({ situation, runs }) => ({ id: situation.id, label: situation.label, runs }));
    console.log(JSON.stringify({ node: process.version, kernel: os.release(), versions, localhost, situations: raw }, null, 2));
  } else {
    printTables(results, localhost);
  }
}

await main();
