// The one file in lib/ that runs another program: netsh, for Windows' excluded port ranges and dynamic port range, which no documented API lists.
//
// `netsh interface ipv4|ipv6 show excludedportrange protocol=tcp|udp` and `… show dynamicport tcp|udp`
// print their headers in the system language (Spanish in microsoft/WSL#5306, Chinese in the fixtures),
// so only the numbers, the dashes under the headers and the `*` that marks an administered exclusion
// are read. test/fixtures/netsh/ holds real outputs from public threads, each with its source.
import { execFileSync } from 'node:child_process';

import type { PortRange } from '../ranges.js';
import type { Family, Protocol } from '../records.js';

/** One line of `show excludedportrange`: ports start–end, and whether an administrator added it (`*`). */
export interface ExcludedRange {
  start: number;
  end: number;
  /**
   * Marked `*` ("Administered port exclusions"): added with `netsh … add excludedportrange`. Those
   * keep Windows from handing the ports out dynamically but let an explicit bind through; the
   * unmarked ones are reservations that services (WinNAT, Hyper-V, Docker) hold, and a bind there
   * fails with WSAEACCES. See docs/bind-rules-windows.md#excluded-port-ranges.
   */
  administered: boolean;
}

/** What netsh answered, or why there is no answer. */
export type NetshAnswer<T> = { value: T } | { value: null; reason: string };

export interface NetshOptions {
  /**
   * The program to run instead of `netsh`, and arguments to put before netsh's own: tests point it
   * at a script that prints a fixture, exits 1 or hangs. Never a shell.
   */
  command?: { file: string; args?: readonly string[] };
  /** How long one netsh call may take (default NETSH_TIMEOUT_MS). */
  timeoutMs?: number;
}

/** netsh answers in well under a second; one that takes longer is stuck, and a prediction should not wait on it. */
export const NETSH_TIMEOUT_MS = 3000;

const IP_VERSION: Record<Family, string> = { IPv4: 'ipv4', IPv6: 'ipv6' };

export function excludedRangesArgs(family: Family, protocol: Protocol): string[] {
  return ['interface', IP_VERSION[family], 'show', 'excludedportrange', `protocol=${protocol}`];
}

export function dynamicPortArgs(family: Family, protocol: Protocol): string[] {
  return ['interface', IP_VERSION[family], 'show', 'dynamicport', protocol];
}

interface RunResult {
  stdout: string | null;
  failure?: string;
  timedOut?: boolean;
}

/** Runs netsh (or options.command) with `args`, without a shell and without a window, within the timeout. */
function runNetsh(args: readonly string[], options: NetshOptions): RunResult {
  const file = options.command?.file ?? 'netsh';
  const timeout = options.timeoutMs ?? NETSH_TIMEOUT_MS;
  const shown = `netsh ${args.join(' ')}`;
  try {
    // latin1 maps every byte to one character: netsh writes in the console's code page (850,
    // 936, …), and the digits, dashes and `*` read here are the same bytes in all of them.
    const stdout = execFileSync(file, [...(options.command?.args ?? []), ...args], {
      encoding: 'latin1',
      timeout,
      killSignal: 'SIGKILL',
      windowsHide: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 1024 * 1024,
    });
    return { stdout };
  } catch (error) {
    const failed = error as NodeJS.ErrnoException & { status?: number | null; signal?: string | null; stdout?: string; stderr?: string };
    if (failed.code === 'ETIMEDOUT') return { stdout: null, failure: `${shown} did not answer within ${timeout} ms`, timedOut: true };
    if (failed.code === 'ENOENT') return { stdout: null, failure: `${shown}: ${file} was not found (ENOENT)` };
    if (typeof failed.status === 'number') {
      const said = firstLine(failed.stderr ?? '') ?? firstLine(failed.stdout ?? '');
      return { stdout: null, failure: `${shown} exited with status ${failed.status}${said === null ? '' : `: ${said}`}` };
    }
    if (failed.signal) return { stdout: null, failure: `${shown} was killed by ${failed.signal}` };
    return { stdout: null, failure: `${shown} could not be run (${failed.code ?? failed.message})` };
  }
}

