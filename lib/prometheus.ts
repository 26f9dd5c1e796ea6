// Prometheus' text exposition format, for node_exporter's textfile collector: listeners, bind predictions, ephemeral port use.
import type { EphemeralReport } from './ephemeral.js';
import type { OwnedSocket } from './owners.js';
import type { Prediction, Verdict } from './predict/types.js';
import type { EphemeralRange } from './ranges.js';
import type { SocketRecord } from './records.js';

/** One time series of a family: its label values, in the order of the family's `labels`, and its value. */
export interface Sample {
  values: readonly string[];
  value: number;
}

/**
 * A metric family. Every portclash metric is a gauge: a reading of the tables at one moment, never a
 * running count. No sample carries a timestamp, which the textfile collector refuses.
 */
export interface MetricFamily {
  name: string;
  help: string;
  labels: readonly string[];
  samples: Sample[];
}

/**
 * The exposition text of `families`, in the order given, each with its `# HELP` and `# TYPE` line
 * (also when it has no sample, so that the metric's meaning is on record); samples sorted by their
 * label values, numbers as numbers, so that two runs over the same sockets give the same text.
 */
export function formatExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} gauge`);
    for (const sample of [...family.samples].sort(compareSamples)) {
      const labels = family.labels.map((label, index) => `${label}="${escapeLabelValue(sample.values[index] ?? '')}"`);
      lines.push(`${family.name}${labels.length === 0 ? '' : `{${labels.join(',')}}`} ${formatValue(sample.value)}`);
    }
  }
  // the format wants every line, the last one too, ended by a line feed
  return lines.map((line) => `${line}\n`).join('');
}

/** A label value between double quotes: backslash, double quote and line feed escaped, as the format asks. */
export function escapeLabelValue(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

/** `# HELP` text: backslash and line feed escaped (a double quote stands as it is there). */
export function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
}

/** Go's ParseFloat reads what String() writes, except the infinities, which the format spells +Inf and -Inf. */
function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function compareSamples(a: Sample, b: Sample): number {
  for (let index = 0; index < a.values.length; index++) {
    const order = compareValues(a.values[index] ?? '', b.values[index] ?? '');
    if (order !== 0) return order;
  }
  return 0;
}

