// Whether duplicating another process's socket (pidfd_getfd) would re-tag it: the net_cls classid and net_prio index a receive overwrites.
import type { SocketSource } from '../records.js';
import { parseMountinfo, readText } from './procfs.js';

/**
 * Receiving a socket's file — through pidfd_getfd as through SCM_RIGHTS — runs the kernel's
 * __receive_sock (fs/file.c), which sets the socket's net_cls classid and net_prio index to the
 * receiver's (sock_update_classid, sock_update_netprioidx). Traffic control (`tc` cgroup filters),
 * `iptables -m cgroup --cgroup` and VPN split tunnels classify a server's packets by those tags, so
 * reading a server's socket options that way would change how its traffic is treated. These are
 * the facts that tell when the receive writes exactly what the socket already carries.
 */
export interface SocketTagFacts {
  /**
   * Cgroups of each controller in its v1 hierarchy (/proc/cgroups `num_cgroups`), 1 where it is in
   * none; null when the kernel has no such controller (then nothing tags sockets with it), undefined
   * when /proc/cgroups cannot be read.
   */
  netClsCgroups: number | null | undefined;
  netPrioCgroups: number | null | undefined;
  /** This process's own net_cls classid, from its cgroup's `net_cls.classid`; null when it cannot be read. */
  ownClassId: number | null;
}

/** The socket facts the decision needs: the class id sock_diag reported, and where the record came from. */
export interface TaggedSocket {
  classId?: number;
  source: SocketSource;
}

export function readSocketTagFacts(): SocketTagFacts {
  const counts = parseCgroupCounts(readText('/proc/cgroups'));
  const netClsCgroups = counts === undefined ? undefined : (counts.get('net_cls') ?? null);
  const netPrioCgroups = counts === undefined ? undefined : (counts.get('net_prio') ?? null);
  // only needed where net_cls has cgroups besides its root, so only read then
  const ownClassId = typeof netClsCgroups === 'number' && netClsCgroups > 1 ? readOwnClassId() : null;
  return { netClsCgroups, netPrioCgroups, ownClassId };
}

/**
 * Why duplicating `socket` could change its tags, or null when it provably cannot: the receive
 * then writes the values the socket already has.
 *
 * net_cls: sock_diag's INET_DIAG_CLASS_ID is the socket's classid, or its SO_PRIORITY where the
 * classid is 0 (inet_diag_msg_attrs_fill), so only a reported 0 proves a classid of 0; the receive
 * writes this process's classid, which is 0 where net_cls has no cgroup but its root (every
 * process is then in the root, whose classid the socket's 0 shows) or where our own cgroup's
 * `net_cls.classid` reads 0.
 *
 * net_prio: no interface shows a socket's priority index. Where net_prio has no cgroup but its
 * root, every process is in the root and every socket carries the root's index, which is the one
 * the receive writes; otherwise the socket's index cannot be known, so reading is declined.
 *
 * Not covered: a socket whose tags were set in a cgroup since removed while another process in the
 * root kept the socket, where the counts say one cgroup but the socket still carries the old tag.
 */
export function whyReadingRetags(socket: TaggedSocket, facts: SocketTagFacts): string | null {
  const duplicating = 'duplicating the socket through pidfd_getfd would set';
  if (facts.netClsCgroups === undefined) {
    return `/proc/cgroups cannot be read, so whether ${duplicating} its net_cls classid and net_prio index to this process's cannot be told`;
  }
  if (facts.netClsCgroups !== null) {
    if (socket.classId === undefined) {
      return `its net_cls classid cannot be seen (${whyUnseen(socket)}), and ${duplicating} it to this process's`;
    }
    if (socket.classId !== 0) {
      return `it reports net_cls class id ${hex(socket.classId)} (its classid, or its SO_PRIORITY), and ${duplicating} its classid to this process's`;
    }
    if (facts.netClsCgroups > 1 && facts.ownClassId !== 0) {
      return facts.ownClassId === null
        ? `net_cls has ${facts.netClsCgroups} cgroups and this process's own classid cannot be read, so ${duplicating} its classid, 0, to a value not known`
        : `${duplicating} its net_cls classid, 0, to this process's, ${hex(facts.ownClassId)}`;
    }
  }
  if (facts.netPrioCgroups !== null && facts.netPrioCgroups !== undefined && facts.netPrioCgroups > 1) {
    return `net_prio has ${facts.netPrioCgroups} cgroups, and ${duplicating} its net_prio index, which no interface shows, to this process's`;
  }
  return null;
}

/** Why sock_diag's facts of a socket are missing: which source answered for it says. */
export function whyUnseen(socket: TaggedSocket): string {
  return socket.source === 'proc' ? 'only /proc answered, and it does not show it' : 'the kernel did not report it';
}

/**
 * /proc/cgroups: `#subsys_name hierarchy num_cgroups enabled` → name → cgroups of that controller;
 * undefined when unreadable. A controller in no v1 hierarchy (hierarchy 0) counts 1: net_cls and
 * net_prio cannot be enabled on cgroup v2 (they have no dfl_cftypes), so every process is in their
 * root there, whatever `num_cgroups` says: kernels without the 2024 fix "cgroup: Fix /proc/cgroups
 * count for v2" print the number of every cgroup v2 cgroup for them.
 */
export function parseCgroupCounts(text: string | null): Map<string, number> | undefined {
  if (text === null) return undefined;
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, hierarchy, cgroups, enabled] = line.split('\t');
    if (name === undefined || name.startsWith('#') || enabled === undefined || hierarchy === undefined) continue;
    const count = hierarchy === '0' ? 1 : Number(cgroups);
    // a disabled controller (cgroup_disable=) tags nothing
    if (Number.isInteger(count) && enabled.trim() === '1') counts.set(name, count);
  }
  return counts;
}

/**
 * `net_cls.classid` of this process's cgroup in the net_cls hierarchy, through a mount of that
 * hierarchy in this mount namespace; null when it has no v1 net_cls cgroup or none is mounted here.
 */
function readOwnClassId(): number | null {
  const line = (readText('/proc/self/cgroup') ?? '').split('\n').find((entry) => entry.split(':')[1]?.split(',').includes('net_cls'));
  const path = line?.split(':').slice(2).join(':');
  if (path === undefined) return null;
  for (const mount of parseMountinfo(readText('/proc/self/mountinfo') ?? '')) {
    if (mount.fstype !== 'cgroup' || !mount.superOptions.split(',').includes('net_cls')) continue;
    const root = mount.root === '/' ? '' : mount.root;
    if (path !== root && !path.startsWith(`${root}/`)) continue;
    const value = Number((readText(`${mount.mountpoint}${path.slice(root.length)}/net_cls.classid`) ?? '').trim() || NaN);
    if (Number.isInteger(value)) return value;
  }
  return null;
}

function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
