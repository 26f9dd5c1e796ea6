// May portclash read another process's socket options, and if not, why: the one decision, re-tagging (sockettags.ts) and getsockopt programs (here).
import { constants } from 'node:os';

import { getBinding, type NativeBinding } from '../binding.js';
import { cgroup2Mountpoint, findCgroupDirectories } from './cgroupfs.js';
import { errnoName } from '../errors.js';
import { readText } from './procfs.js';
import { whyReadingRetags, whyUnseen, type SocketTagFacts, type TaggedSocket } from './sockettags.js';

/**
 * getsockopt() runs the cgroup-BPF BPF_CGROUP_GETSOCKOPT programs of the socket's cgroup v2, not
 * the caller's (kernel/bpf/cgroup.c, __cgroup_bpf_run_filter_getsockopt: sock_cgroup_ptr of the
 * socket), after the kernel has read the option. It runs them under lock_sock(): a read waits for
 * whatever the owner does with its socket meanwhile. They may rewrite the value and the return code
 * (a confident wrong answer), and create state on the socket (bpf_sk_storage_get with F_CREATE). So
 * portclash reads a socket's options only where no such program applies to the socket's cgroup.
 */
export type GetsockoptPrograms =
  | { count: number }
  // not counted: the call that failed and its errno name; both null where no cgroup v2 is mounted
  | { count: null; syscall: string | null; errno: string | null };

/** The socket facts the decision needs: where the record came from, and the cgroup sock_diag reported. */
export interface ReadableSocket extends TaggedSocket {
  cgroupId?: number;
}

/**
 * Counts the getsockopt programs of each cgroup id once: a search asks about the few sockets on a
 * port, which share one or two cgroups, so this is one open and one bpf() per distinct cgroup.
 */
export class GetsockoptProgramCounter {
  private readonly counts = new Map<number, GetsockoptPrograms>();

  /** `mountpoint`: the cgroup v2 hierarchy's top, null for none; read from mountinfo when first needed. */
  constructor(
    private readonly binding: Pick<NativeBinding, 'cgroupGetsockoptHooks' | 'cgroupGetsockoptHooksAt'> = getBinding(),
    private mountpoint?: string | null,
  ) {}

  count(cgroupId: number): GetsockoptPrograms {
    let counted = this.counts.get(cgroupId);
    if (counted === undefined) {
      counted = this.countNow(cgroupId);
      this.counts.set(cgroupId, counted);
    }
    return counted;
  }

  private countNow(cgroupId: number): GetsockoptPrograms {
    // null is an answer (no cgroup v2 here), read once like the rest
    if (this.mountpoint === undefined) this.mountpoint = cgroup2Mountpoint(readText('/proc/self/mountinfo') ?? '');
    const mountpoint = this.mountpoint;
    if (mountpoint === null) return { count: null, syscall: null, errno: null };
    const byId = this.binding.cgroupGetsockoptHooks;
    const atPath = this.binding.cgroupGetsockoptHooksAt;
    if (byId === undefined || atPath === undefined) return { count: null, syscall: 'cgroupGetsockoptHooks', errno: 'ENOSYS' };
    let reading = byId(mountpoint, cgroupId);
    // without CAP_DAC_READ_SEARCH, the directory of that id, found by a walk of the hierarchy
    if (reading.syscall === 'open_by_handle_at' && reading.errno === constants.errno.EPERM) {
      const directory = findCgroupDirectories(mountpoint, new Set([cgroupId])).get(cgroupId);
      if (directory !== undefined) reading = atPath(directory);
    }
    if (reading.count !== null) return { count: reading.count };
    // no bpf() (ENOSYS), or no cgroup BPF or no getsockopt hook in this kernel (EINVAL): no program can run
    if (reading.syscall === 'bpf' && (reading.errno === constants.errno.ENOSYS || reading.errno === constants.errno.EINVAL)) return { count: 0 };
    return { count: null, syscall: reading.syscall ?? 'reading them', errno: errnoName(reading.errno) };
  }
}

/**
 * Why portclash must not duplicate `socket` to read its options, or null when it may: the
 * duplicate would re-tag it (whyReadingRetags), or getsockopt on it would run programs of its
 * cgroup, or whether it would cannot be told. The re-tag rule goes first: it costs no system call.
 */
export function whyOptionsStayUnread(socket: ReadableSocket, tags: SocketTagFacts, programs: GetsockoptProgramCounter): string | null {
  const retags = whyReadingRetags(socket, tags);
  if (retags !== null) return retags;
  if (socket.cgroupId === undefined) {
    return `its cgroup v2 cannot be seen (${whyUnseen(socket)}), so whether getsockopt() on it would run cgroup-BPF programs of its cgroup cannot be told`;
  }
  return whyGetsockoptProgramsBar(socket.cgroupId, programs.count(socket.cgroupId));
}

/** The reason the count gives, or null when no getsockopt program applies to the cgroup. */
export function whyGetsockoptProgramsBar(cgroupId: number, counted: GetsockoptPrograms): string | null {
  const programs = 'cgroup-BPF getsockopt programs (BPF_CGROUP_GETSOCKOPT)';
  if (counted.count === 0) return null;
  if (counted.count !== null) {
    const many = counted.count === 1 ? '1 cgroup-BPF getsockopt program (BPF_CGROUP_GETSOCKOPT) runs' : `${counted.count} ${programs} run`;
    return `${many} for sockets of its cgroup v2 (id ${cgroupId}): getsockopt() on it would run them under its socket lock, and they may rewrite the value read or change the socket`;
  }
  if (counted.errno === null) return `no cgroup v2 hierarchy is mounted here, so the ${programs} that getsockopt() on it would run cannot be counted`;
  if (counted.syscall === 'open_by_handle_at' && counted.errno === 'ESTALE') {
    return `its cgroup v2 (id ${cgroupId}) has been removed, and the ${programs} that still run for its sockets cannot be counted`;
  }
  const needs =
    counted.errno !== 'EPERM' && counted.errno !== 'EACCES'
      ? ''
      : counted.syscall === 'bpf'
        ? ' (counting needs CAP_NET_ADMIN)'
        : counted.syscall === 'open_by_handle_at'
          ? ' (opening a cgroup by id needs CAP_DAC_READ_SEARCH)'
          : '';
  return `the ${programs} of its cgroup v2 (id ${cgroupId}) cannot be counted: ${counted.syscall} failed with ${counted.errno}${needs}`;
}