// Ports sort as numbers (22 before 1000); other values in code-unit order, the same in every locale.
function compareValues(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return Number(a) - Number(b);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A family's samples from keyed counts: each distinct set of label values once, however many
 * sockets share it. A repeated label set would be a duplicate series, which Prometheus rejects.
 */
function tally(keys: Iterable<readonly string[]>): Sample[] {
  const counts = new Map<string, Sample>();
  for (const values of keys) {
    const key = JSON.stringify(values);
    const sample = counts.get(key);
    if (sample === undefined) counts.set(key, { values, value: 1 });
    else sample.value += 1;
  }
  return [...counts.values()];
}

/** Whether the socket accepts new peers: TCP in LISTEN, UDP with no fixed peer (as `list --listening`). */
export function isListener(socket: SocketRecord): boolean {
  return socket.state === 'LISTEN' || (socket.protocol === 'udp' && socket.state === 'UNCONNECTED');
}

/** The name of the first process holding the socket, as `list --owners` shows it; '' when none can be named. */
function processName(socket: SocketRecord | OwnedSocket): string {
  return 'owners' in socket ? (socket.owners[0]?.name ?? '') : '';
}

/**
 * `list --format prometheus`: the listeners and the socket counts. `sockets` is the table as read,
 * `listeners` its listeners with their owners. A listener on a port inside the ephemeral range
 * (a bind to port 0, a UDP client's unconnected socket) gets a new port at every start, so it is
 * counted by protocol and process alone: one series per port there would grow without bound.
 * Connections are counted by state, never one series each.
 */
export function listMetrics(sockets: readonly SocketRecord[], listeners: readonly (SocketRecord | OwnedSocket)[], range: EphemeralRange): MetricFamily[] {
  const inRange = (socket: SocketRecord) => socket.localPort >= range.low && socket.localPort <= range.high;
  return [
    {
      name: 'portclash_listeners',
      help: 'Listening sockets (TCP in LISTEN, UDP unconnected) on ports outside the ephemeral range, by protocol, local address, port and the name of the process holding them ("" when it cannot be named).',
      labels: ['protocol', 'address', 'port', 'process'],
      samples: tally(
        listeners.filter((socket) => !inRange(socket)).map((socket) => [socket.protocol, socket.localAddress, String(socket.localPort), processName(socket)]),
      ),
    },
    {
      name: 'portclash_ephemeral_port_listeners',
      help: 'Listening sockets on ports inside the ephemeral range (binds to port 0, unconnected UDP clients), by protocol and process; their ports change from run to run, so they carry no port label.',
      labels: ['protocol', 'process'],
      samples: tally(listeners.filter(inRange).map((socket) => [socket.protocol, processName(socket)])),
    },
    {
      name: 'portclash_sockets',
      help: "Sockets in the kernel's tables, by protocol and state.",
      labels: ['protocol', 'state'],
      samples: tally(sockets.map((socket) => [socket.protocol, socket.state])),
    },
  ];
}

/** A checked port and the name to show it by (preflight's label; null for `check`). */
export interface CheckedPort {
  label: string | null;
  prediction: Prediction;
}

const VERDICTS: readonly Verdict[] = ['free', 'in-use', 'denied', 'unavailable', 'unknown'];

/**
 * `check`/`preflight --format prometheus`: the verdict of each port as a state set (one series per
 * verdict, 1 for the one it has, so a verdict that changes leaves no stale series), and the names
 * of the processes in the way. Pids are left out: they change at every restart. A port asked for
 * twice with the same protocol, host and label is one series, from its first prediction.
 */
export function predictionMetrics(checked: readonly CheckedPort[]): MetricFamily[] {
  const seen = new Set<string>();
  const ports = checked.filter(({ label, prediction }) => {
    const key = JSON.stringify([prediction.protocol, prediction.host, prediction.port, label]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const portLabels = ({ label, prediction }: CheckedPort) => [prediction.protocol, prediction.host, String(prediction.port), label ?? ''];
  return [
    {
      name: 'portclash_bind_verdict',
      help: 'The predicted outcome of bind() (and listen(), for TCP) on each checked port: 1 for the verdict it has (free, in-use, denied, unavailable, unknown), 0 for the others.',
      labels: ['protocol', 'host', 'port', 'label', 'verdict'],
      samples: ports.flatMap((entry) =>
        VERDICTS.map((verdict) => ({ values: [...portLabels(entry), verdict], value: entry.prediction.verdict === verdict ? 1 : 0 })),
      ),
    },
    {
      name: 'portclash_bind_conflict_info',
      help: 'A process whose socket is in the way of a checked port, by name ("" for a socket no process holds, such as a TIME_WAIT, or whose owner cannot be named); always 1.',
      labels: ['protocol', 'host', 'port', 'label', 'process'],
      samples: tally(ports.flatMap((entry) => unique(entry.prediction.conflicts.map(processName)).map((name) => [...portLabels(entry), name]))),
    },
  ];
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** How many destinations get a series of their own: the busiest, those an alert is for. */
export const EPHEMERAL_DESTINATIONS = 10;

/**
 * `ephemeral --format prometheus`: the range, its use, and the busiest destinations. Every series
 * but the per-destination ones has a fixed label set; those are bounded to the
 * EPHEMERAL_DESTINATIONS busiest, and portclash_ephemeral_max_usage_ratio gives one stable series
 * to alert on whichever destination it is.
 */
export function ephemeralMetrics(report: EphemeralReport): MetricFamily[] {
  const { range } = report;
  const reserved = report.reserved.reduce((sum, [low, high]) => sum + Math.max(0, Math.min(high, range.high) - Math.max(low, range.low) + 1), 0);
  const single = (name: string, help: string, value: number): MetricFamily => ({ name, help, labels: [], samples: [{ values: [], value }] });
  const busiest = report.destinations.slice(0, EPHEMERAL_DESTINATIONS);
  const perDestination = (name: string, help: string, value: (destination: EphemeralReport['destinations'][number]) => number): MetricFamily => ({
    name,
    help: `${help} (the ${EPHEMERAL_DESTINATIONS} busiest destinations).`,
    labels: ['local_address', 'remote_address', 'remote_port'],
    samples: busiest.map((destination) => ({
      values: [destination.localAddress, destination.remoteAddress, String(destination.remotePort)],
      value: value(destination),
    })),
  });
  return [
    {
      name: 'portclash_ephemeral_range_info',
      help: 'The ephemeral port range connect() and bind(0) take local ports from (on Linux net.ipv4.ip_local_port_range), first and last port; always 1.',
      labels: ['low', 'high'],
      samples: [{ values: [String(range.low), String(range.high)], value: 1 }],
    },
    single('portclash_ephemeral_range_ports', 'Ports in the ephemeral range.', range.size),
    single(
      'portclash_ephemeral_reserved_ports',
      'Ports of the ephemeral range that are reserved (net.ipv4.ip_local_reserved_ports), which connect() never picks.',
      reserved,
    ),
    single(
      'portclash_ephemeral_bound_ports',
      'Ports of the ephemeral range that bind() holds (listeners, bound sockets), which connect() skips.',
      report.boundInRange,
    ),
    single('portclash_ephemeral_connections', 'Outgoing TCP connections on ephemeral ports, TIME_WAIT included.', report.outgoing),
    single('portclash_ephemeral_time_wait_connections', 'Outgoing TCP connections on ephemeral ports in TIME_WAIT.', report.timeWait),
    single(
      'portclash_ephemeral_destinations',
      'Destinations (local address, remote address and port) with outgoing connections on ephemeral ports.',
      report.destinations.length,
    ),
    single(
      'portclash_ephemeral_max_usage_ratio',
      "The busiest destination's connections over the ports it may use; at 1, connect() to it fails with EADDRNOTAVAIL (0 without connections).",
      report.destinations[0]?.usage ?? 0,
    ),
    perDestination(
      'portclash_ephemeral_destination_connections',
      'Outgoing TCP connections to the destination on ephemeral ports, TIME_WAIT included',
      (d) => d.connections,
    ),
    perDestination('portclash_ephemeral_destination_time_wait_connections', 'Connections to the destination in TIME_WAIT', (d) => d.timeWait),
    perDestination(
      'portclash_ephemeral_destination_available_ports',
      'Ports connect() may pick for the destination: the range less reserved and bound ports',
      (d) => d.available,
    ),
    perDestination(
      'portclash_ephemeral_destination_usage_ratio',
      "The destination's connections over its available ports; at 1, connect() to it fails with EADDRNOTAVAIL",
      (d) => d.usage,
    ),
  ];
}
