// Facts about one process from /proc/<pid>: name, argv, user, start time and service, each null when unreadable.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { PortclashError } from '../errors.js';
import type { ProcessInfo } from '../owners.js';
import { parseCgroupFile } from './cgroups.js';
import { dockerProxyRole } from './docker-proxy.js';
import { userName } from './users.js';

export interface ProcessInfoOptions {
  /** Where procfs is mounted; tests point it at a fixture tree. */
  procRoot?: string;
  /** sysconf(_SC_CLK_TCK), the unit of the start time in /proc/<pid>/stat; 100 on x86, Arm and most other ports. */
  clockTicksPerSecond?: number;
}

/**
 * What /proc says about `pid`, or null when there is no such process (any more).
 *
 * Each fact comes from its own file, read once, and a file that cannot be read leaves only its
 * fact null: other users' processes are unreadable under hidepid=1 and on hardened kernels, and
 * a process may exit between two reads. Nothing is inferred from a neighbouring file instead.
 */
export function readProcessInfo(pid: number, options: ProcessInfoOptions = {}): ProcessInfo | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `pid must be a positive integer, not ${String(pid)}`);
  }
  const procRoot = options.procRoot ?? '/proc';
  const clockTicksPerSecond = options.clockTicksPerSecond ?? 100;
  if (!Number.isSafeInteger(clockTicksPerSecond) || clockTicksPerSecond <= 0) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `clockTicksPerSecond must be a positive integer, not ${String(clockTicksPerSecond)}`);
  }
  const directory = join(procRoot, String(pid));
  if (isGone(directory)) return null;

  const comm = readProcFile(join(directory, 'comm'));
  const cmdline = readProcFile(join(directory, 'cmdline'));
  const status = readProcFile(join(directory, 'status'));
  const stat = readProcFile(join(directory, 'stat'));
  const cgroup = readProcFile(join(directory, 'cgroup'));
  // A process that exited after the first look and before any read is gone, not a process of
  // unknown everything; one that exited part-way keeps the facts already read.
  const reads = [comm, cmdline, status, stat, cgroup];
  if (reads.every((read) => read.gone) && isGone(directory)) return null;

  const name = comm.bytes === null ? null : parseComm(comm.bytes);
  const argv = cmdline.bytes === null ? [] : parseCmdline(cmdline.bytes);
  const uid = status.bytes === null ? null : parseEffectiveUid(status.bytes.toString('utf8'));
  const statText = stat.bytes === null ? null : stat.bytes.toString('utf8');
  const ticks = statText === null ? null : parseStartTicks(statText);
  const bootTime = ticks === null ? null : readBootTime(procRoot);
  const info: ProcessInfo = {
    pid,
    ppid: statText === null ? null : parseParentPid(statText),
    name,
    cmdline: argv,
    command: argv.length > 0 ? argv.join(' ') : name === null ? '' : `[${name}]`,
    uid,
    user: uid === null ? null : userName(uid),
    startTime: ticks === null || bootTime === null ? null : new Date(bootTime * 1000 + (ticks * 1000) / clockTicksPerSecond),
    service: cgroup.bytes === null ? null : parseCgroupFile(cgroup.bytes.toString('utf8')),
  };
  if (name === 'docker-proxy') info.role = dockerProxyRole(argv);
  return info;
}

/**
 * Whether `pid` is a zombie (or dead): it has exited, and only its parent's wait() is left. Its
 * /proc entry remains until then, with every fd closed.
 */
export function hasExited(pid: number, procRoot = '/proc'): boolean {
  const { bytes } = readProcFile(join(procRoot, String(pid), 'stat'));
  if (bytes === null) return false;
  const stat = bytes.toString('utf8');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/** /proc/<pid>/comm: the name and a newline. The name itself may hold any byte but NUL, newlines too. */
export function parseComm(bytes: Buffer): string {
  const text = bytes.toString('utf8');
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/**
 * /proc/<pid>/cmdline: the arguments, each ended by a NUL. A process that rewrites its title
 * (process.title, setproctitle, nginx, postgres) writes one string over the old argv area and
 * fills the rest with NULs, so a run of trailing NULs is padding, not empty arguments: ps reads
 * it the same way. The price is that a genuinely empty last argument (`prog ''`) is dropped.
 * A title written with spaces stays one string: where its words begin is the process's business.
 */
export function parseCmdline(bytes: Buffer): string[] {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0) return [];
  return bytes.subarray(0, end).toString('utf8').split('\0');
}

/** The effective uid from /proc/<pid>/status: `Uid:` lists real, effective, saved set and filesystem uids. */
export function parseEffectiveUid(status: string): number | null {
  const effective = /^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1];
  return effective === undefined ? null : Number(effective);
}

/**
 * Field 22 of /proc/<pid>/stat, starttime: clock ticks from boot to the process's start.
 */
export function parseStartTicks(stat: string): number | null {
  return statField(stat, STARTTIME_FIELD);
}

/** Field 4 of /proc/<pid>/stat, ppid: the parent's pid, 0 for the processes the kernel starts itself (init, kthreadd). */
export function parseParentPid(stat: string): number | null {
  return statField(stat, PPID_FIELD);
}

/**
 * A numeric field of /proc/<pid>/stat, counted from 1. Field 2 is the name in parentheses, and a
 * name may hold spaces and parentheses (`a) (b`), so the fields are counted from the last `)`,
 * which the kernel always writes last in field 2.
 */
function statField(stat: string, number: number): number | null {
  const close = stat.lastIndexOf(')');
  if (close === -1) return null;
  // after `) ` come field 3 (state) onward
  const field = stat.slice(close + 2).split(' ')[number - 3];
  if (field === undefined || !DECIMAL.test(field)) return null;
  const value = Number(field);
  return Number.isSafeInteger(value) ? value : null;
}

const PPID_FIELD = 4;
const STARTTIME_FIELD = 22;
const DECIMAL = /^\d+$/;

/** Boot time in seconds since the epoch, per procfs mount; only successful reads are kept. */
const bootTimes = new Map<string, number>();

/**
 * `btime` in /proc/stat. The kernel derives it from the wall clock, so it moves when the clock
 * is stepped; ps does the same sum, so start times agree with ps's.
 */
function readBootTime(procRoot: string): number | null {
  const cached = bootTimes.get(procRoot);
  if (cached !== undefined) return cached;
  const { bytes } = readProcFile(join(procRoot, 'stat'));
  const btime = bytes === null ? undefined : /^btime (\d+)$/m.exec(bytes.toString('utf8'))?.[1];
  if (btime === undefined) return null;
  const seconds = Number(btime);
  bootTimes.set(procRoot, seconds);
  return seconds;
}

interface ProcRead {
  bytes: Buffer | null;
  /** The read failed because the file (and likely the process) no longer exists. */
  gone: boolean;
}

/** ESRCH: some /proc files answer it when their task has exited but its directory is still open. */
const GONE_CODES: ReadonlySet<string> = new Set(['ENOENT', 'ESRCH']);

function readProcFile(path: string): ProcRead {
  try {
    return { bytes: readFileSync(path), gone: false };
  } catch (error) {
    return { bytes: null, gone: GONE_CODES.has(errorCode(error)) };
  }
}

/** Whether the process's directory is gone; any other failure to look leaves the question to the reads. */
function isGone(directory: string): boolean {
  try {
    return !statSync(directory).isDirectory();
  } catch (error) {
    return GONE_CODES.has(errorCode(error)) || errorCode(error) === 'ENOTDIR';
  }
}

function errorCode(error: unknown): string {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : '';
}