function firstLine(text: string): string | null {
  const line = text.split(/\r?\n/).find((candidate) => candidate.trim() !== '');
  return line === undefined ? null : line.trim().slice(0, 160);
}

const MAX_PORT = 65535;

/**
 * The table of `show excludedportrange`: after the dashes under the (translated) headers, one line
 * per range, `start end`, maybe followed by `*`; then a (translated) footnote starting with `*`.
 * Nothing at all is an empty table (wine prints nothing and exits 0); text without the dashes, or a
 * line in the table that is not a range, is not the table expected: null, with the reason.
 */
export function parseExcludedRanges(text: string): NetshAnswer<ExcludedRange[]> {
  if (text.trim() === '') return { value: [] };
  const lines = text.split(/\r?\n/);
  const dashes = lines.findIndex((line) => /^\s*-{3,}\s+-{3,}\s*$/.test(line));
  if (dashes === -1) return { value: null, reason: `netsh printed no table of port ranges (it said: ${firstLine(text)})` };
  const ranges: ExcludedRange[] = [];
  for (const line of lines.slice(dashes + 1)) {
    const trimmed = line.trim();
    // the footnote explains `*` in the system language: "* - Administered port exclusions."
    if (trimmed === '' || trimmed.startsWith('*')) continue;
    const fields = /^(\d{1,5})\s+(\d{1,5})(\s+\*)?$/.exec(trimmed);
    if (fields === null) return { value: null, reason: `netsh's table of port ranges has a line that is not a range: ${JSON.stringify(trimmed)}` };
    const start = Number(fields[1]);
    const end = Number(fields[2]);
    if (start > end || end > MAX_PORT) return { value: null, reason: `netsh listed a range that cannot be: ${start}–${end}` };
    ranges.push({ start, end, administered: fields[3] !== undefined });
  }
  return { value: ranges };
}

/**
 * `show dynamicport`: "Start Port : 49152" and "Number of Ports : 16384", translated; the two
 * numbers that end lines, in that order, give the range start … start + count − 1.
 */
export function parseDynamicPorts(text: string): NetshAnswer<PortRange> {
  const numbers = text
    .split(/\r?\n/)
    .map((line) => /(\d+)\s*$/.exec(line)?.[1])
    .filter((number): number is string => number !== undefined)
    .map(Number);
  if (numbers.length !== 2) {
    return {
      value: null,
      reason: `expected netsh to print two numbers (start port, number of ports), it printed ${numbers.length}${text.trim() === '' ? ' (no output)' : ''}`,
    };
  }
  const [start, count] = numbers as [number, number];
  const end = start + count - 1;
  if (start < 1 || count < 1 || end > MAX_PORT)
    return { value: null, reason: `netsh gave a dynamic port range that cannot be: start ${start}, ${count} ports` };
  return { value: [start, end] };
}

/**
 * The netsh questions of one reading of the facts: each asked at most once, and none after one
 * timed out (a netsh that hangs once hangs again, and each would cost the whole timeout).
 */
export class NetshSession {
  private readonly answers = new Map<string, RunResult>();
  private stuck: string | null = null;

  constructor(private readonly options: NetshOptions = {}) {}

  excludedRanges(family: Family, protocol: Protocol): NetshAnswer<ExcludedRange[]> {
    return this.ask(excludedRangesArgs(family, protocol), parseExcludedRanges);
  }

  dynamicPorts(family: Family, protocol: Protocol): NetshAnswer<PortRange> {
    return this.ask(dynamicPortArgs(family, protocol), parseDynamicPorts);
  }

  private ask<T>(args: string[], parse: (text: string) => NetshAnswer<T>): NetshAnswer<T> {
    const key = args.join(' ');
    let result = this.answers.get(key);
    if (result === undefined) {
      result = this.stuck === null ? runNetsh(args, this.options) : { stdout: null, failure: `netsh ${key} was not asked: ${this.stuck}` };
      if (result.timedOut === true) this.stuck = result.failure ?? 'netsh timed out';
      this.answers.set(key, result);
    }
    if (result.stdout === null) return { value: null, reason: result.failure ?? `netsh ${key} failed` };
    const parsed = parse(result.stdout);
    return 'reason' in parsed ? { value: null, reason: `netsh ${key}: ${parsed.reason}` } : parsed;
  }
}
