// Sockets Node cannot make, held by a helper process; network namespaces; the no_netlink wrapper, for tests.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { wrapInCgroup } from './cgroup.js';

const HOLD_SOCKETS = fileURLToPath(new URL('./hold_sockets.py', import.meta.url));

/** One socket for hold_sockets.py to create; see the usage at the top of that file. */
export interface SocketSpec {
  protocol: 'tcp' | 'udp';
  family: 4 | 6;
  address: string;
  /** 0 (the default) lets the kernel choose. */
  port?: number;
  reuseAddr?: boolean;
  reusePort?: boolean;
  /** Family 6 only. Always set on IPv6 sockets (false by default), so net.ipv6.bindv6only does not matter. */
  ipv6Only?: boolean;
  bindToDevice?: string;
  /** tcp only; without it a tcp socket is bound and nothing more (invisible to /proc/net/tcp and ss). */
  listen?: boolean;
  backlog?: number;
  /** After bind; for tcp the peer must be a listener the test made. */
  connect?: { address: string; port: number };
  /**
   * tcp: the holder plays both ends of one loopback connection through this socket (a wildcard is
   * reached through its family's loopback). `established`: listen, connect, accept, hold all three;
   * `accepted`: the same with the listener closed; `serverTimeWait`: then the accepted side closes
   * first; `clientTimeWait`: this socket is a client bound as given, connected to a listener of the
   * holder's own, and closes first. The TIME_WAIT modes report a {@link TimeWaitSocket} once
   * /proc/net/tcp* shows it; the others report the accepted socket with the client as `peer`.
   */
  selfConnect?: 'established' | 'accepted' | 'serverTimeWait' | 'clientTimeWait';
}

/** A socket the holder created and holds. */
export interface OpenSocket {
  fd: number;
  inode: number;
  localAddress: string;
  localPort: number;
  remoteAddress?: string;
  remotePort?: number;
  /** selfConnect `established`/`accepted`: the client end the holder also holds. */
  peer?: OpenSocket;
}

/** A TIME_WAIT the holder left behind (selfConnect); no file holds it and the kernel ends it. */
export interface TimeWaitSocket {
  fd: null;
  inode: 0;
  state: 'TIME_WAIT';
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
}

/** A socket whose setup failed; the holder closed it, so it holds nothing. */
export interface FailedSocket {
  fd: null;
  inode: null;
  /** errno name, e.g. EADDRINUSE */
  error: string;
  /** `timeWait`: the TIME_WAIT never showed in /proc/net/tcp* (error ETIMEDOUT). */
  syscall: 'setsockopt' | 'bind' | 'listen' | 'connect' | 'accept' | 'shutdown' | 'timeWait';
}

export type HeldSocket = OpenSocket | FailedSocket | TimeWaitSocket;

export interface Holder {
  pid: number;
  /** The holder's uid when it reported; with dropAfter its sockets keep the uid that created them. */
  uid: number;
  /** In spec order. */
  sockets: HeldSocket[];
  /** The socket at `index`, or an error naming why the holder could not make it. */
  socket(index: number): OpenSocket;
  /** The TIME_WAIT the spec at `index` left (selfConnect), or an error naming why there is none. */
  timeWait(index: number): TimeWaitSocket;
  /** Ends the holder's stdin and waits for it to exit (SIGKILL after a timeout). Safe to call twice. */
  close(): Promise<void>;
}

export interface HoldOptions {
  /** A netns file (e.g. `Netns.path`) to create the sockets in, entered with `nsenter --net=`. */
  netns?: string;
  /** A cgroup v2 directory to run the holder in (see createChildCgroup; needs root). */
  cgroup?: string;
  /** Create the sockets as this user (the holder drops privileges first; needs root). */
  user?: string;
  /** With `user`: create the sockets as the current user, then drop privileges. */
  dropAfter?: boolean;
  /**
   * With `user`: be dumpable again after dropping privileges, like a process started as that user. The
   * kernel makes a process that changed its uid non-dumpable, so that only CAP_SYS_PTRACE, not the same
   * user, may pidfd_getfd its sockets (and read their SO_REUSEADDR).
   */
  dumpable?: boolean;
  /** How long to wait for the holder's report; 10 s by default. */
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Netns {
  /** `/proc/<pid>/ns/net` of the process that keeps the namespace alive. */
  path: string;
  pid: number;
  /** The argv that runs `command` inside the namespace, for callers that spawn it themselves. */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] };
  run(command: string, args: readonly string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  /** Runs this Node binary inside the namespace. */
  runNode(args: readonly string[], options?: { timeoutMs?: number }): Promise<RunResult>;
  close(): Promise<void>;
}

type HelperName = 'no_netlink' | 'bind_hook' | 'getsockopt_hook';

const compiled = new Map<HelperName, string>();

