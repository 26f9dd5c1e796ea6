// --format prometheus and --output: exposition text that promtool accepts, right labels for real sockets, files replaced atomically.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, closeSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ephemeralMetrics, escapeLabelValue, formatExposition, listMetrics, predictionMetrics, type MetricFamily } from '../lib/prometheus.js';
import type { EphemeralReport } from '../lib/ephemeral.js';
import type { OwnedSocket } from '../lib/owners.js';
import type { Prediction } from '../lib/predict/types.js';
import type { SocketRecord } from '../lib/records.js';
import { runCli } from './helpers/cli.js';
import { portOf, SocketPool, unusedPort } from './helpers/sockets.js';

interface Checked {
  code: number;
  output: string;
}

/**
 * `promtool check metrics` with `text` on stdin: exit 0 and nothing printed means it parsed and
 * passed every lint (a lint problem is printed and exits 3). Missing promtool is a failure, not a
 * skip: CI installs it (.ci/run).
 */
function promtool(text: string): Promise<Checked> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error("promtool is not installed: install Debian's prometheus package (apt-get install -y --no-install-recommends prometheus), as .ci/run does")
          : error,
      ),
    );
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(text);
  });
}

/** The value of the one series `name{labels}` in `text`, or undefined when there is none. */
function valueOf(text: string, name: string, labels: Record<string, string>): number | undefined {
  const body = Object.entries(labels)
    .map(([label, value]) => `${label}="${escapeLabelValue(value)}"`)
    .join(',');
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{${body}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** The series of one metric name in `text`, without the HELP and TYPE lines. */
function seriesOf(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

const processName = readFileSync('/proc/self/comm', 'utf8').trim();
const [rangeLow, rangeHigh] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];

const record = (overrides: Partial<SocketRecord>): SocketRecord => ({
  protocol: 'tcp',
  family: 'IPv4',
  localAddress: '127.0.0.1',
  localPort: 3000,
  remoteAddress: '0.0.0.0',
  remotePort: 0,
  state: 'LISTEN',
  uid: 0,
  inode: 1,
  kernelOnly: false,
  source: 'sock_diag',
  ...overrides,
});

const owned = (socket: SocketRecord, name: string | null): OwnedSocket => {
  const owner: OwnedSocket['owners'][number] = {
    pid: 4121,
    ppid: 1,
    name,
    cmdline: [],
    command: '',
    uid: 0,
    user: 'root',
    startTime: null,
    service: null,
    fd: 3,
  };
  return { ...socket, owner, owners: [owner] };
};

describe('the exposition text', () => {
  it('escapes backslash, double quote and line feed in label values, and promtool reads them back', async () => {
    const awkward = 'say "hi"\\now\nthen';
    expect(escapeLabelValue(awkward)).toBe('say \\"hi\\"\\\\now\\nthen');
    const family: MetricFamily = {
      name: 'portclash_test',
      help: 'A test, with a \\ and a\nline feed.',
      labels: ['name'],
      samples: [{ values: [awkward], value: 1 }],
    };
    const text = formatExposition([family]);
    expect(text).toBe(
      '# HELP portclash_test A test, with a \\\\ and a\\nline feed.\n# TYPE portclash_test gauge\nportclash_test{name="say \\"hi\\"\\\\now\\nthen"} 1\n',
    );
    expect(await promtool(text)).toEqual({ code: 0, output: '' });
  });

  it('takes a process name or a preflight label with quotes, backslashes and line feeds, and stays valid', async () => {
    const name = 'we"ird\\na\nme';
    const listeners = [owned(record({ localPort: 22 }), name), owned(record({ localPort: 1000, protocol: 'udp', state: 'UNCONNECTED' }), null)];
    const listed = formatExposition(listMetrics(listeners, listeners, { low: 32768, high: 60999, size: 28232 }));
    expect(valueOf(listed, 'portclash_listeners', { protocol: 'tcp', address: '127.0.0.1', port: '22', process: name })).toBe(1);
    // an owner whose name cannot be read is process=""
    expect(valueOf(listed, 'portclash_listeners', { protocol: 'udp', address: '127.0.0.1', port: '1000', process: '' })).toBe(1);
    // ports sort as numbers: 22 before 1000 within tcp, and the whole text is stable
    expect(seriesOf(listed, 'portclash_listeners').map((line) => /port="(\d+)"/.exec(line)?.[1])).toEqual(['22', '1000']);
    expect(await promtool(listed)).toEqual({ code: 0, output: '' });

    const prediction: Prediction = {
      port: 3000,
      host: '::',
      protocol: 'tcp',
      verdict: 'in-use',
      errno: 'EADDRINUSE',
      reason: 'held',
      conflicts: [owned(record({ localAddress: '::', family: 'IPv6' }), name)],
      assumptions: [],
      warnings: [],
      source: 'tables',
    };
    const label = 'api "v2"\\\nnext';
    // the same port twice is one series, or Prometheus would reject the duplicate
    const checked = formatExposition(
      predictionMetrics([
        { label, prediction },
        { label, prediction },
      ]),
    );
    expect(seriesOf(checked, 'portclash_bind_verdict')).toHaveLength(5);
    expect(valueOf(checked, 'portclash_bind_verdict', { protocol: 'tcp', host: '::', port: '3000', label, verdict: 'in-use' })).toBe(1);
    expect(valueOf(checked, 'portclash_bind_conflict_info', { protocol: 'tcp', host: '::', port: '3000', label, process: name })).toBe(1);
    expect(await promtool(checked)).toEqual({ code: 0, output: '' });
  });
  it('bounds the ephemeral report to the 10 busiest destinations, with one stable series for the busiest', async () => {
    const destinations = Array.from({ length: 25 }, (_, index) => ({
      localAddress: '10.0.0.1',
      remoteAddress: `192.0.2.${index + 1}`,
      remotePort: 443,
      connections: 100 - index,
      timeWait: index,
      available: 1000,
      usage: (100 - index) / 1000,
    }));
    const report: EphemeralReport = {
      range: { low: 40000, high: 40999, size: 1000 },
      // 39990-40009 reaches into the range by 10 ports, 41000-41010 lies outside it
      reserved: [
        [39990, 40009],
        [40500, 40500],
        [41000, 41010],
      ],
      boundInRange: 3,
      outgoing: destinations.reduce((sum, destination) => sum + destination.connections, 0),
      timeWait: 300,
      destinations,
      warnings: [],
    };
    const text = formatExposition(ephemeralMetrics(report));
    expect(seriesOf(text, 'portclash_ephemeral_destination_usage_ratio')).toHaveLength(10);
    expect(valueOf(text, 'portclash_ephemeral_destination_connections', { local_address: '10.0.0.1', remote_address: '192.0.2.1', remote_port: '443' })).toBe(
      100,
    );
    expect(valueOf(text, 'portclash_ephemeral_destination_connections', { local_address: '10.0.0.1', remote_address: '192.0.2.11', remote_port: '443' })).toBe(
      undefined,
    );
    expect(text).toContain('\nportclash_ephemeral_max_usage_ratio 0.1\n');
    expect(text).toContain('\nportclash_ephemeral_destinations 25\n');
    expect(text).toContain('\nportclash_ephemeral_reserved_ports 11\n');
    expect(valueOf(text, 'portclash_ephemeral_range_info', { low: '40000', high: '40999' })).toBe(1);
    expect(await promtool(text)).toEqual({ code: 0, output: '' });
  });
});

describe.runIf(process.platform === 'linux')('portclash --format prometheus with real sockets', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('list: a series for a TCP listener and a UDP socket of this process, and the whole output passes promtool', async () => {
    const port = await unusedPort();
    await pool.listen('127.0.0.1', { port });
    await pool.udpOn(port, '127.0.0.1');
    const result = await runCli(['list', '--format', 'prometheus']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(valueOf(result.stdout, 'portclash_listeners', { protocol: 'tcp', address: '127.0.0.1', port: String(port), process: processName })).toBe(1);
    expect(valueOf(result.stdout, 'portclash_listeners', { protocol: 'udp', address: '127.0.0.1', port: String(port), process: processName })).toBe(1);
    expect(valueOf(result.stdout, 'portclash_sockets', { protocol: 'tcp', state: 'LISTEN' })).toBeGreaterThanOrEqual(1);
    // no timestamps (the textfile collector refuses them) and no per-connection labels
    expect(result.stdout).not.toMatch(/remote/);
    const samples = result.stdout.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(samples.filter((line) => !/^[a-z_]+(\{.*\})? [-+\d.e]+$/i.test(line))).toEqual([]);
    expect(await promtool(result.stdout)).toEqual({ code: 0, output: '' });
  });

  it('list: a listener on a port of the ephemeral range is counted by process, without a series for its port', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    expect(port).toBeGreaterThanOrEqual(rangeLow);
    expect(port).toBeLessThanOrEqual(rangeHigh);
    const result = await runCli(['list', '--port', String(port), '--format', 'prometheus']);
    expect(result.code).toBe(0);
    expect(seriesOf(result.stdout, 'portclash_listeners')).toEqual([]);
    expect(valueOf(result.stdout, 'portclash_ephemeral_port_listeners', { protocol: 'tcp', process: processName })).toBe(1);
    expect(await promtool(result.stdout)).toEqual({ code: 0, output: '' });
  });

  it('check: in-use with the holder for a held port (exit 1), free for a free one (exit 0); --json is still --format json', async () => {
    const held = await unusedPort();
    await pool.listen('127.0.0.1', { port: held });
    const free = await unusedPort();

    const inUse = await runCli(['check', String(held), '--format', 'prometheus']);
    expect(inUse.code).toBe(1);
    const port = { protocol: 'tcp', host: '::', port: String(held), label: '' };
    expect(valueOf(inUse.stdout, 'portclash_bind_verdict', { ...port, verdict: 'in-use' })).toBe(1);
    expect(valueOf(inUse.stdout, 'portclash_bind_verdict', { ...port, verdict: 'free' })).toBe(0);
    expect(valueOf(inUse.stdout, 'portclash_bind_conflict_info', { ...port, process: processName })).toBe(1);
    expect(await promtool(inUse.stdout)).toEqual({ code: 0, output: '' });

    const isFree = await runCli(['check', String(free), '--udp', '--format', 'prometheus']);
    expect(isFree.code).toBe(0);
    expect(valueOf(isFree.stdout, 'portclash_bind_verdict', { protocol: 'udp', host: '::', port: String(free), label: '', verdict: 'free' })).toBe(1);
    expect(seriesOf(isFree.stdout, 'portclash_bind_verdict').filter((line) => line.endsWith(' 1'))).toHaveLength(1);
    expect(seriesOf(isFree.stdout, 'portclash_bind_conflict_info')).toEqual([]);

    const json = await runCli(['check', String(free), '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ port: free, verdict: 'free' });
    const both = await runCli(['check', String(free), '--json', '--format', 'prometheus']);
    expect(both).toMatchObject({ code: 2, stdout: '', stderr: 'portclash: ERR_USAGE: --json and --format prometheus contradict each other\n' });
  });

  it('preflight: one verdict per configured port with its label, the holder named, exit codes as for text', async () => {
    const held = await unusedPort();
    await pool.listen('127.0.0.1', { port: held });
    const free = await unusedPort();
    const directory = mkdtempSync(join(tmpdir(), 'portclash-prometheus-'));
    try {
      const config = join(directory, 'portclash.json');
      writeFileSync(
        config,
        JSON.stringify({
          ports: [
            { port: held, label: 'api' },
            { port: free, label: 'worker', host: '127.0.0.1' },
          ],
        }),
      );
      const result = await runCli(['preflight', '--config', config, '--format', 'prometheus']);
      expect(result).toMatchObject({ code: 1, stderr: '' });
      expect(valueOf(result.stdout, 'portclash_bind_verdict', { protocol: 'tcp', host: '::', port: String(held), label: 'api', verdict: 'in-use' })).toBe(1);
      expect(
        valueOf(result.stdout, 'portclash_bind_verdict', { protocol: 'tcp', host: '127.0.0.1', port: String(free), label: 'worker', verdict: 'free' }),
      ).toBe(1);
      expect(
        valueOf(result.stdout, 'portclash_bind_conflict_info', { protocol: 'tcp', host: '::', port: String(held), label: 'api', process: processName }),
      ).toBe(1);
      expect(await promtool(result.stdout)).toEqual({ code: 0, output: '' });
      const onlyFree = await runCli(['preflight', String(free), '--format', 'prometheus']);
      expect(onlyFree.code).toBe(0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('ephemeral: the range as the kernel has it, and a destination of this test, pass promtool', async () => {
    const server = await pool.listen('127.0.0.1', { port: await unusedPort() });
    await pool.connect(server, '127.0.0.1');
    const result = await runCli(['ephemeral', '--format', 'prometheus']);
    expect([0, 1]).toContain(result.code);
    expect(valueOf(result.stdout, 'portclash_ephemeral_range_info', { low: String(rangeLow), high: String(rangeHigh) })).toBe(1);
    expect(result.stdout).toContain(`\nportclash_ephemeral_range_ports ${rangeHigh - rangeLow + 1}\n`);
    expect(Number(/\nportclash_ephemeral_destinations (\d+)\n/.exec(result.stdout)?.[1])).toBeGreaterThanOrEqual(1);
    expect(seriesOf(result.stdout, 'portclash_ephemeral_destination_connections').length).toBeGreaterThanOrEqual(1);
    expect(seriesOf(result.stdout, 'portclash_ephemeral_destination_connections').length).toBeLessThanOrEqual(10);
    expect(await promtool(result.stdout)).toEqual({ code: 0, output: '' });
  });
});

describe.runIf(process.platform === 'linux')('--output <file>', () => {
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'portclash-output-'));
  });
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  it('replaces the file by rename: a reader of the old file still sees it whole, the new one is complete, no temporary file is left', async () => {
    const path = join(directory, 'portclash.prom');
    writeFileSync(path, 'old_metric 1\n');
    chmodSync(path, 0o640);
    const before = statSync(path);
    const reader = openSync(path, 'r');
    try {
      const result = await runCli(['ephemeral', '--format', 'prometheus', '--output', path]);
      expect([0, 1]).toContain(result.code);
      expect(result.stdout).toBe('');
      const buffer = Buffer.alloc(64);
      expect(buffer.subarray(0, readSync(reader, buffer, 0, 64, 0)).toString()).toBe('old_metric 1\n');
    } finally {
      closeSync(reader);
    }
    const after = statSync(path);
    expect(after.ino).not.toBe(before.ino);
    // the mode of the file it replaced, whatever the umask
    expect(after.mode & 0o777).toBe(0o640);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^# HELP portclash_ephemeral_range_info .*\n$/s);
    expect(await promtool(text)).toEqual({ code: 0, output: '' });
    expect(readdirSync(directory)).toEqual(['portclash.prom']);
  });

  it('writes a new file readable by the collector, with any format, and keeps exit codes', async () => {
    const path = join(directory, 'check.prom');
    const free = await unusedPort();
    const result = await runCli(['check', String(free), '--format', 'prometheus', '--output', path]);
    expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(valueOf(readFileSync(path, 'utf8'), 'portclash_bind_verdict', { protocol: 'tcp', host: '::', port: String(free), label: '', verdict: 'free' })).toBe(
      1,
    );
    const json = join(directory, 'list.json');
    expect((await runCli(['list', '--listening', '--json', '--output', json])).code).toBe(0);
    expect(Array.isArray(JSON.parse(readFileSync(json, 'utf8')))).toBe(true);
    expect(readdirSync(directory).sort()).toEqual(['check.prom', 'list.json']);
  });

  it('fails with exit 4 and the errno, leaving no temporary file and the target as it was', async () => {
    // a directory in the target's place: the temporary file is written, then the rename fails (even as root)
    const path = join(directory, 'portclash.prom');
    mkdirSync(path);
    writeFileSync(join(path, 'keep'), '');
    const result = await runCli(['list', '--format', 'prometheus', '--output', path]);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(new RegExp(`^portclash: (EISDIR|ENOTEMPTY|EEXIST): --output ${path} could not be written: .*\\n$`));
    expect(readdirSync(directory)).toEqual(['portclash.prom']);
    expect(readdirSync(path)).toEqual(['keep']);

    // a directory that does not exist: nothing to clean up, the same exit
    const missing = await runCli(['ephemeral', '--format', 'prometheus', '--output', join(directory, 'absent', 'portclash.prom')]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^portclash: ENOENT: --output .*absent\/portclash\.prom could not be written: /);
    expect(readdirSync(directory)).toEqual(['portclash.prom']);
  });
});
