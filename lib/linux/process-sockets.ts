// The sockets one process (and its descendants) holds on Linux: its /proc/<pid>/fd links, matched against the tables by inode.
import { readdirSync, statSync } from 'node:fs';

import type { NativeBinding, OwnerQuery, OwnerScanResult, RowsCallback } from '../binding.js';
import { errnoName, fromAddon, fromAddonSync, PortclashError } from '../errors.js';
import type { ProcessInfo } from '../owners.js';
import type { SocketTables, SourceChoice, TableFilter } from '../platform.js';
import { ROW_SIZE, RowTable } from '../rows.js';
import { hasExited, parseParentPid, readProcessInfo } from './processes.js';
import { parseMountinfo, readText } from './procfs.js';
import type { NetPlace } from './netns.js';
import { readTables, readTablesSync, type RowsThrough } from './tables.js';

const READING_FDS = 'reading /proc/<pid>/fd';

/**
 * listSockets({ pid }): the process's fd links are read (on a worker thread) while the tables are,
 * and the tables' rows are kept by the inodes of its `socket:[inode]` links, before any record is
 * made. The tables are asked the narrowest question the other filters allow; the kernel has no
 * filter by inode.
 */
export async function readProcessTables(
  binding: NativeBinding,
  filter: TableFilter,
  choice: SourceChoice,
  place: NetPlace | null = null,
): Promise<SocketTables> {
  const pids = processesToRead(filter);
  const gate = new InodeGate();
  const scanning = fromAddon(READING_FDS, () => scanBinding(binding).findSocketOwners!(fdQuery(pids))).then((scan) => gate.open(socketInodes(scan, pids[0]!)));
  const [, tables] = await Promise.all([scanning, readTables(binding, filter, choice, gate.through, place)]);
  return tables;
}

/** readProcessTables on the calling thread: the fds first, then the tables. */
export function readProcessTablesSync(binding: NativeBinding, filter: TableFilter, choice: SourceChoice, place: NetPlace | null = null): SocketTables {
  const pids = processesToRead(filter);
  const gate = new InodeGate();
  gate.open(
    socketInodes(
      fromAddonSync(READING_FDS, () => scanBinding(binding).findSocketOwnersSync!(fdQuery(pids))),
      pids[0]!,
    ),
  );
  return readTablesSync(binding, filter, choice, gate.through, place);
}

function scanBinding(binding: NativeBinding): NativeBinding {
  if (binding.findSocketOwners === undefined || binding.findSocketOwnersSync === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', "this binding cannot read processes' fds");
  }
  return binding;
}

/** Every socket fd of these processes: the addon's owner scan, asked about them alone. */
function fdQuery(pids: readonly number[]): OwnerQuery {
  return { inodes: null, pids, stopWhenFound: false };
}

/** The pid asked about, then its descendants; ERR_NO_SUCH_PROCESS for a pid with no process. */
function processesToRead(filter: TableFilter): number[] {
  const pid = filter.pid!;
  if (!processExists(pid)) throw noSuchProcess(pid);
  // children name their parent by its thread group id, whichever thread forked them
  return filter.children === true ? [pid, ...descendantsOf(threadGroupOf(pid) ?? pid)] : [pid];
}

/** A live process (or thread: /proc/<tid> answers too, though /proc lists only processes); a zombie is not. */
function processExists(pid: number): boolean {
  try {
    if (!statSync(`/proc/${pid}`).isDirectory()) return false;
  } catch {
    return false;
  }
  return !hasExited(pid);
}

function noSuchProcess(pid: number): PortclashError {
  // hidepid=2 (invisible) and 4 (ptraceable) take other users' processes out of /proc altogether
  const proc = parseMountinfo(readText('/proc/self/mountinfo') ?? '').find((mount) => mount.mountpoint === '/proc');
  const hidden =
    proc !== undefined && /(?:^|,)hidepid=(?:2|invisible|4|ptraceable)(?:,|$)/.test(proc.superOptions)
      ? "; /proc is mounted with hidepid, which hides other users' processes, so it may be one of those"
      : '';
  return new PortclashError('ERR_NO_SUCH_PROCESS', `no process has pid ${pid} (it may have exited)${hidden}`, { path: `/proc/${pid}` });
}

/**
 * The inodes of the processes' socket fds. The first pid is the one asked about: if it is gone, or
 * any of them cannot be read, the answer would be a list with sockets missing, so it is an error.
 * A descendant that exited during the scan held nothing any more.
 */