/**
 * Compiles test/helpers/<name>.c once per process and returns the binary's path. The binary is named by a
 * hash of its source and flags, so parallel test workers share one build and an edited source rebuilds.
 */
export function compileHelper(name: HelperName): string {
  const cached = compiled.get(name);
  if (cached !== undefined) return cached;
  const source = fileURLToPath(new URL(`./${name}.c`, import.meta.url));
  const flags = ['-O2', '-Wall'];
  const digest = createHash('sha256').update(readFileSync(source)).update(flags.join(' ')).digest('hex').slice(0, 16);
  const directory = helperDirectory();
  const binary = join(directory, `${name}-${digest}`);
  if (!existsSync(binary)) {
    // Compile beside the target and rename: rename is atomic, so a worker never runs a half-written binary.
    const partial = `${binary}.${process.pid}.partial`;
    try {
      execFileSync('cc', [...flags, '-o', partial, source], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      throw new Error(`could not compile ${source} with cc (a C compiler and Linux headers are needed): ${describeExecError(error)}`, { cause: error });
    }
    renameSync(partial, binary);
  }
  compiled.set(name, binary);
  return binary;
}

/** A per-user directory under the temp dir; it must be ours, since we run what it holds. */
function helperDirectory(): string {
  const uid = process.getuid?.() ?? 0;
  const directory = join(tmpdir(), `portclash-helpers-${uid}`);
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  const stats = statSync(directory);
  if (stats.uid !== uid || (stats.mode & 0o022) !== 0) {
    throw new Error(`${directory} is not a private directory of uid ${uid}; remove it and run again`);
  }
  return directory;
}

function describeExecError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const stderr = 'stderr' in error && Buffer.isBuffer(error.stderr) ? error.stderr.toString().trim() : '';
  return stderr === '' ? error.message : stderr;
}

/** Starts hold_sockets.py with `sockets` and resolves once every socket exists (or has failed). */
export async function holdSockets(sockets: readonly SocketSpec[], options: HoldOptions = {}): Promise<Holder> {
  const spec =
    options.user === undefined ? sockets : { user: options.user, dropAfter: options.dropAfter ?? false, dumpable: options.dumpable ?? false, sockets };
  const python = [HOLD_SOCKETS, JSON.stringify(spec)];
  // nsenter with only --net execs the program without forking, and so does the shell that moves
  // itself into the cgroup: the child's pid is the holder's.
  let argv = ['python3', ...python];
  if (options.netns !== undefined) argv = ['nsenter', `--net=${options.netns}`, ...argv];
  if (options.cgroup !== undefined) {
    const wrapped = wrapInCgroup(options.cgroup, argv[0]!, argv.slice(1));
    argv = [wrapped.command, ...wrapped.args];
  }
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const line = await firstLine(child, 'hold_sockets.py', options.timeoutMs ?? 10_000);
  let report: ReturnType<typeof parseReport>;
  try {
    report = parseReport(line);
  } catch (error) {
    await endChild(child);
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    ...report,
    socket(index) {
      const held = heldAt(report.sockets, index);
      if ('state' in held) throw new Error(`the holder's socket ${index} is a TIME_WAIT; use timeWait(${index})`);
      return held;
    },
    timeWait(index) {
      const held = heldAt(report.sockets, index);
      if (!('state' in held)) throw new Error(`the holder's socket ${index} is open, not a TIME_WAIT`);
      return held;
    },
    close() {
      closing ??= endChild(child);
      return closing;
    },
  };
}

/** The socket at `index` that exists (open or TIME_WAIT); throws naming the failure otherwise. */
function heldAt(sockets: readonly HeldSocket[], index: number): OpenSocket | TimeWaitSocket {
  const held = sockets[index];
  if (held === undefined) throw new Error(`the holder has no socket ${index}`);
  if ('error' in held) throw new Error(`the holder's socket ${index} failed: ${held.syscall} ${held.error}`);
  return held;
}

/**
 * Creates a network namespace of the test's own, with only `lo`, up. The namespace lives while a `cat`
 * inside it reads its stdin; close() ends that stdin. Entering it needs root (CAP_SYS_ADMIN).
 */
export async function createNetns(options: { timeoutMs?: number } = {}): Promise<Netns> {
  // unshare without --fork unshares and then execs, and sh execs cat: one pid throughout, whose
  // /proc/<pid>/ns/net names the namespace for nsenter.
  const child = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && echo ready && exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const line = await firstLine(child, 'unshare --net', options.timeoutMs ?? 10_000);
  if (line !== 'ready' || child.pid === undefined) {
    await endChild(child);
    throw new Error(`unshare --net said ${JSON.stringify(line)}, not "ready"`);
  }
  const path = `/proc/${child.pid}/ns/net`;
  const wrap = (command: string, args: readonly string[]) => ({ command: 'nsenter', args: [`--net=${path}`, command, ...args] });
  let closing: Promise<void> | undefined;
  return {
    path,
    pid: child.pid,
    wrap,
    run(command, args, runOptions = {}) {
      const wrapped = wrap(command, args);
      return runCommand(wrapped.command, wrapped.args, runOptions);
    },
    runNode(args, runOptions = {}) {
      const wrapped = wrap(process.execPath, args);
      return runCommand(wrapped.command, wrapped.args, runOptions);
    },
    close() {
      closing ??= endChild(child);
      return closing;
    },
  };
}

