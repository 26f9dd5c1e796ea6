// Starts hostile.py's holders (one socket behind many fds, a deep fd list, a lingering close) and talks to them, for tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

const HOSTILE = fileURLToPath(new URL('./hostile.py', import.meta.url));

/** A process of hostile.py that answers one JSON line per request and ends when its stdin does. */
export interface HostileProcess<Report> {
  report: Report;
  /** The next line it prints, parsed; rejects after timeoutMs or when it exits first. */
  nextLine(timeoutMs?: number): Promise<unknown>;
  send(line: string): void;
  /** SIGKILL to its pid; resolves once Node has reaped it (its 'exit'), so /proc/<pid> is gone. */
  kill(): Promise<void>;
  /** Ends its stdin and awaits its exit; SIGKILL to its pid after a timeout. Safe to call twice. */
  close(): Promise<void>;
}

export interface DupsReport {
  pid: number;
  inode: number;
  port: number;
  /** Each process holding the listener: `fds` and every fd of `range` refer to it. */
  holders: { pid: number; fds: number[]; range: [number, number] }[];
}

export interface DeepReport {
  pid: number;
  /** A listener at `fd`, and at every fd of `range`. */
  low: { fd: number; inode: number; port: number; range: [number, number] };
  /** A listener at the one fd after `low.range`: the last entry of /proc/<pid>/fd. */
  high: { fd: number; inode: number; port: number };
}

export interface LingerReport {
  pid: number;
  fd: number;
  inode: number;
  port: number;
}

/** One listener held through `count` dups (and the original fd of each holder process). */
export function holdDups(count: number): Promise<HostileProcess<DupsReport>> {
  return start<DupsReport>(['dups', String(count)], 60_000);
}

/** Two listeners in one process, `high` listed after `count` fds of `low`. */
export function holdDeep(count: number): Promise<HostileProcess<DeepReport>> {
  return start<DeepReport>(['deep', String(count)], 10_000);
}

/** A connection whose last close waits out SO_LINGER {1, seconds}; send('close') closes the holder's fd. */
export function holdLinger(seconds: number): Promise<HostileProcess<LingerReport>> {
  return start<LingerReport>(['linger', String(seconds)], 10_000);
}

/** Every (pid, fd) through which the dups holder holds its listener. */
export function dupOwners(report: DupsReport): { pid: number; fd: number }[] {
  return report.holders.flatMap(({ pid, fds, range: [first, last] }) => [
    ...fds.map((fd) => ({ pid, fd })),
    ...Array.from({ length: last - first + 1 }, (_, index) => ({ pid, fd: first + index })),
  ]);
}

async function start<Report>(args: string[], timeoutMs: number): Promise<HostileProcess<Report>> {
  const child = spawn('python3', [HOSTILE, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: string[] = [];
  const waiting: (() => void)[] = [];
  const reader = createInterface({ input: child.stdout });
  reader.on('line', (line) => {
    lines.push(line);
    waiting.splice(0).forEach((wake) => wake());
  });
  child.on('exit', () => waiting.splice(0).forEach((wake) => wake()));
  const nextLine = async (waitMs = 10_000): Promise<unknown> => {
    const deadline = Date.now() + waitMs;
    // bounded: every turn either returns, throws, or waits for a line, the exit, or the deadline
    for (;;) {
      const line = lines.shift();
      if (line !== undefined) return JSON.parse(line) as unknown;
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`hostile.py ${args.join(' ')} exited; stderr: ${stderr.trim()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`hostile.py ${args.join(' ')} did not answer within ${waitMs} ms; stderr: ${stderr.trim()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= endChild(child));
  let report: Report;
  try {
    report = (await nextLine(timeoutMs)) as Report;
  } catch (error) {
    await close();
    throw error;
  }
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  return { report, nextLine, send: (line) => child.stdin.write(`${line}\n`), kill, close };
}

async function endChild(child: ChildProcessWithoutNullStreams, timeoutMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A Node child running a test script, with a socket to the addon's test seams on its fd 3. */
export interface SeamChild {
  pid: number;
  /** fd 3 of the child: the seam writes its pause byte there and awaits the answer. */
  seam: Readable & Writable;
  /** Settles with the exit code and signal; a guard kills the child after `guardMs`. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  stdout(): string;
  stderr(): string;
  /** Clears the guard; call once the child has exited. */
  dispose(): void;
}

/** Runs `script` as an ES module in a child Node process, fd 3 a socket to the test. */
export function spawnSeamChild(script: string, guardMs = 40_000): SeamChild {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  const guard = setTimeout(() => child.kill('SIGKILL'), guardMs);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return {
    pid: child.pid!,
    seam: child.stdio[3] as Readable & Writable,
    exited: once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>,
    stdout: () => stdout,
    stderr: () => stderr,
    dispose: () => clearTimeout(guard),
  };
}