function socketInodes(scan: OwnerScanResult, asked: number): Set<number> {
  if (scan.errno !== 0) {
    throw new PortclashError('ERR_PROC_UNREADABLE', `cannot read /proc to find a process's sockets: ${errnoName(scan.errno)}`, { path: '/proc' });
  }
  if (scan.cancelled === true) throw new PortclashError('ABORT_ERR', 'the fd scan was cancelled (the process or thread is exiting)');
  if (scan.vanishedPids?.includes(asked) === true || !processExists(asked)) throw noSuchProcess(asked);
  const denied = scan.deniedPids[0];
  if (denied !== undefined) {
    const rights = process.getuid?.() === 0 ? 'even root may not read them here' : "reading them needs root, or the owner's uid and ptrace rights";
    const which = denied === asked ? `process ${asked}` : `process ${denied}, a descendant of ${asked},`;
    throw new PortclashError('ERR_PROCESS_UNREADABLE', `cannot read the open files of ${which} (/proc/${denied}/fd): ${rights}`, {
      path: `/proc/${denied}/fd`,
    });
  }
  // OwnerRow (native/sockets.h): pid u32, fd i32, inode low u32, inode high u32, machine order
  const u32 = new Uint32Array(scan.rows, 0, scan.count * 4);
  const inodes = new Set<number>();
  for (let row = 0; row < scan.count; row++) inodes.add(u32[row * 4 + 3]! * 2 ** 32 + u32[row * 4 + 2]!);
  return inodes;
}

/**
 * Passes on only the rows of the process's sockets. Rows that come before its fds have been read
 * are kept back, copied (the addon may reuse a batch's buffer once its callback returns), until then.
 */
class InodeGate {
  private inodes: ReadonlySet<number> | null = null;
  private readonly held: { rows: ArrayBuffer; count: number }[] = [];
  private next: RowsCallback | null = null;

  readonly through: RowsThrough = (onRows) => {
    this.next = onRows;
    return (rows, count) => {
      if (this.inodes === null) this.held.push({ rows: rows.slice(0, count * ROW_SIZE), count });
      else this.pass(rows, count);
    };
  };

  open(inodes: ReadonlySet<number>): void {
    this.inodes = inodes;
    for (const { rows, count } of this.held.splice(0)) this.pass(rows, count);
  }

  private pass(rows: ArrayBuffer, count: number): void {
    const table = new RowTable(rows, count);
    const matching: number[] = [];
    for (let row = 0; row < count; row++) if (this.inodes!.has(table.inode(row))) matching.push(row);
    if (matching.length === 0) return;
    const from = new Uint8Array(rows, 0, count * ROW_SIZE);
    const kept = new Uint8Array(matching.length * ROW_SIZE);
    matching.forEach((row, index) => kept.set(from.subarray(row * ROW_SIZE, (row + 1) * ROW_SIZE), index * ROW_SIZE));
    this.next!(kept.buffer, matching.length);
  }
}

/** /proc/<pid>/status `Tgid:`: the process a thread belongs to. */
function threadGroupOf(pid: number): number | null {
  const tgid = /^Tgid:\s+(\d+)$/m.exec(readText(`/proc/${pid}/status`) ?? '')?.[1];
  return tgid === undefined ? null : Number(tgid);
}

/**
 * Every descendant of a process, from one read of each /proc/<pid>/stat's ppid: bounded by the
 * processes there are. A process that exits during the read is skipped; an orphan, reparented to
 * init or a subreaper, is no longer a descendant.
 */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const stat = readText(`/proc/${entry}/stat`);
    const ppid = stat === null ? null : parseParentPid(stat);
    if (ppid === null) continue;
    const siblings = children.get(ppid);
    if (siblings === undefined) children.set(ppid, [Number(entry)]);
    else siblings.push(Number(entry));
  }
  const found: number[] = [];
  const seen = new Set([pid]);
  for (let next = 0, queue = [pid]; next < queue.length; next++) {
    for (const child of children.get(queue[next]!) ?? []) {
      if (seen.has(child)) continue;
      seen.add(child);
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** The kernel keeps at most 15 bytes of a name (TASK_COMM_LEN 16, with its NUL). */
const COMM_BYTES = 15;

/**
 * The processes whose comm is exactly `name`, from one read of each /proc/<pid>/comm; not this one
 * (`portclash ports node` is not about portclash). Exact, never a substring: `node` is not
 * `nodemon`.
 */
export function findProcessesByName(name: string, options: { clockTicksPerSecond: number }): ProcessInfo[] {
  if (typeof name !== 'string' || name === '') throw new PortclashError('ERR_INVALID_ARGUMENT', 'a process name must be a non-empty string');
  if (Buffer.byteLength(name) > COMM_BYTES) {
    throw new PortclashError(
      'ERR_INVALID_ARGUMENT',
      `Linux keeps at most ${COMM_BYTES} bytes of a process's name (comm), so no process is named ${JSON.stringify(name)}; give its first ${COMM_BYTES} bytes, as ps -o comm shows them`,
    );
  }
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry) || Number(entry) === process.pid) continue;
    // comm is the name and a newline
    if (readText(`/proc/${entry}/comm`) !== `${name}\n` || hasExited(Number(entry))) continue;
    const info = readProcessInfo(Number(entry), options);
    if (info !== null) found.push(info);
  }
  return found.sort((a, b) => a.pid - b.pid);
}