/**
 * Loads an nftables ruleset into the namespace: `nft -f` of a temporary file, removed after. Resolves
 * with nft's result, for the caller to check.
 */
export async function loadRuleset(netns: Netns, ruleset: string, options: { timeoutMs?: number } = {}): Promise<RunResult> {
  const directory = mkdtempSync(join(tmpdir(), 'portclash-nft-'));
  try {
    const file = join(directory, 'ruleset.nft');
    writeFileSync(file, ruleset);
    return await netns.run('nft', ['-f', file], options);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Runs this Node binary with `args` inside the cgroup at `directory` (see createChildCgroup), to its end. */
export function runNodeInCgroup(directory: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
  const wrapped = wrapInCgroup(directory, process.execPath, args);
  return runCommand(wrapped.command, wrapped.args, options);
}

/** Runs a command to its end; a non-zero exit is a result, not a rejection. */
export function runCommand(command: string, args: readonly string[], options: { timeoutMs?: number } = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The child's first stdout line; rejects with its stderr if it exits, fails to start, or is too slow. */
function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const finish = (error: Error | null, line?: string) => {
      clearTimeout(timer);
      child.stdout?.off('data', onStdout);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining both pipes, so a chatty child never blocks on a full one.
      child.stdout?.resume();
      if (error !== null) reject(error);
      else resolve(line ?? '');
    };
    const onStdout = (chunk: string) => {
      stdout += chunk;
      const end = stdout.indexOf('\n');
      if (end !== -1) finish(null, stdout.slice(0, end));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`${what} exited (${signal ?? `code ${code}`}) before reporting; stderr: ${stderr.trim()}`));
    const onError = (error: Error) => finish(new Error(`${what} could not start: ${error.message}`));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new Error(`${what} did not report within ${timeoutMs} ms; stderr: ${stderr.trim()}`));
    }, timeoutMs);
    child.stdout?.setEncoding('utf8').on('data', onStdout);
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

/** Ends the child's stdin and awaits its exit; SIGKILL to its pid if it has not gone in time. */
async function endChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

function parseReport(line: string): { pid: number; uid: number; sockets: HeldSocket[] } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`hold_sockets.py printed something that is not JSON: ${line}`);
  }
  if (!isRecord(value) || typeof value.pid !== 'number' || typeof value.uid !== 'number' || !Array.isArray(value.sockets)) {
    throw new Error(`hold_sockets.py printed an unexpected report: ${line}`);
  }
  const sockets = value.sockets.map((entry: unknown, index): HeldSocket => {
    if (isRecord(entry) && typeof entry.error === 'string' && typeof entry.syscall === 'string') {
      return { fd: null, inode: null, error: entry.error, syscall: entry.syscall as FailedSocket['syscall'] };
    }
    if (
      isRecord(entry) &&
      entry.state === 'TIME_WAIT' &&
      typeof entry.localAddress === 'string' &&
      typeof entry.localPort === 'number' &&
      typeof entry.remoteAddress === 'string' &&
      typeof entry.remotePort === 'number'
    ) {
      const { localAddress, localPort, remoteAddress, remotePort } = entry;
      return { fd: null, inode: 0, state: 'TIME_WAIT', localAddress, localPort, remoteAddress, remotePort };
    }
    const open = parseOpenSocket(entry);
    if (open === undefined) throw new Error(`hold_sockets.py reported an unexpected socket ${index}: ${JSON.stringify(entry)}`);
    return open;
  });
  return { pid: value.pid, uid: value.uid, sockets };
}

function parseOpenSocket(entry: unknown): OpenSocket | undefined {
  if (
    !isRecord(entry) ||
    typeof entry.fd !== 'number' ||
    typeof entry.inode !== 'number' ||
    typeof entry.localAddress !== 'string' ||
    typeof entry.localPort !== 'number'
  ) {
    return undefined;
  }
  const open: OpenSocket = { fd: entry.fd, inode: entry.inode, localAddress: entry.localAddress, localPort: entry.localPort };
  if (typeof entry.remoteAddress === 'string' && typeof entry.remotePort === 'number') {
    open.remoteAddress = entry.remoteAddress;
    open.remotePort = entry.remotePort;
  }
  const peer = entry.peer === undefined ? undefined : parseOpenSocket(entry.peer);
  if (peer !== undefined) open.peer = peer;
  return open;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
