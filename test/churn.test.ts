// Churn: the tables, the owner scan and predictions while sockets open and close and processes start and exit, in a namespace of the test's own.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { createNetns, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('churn.test: the churn runs in a network namespace of its own, which needs root; skipped');

const INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

// Opens and closes listeners, connections and UDP sockets as fast as it can, and starts short-lived
// children that hold sockets of their own, until its stdin ends.
const CHURNER = `
const net = require('node:net'), dgram = require('node:dgram'), { spawn } = require('node:child_process');
const server = net.createServer((peer) => peer.destroy()).listen(0, '127.0.0.1');
let running = true;
process.stdin.resume().on('end', () => { running = false; server.close(); setTimeout(() => process.exit(0), 200); });
function burst() {
  if (!running) return;
  const port = server.address()?.port;
  for (let i = 0; i < 50; i++) {
    const listener = net.createServer().listen(0, '127.0.0.1', () => listener.close());
    const udp = dgram.createSocket('udp4'); udp.bind(0, '127.0.0.1', () => udp.close());
    if (port) { const client = net.connect(port, '127.0.0.1', () => client.destroy()); client.on('error', () => {}); }
  }
  setImmediate(burst);
}
function children() {
  if (!running) return;
  const child = spawn(process.execPath, ['-e', "require('node:net').createServer().listen(0, '127.0.0.1', () => setTimeout(() => process.exit(0), 20))"], { stdio: 'ignore' });
  child.on('exit', () => setTimeout(children, 10));
}
server.on('listening', () => { console.log('ready'); burst(); children(); children(); });
`;

// Reads a number of rounds (never a time: the machine may be slow) and reports what it saw: rounds, sockets, any duplicate or malformed row, every error's code.
const READER = `
const portclash = await import(process.argv[1]);
const rounds = Number(process.argv[2]);
const report = { rounds: 0, sockets: 0, duplicates: [], malformed: [], errors: {}, verdicts: {} };
const STATES = new Set(['ESTABLISHED','SYN_SENT','SYN_RECV','FIN_WAIT1','FIN_WAIT2','TIME_WAIT','CLOSE','CLOSE_WAIT','LAST_ACK','LISTEN','CLOSING','NEW_SYN_RECV','BOUND','UNCONNECTED']);
const count = (map, key) => (map[key] = (map[key] ?? 0) + 1);
while (report.rounds < rounds) {
  report.rounds++;
  try {
    const sockets = await portclash.listSockets();
    report.sockets += sockets.length;
    const seen = new Set();
    for (const s of sockets) {
      const key = [s.protocol, s.family, s.localAddress, s.localPort, s.remoteAddress, s.remotePort, s.inode].join('|');
      if (seen.has(key)) report.duplicates.push(key);
      seen.add(key);
      const bad = !(s.localPort >= 0 && s.localPort <= 65535 && s.remotePort >= 0 && s.remotePort <= 65535) || !STATES.has(s.state) || (s.protocol !== 'tcp' && s.protocol !== 'udp');
      if (bad) report.malformed.push(JSON.stringify(s));
    }
    const owned = await portclash.findOwners(sockets.filter((s) => s.state === 'LISTEN'), { scan: 'first' });
    if (owned.length !== sockets.filter((s) => s.state === 'LISTEN').length) report.malformed.push('owners: one answer per record broken');
    const listener = sockets.find((s) => s.state === 'LISTEN');
    if (listener) count(report.verdicts, (await portclash.predictBind({ port: listener.localPort, host: listener.localAddress })).verdict);
  } catch (error) {
    count(report.errors, error.code ?? error.name);
  }
}
console.log(JSON.stringify(report));
`;

describe.runIf(process.platform === 'linux' && isRoot)('under churn', () => {
  let netns: Netns | undefined;
  afterEach(async () => {
    await netns?.close();
  });

  it('reads no duplicate or torn row, answers one owner per record, and fails only with documented codes', { timeout: 90_000 }, async () => {
    netns = await createNetns();
    const churner = netns.wrap(process.execPath, ['-e', CHURNER]);
    const child = spawn(churner.command, churner.args, { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const [ready] = (await once(child.stdout, 'data', { signal: AbortSignal.timeout(10_000) })) as [Buffer];
      expect(ready.toString().trim()).toBe('ready');
      const read = await netns.runNode(['--input-type=module', '-e', READER, INDEX, '6'], { timeoutMs: 60_000 });
      expect(read.stderr).toBe('');
      const report = JSON.parse(read.stdout) as {
        rounds: number;
        sockets: number;
        duplicates: string[];
        malformed: string[];
        errors: Record<string, number>;
        verdicts: Record<string, number>;
      };
      // it read while the churn went on: the churner's listener at least, and what came and went around it
      expect(report.rounds).toBe(6);
      expect(report.sockets).toBeGreaterThan(report.rounds);
      expect(report.duplicates).toEqual([]);
      expect(report.malformed).toEqual([]);
      expect(report.errors).toEqual({});
      // a listener of that look may be gone by the time its bind is predicted: in-use or free, never unknown from a race
      for (const verdict of Object.keys(report.verdicts)) expect(['in-use', 'free']).toContain(verdict);
    } finally {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit', { signal: AbortSignal.timeout(10_000) });
    }
  });
});
