// When duplicating another process's socket would re-tag it: the decision alone, on given facts.
import { describe, expect, it } from 'vitest';

import { parseCgroupCounts, whyReadingRetags, type SocketTagFacts } from '../lib/linux/sockettags.js';

// as a host with cgroup v2 only (or v1 without these controllers mounted) shows them
const untouched: SocketTagFacts = { netClsCgroups: 1, netPrioCgroups: 1, ownClassId: null };

describe('whyReadingRetags', () => {
  const cases: { name: string; socket: { classId?: number; source: 'sock_diag' | 'proc' }; facts: SocketTagFacts; retags: string | null }[] = [
    { name: 'class id 0, only root cgroups', socket: { classId: 0, source: 'sock_diag' }, facts: untouched, retags: null },
    {
      name: 'a kernel without net_cls and net_prio',
      socket: { source: 'proc' },
      facts: { netClsCgroups: null, netPrioCgroups: null, ownClassId: null },
      retags: null,
    },
    { name: 'class id unseen (/proc)', socket: { source: 'proc' }, facts: untouched, retags: 'only /proc answered' },
    { name: 'class id unseen (sock_diag without it)', socket: { source: 'sock_diag' }, facts: untouched, retags: 'the kernel did not report it' },
    { name: 'a tagged socket', socket: { classId: 0x100001, source: 'sock_diag' }, facts: untouched, retags: 'net_cls class id 0x100001' },
    // a class id of 0 shows the root's classid is 0 when every process is in the root
    {
      name: 'net_cls cgroups, own classid 0',
      socket: { classId: 0, source: 'sock_diag' },
      facts: { netClsCgroups: 3, netPrioCgroups: 1, ownClassId: 0 },
      retags: null,
    },
    {
      name: 'net_cls cgroups, own classid unreadable',
      socket: { classId: 0, source: 'sock_diag' },
      facts: { netClsCgroups: 3, netPrioCgroups: 1, ownClassId: null },
      retags: "this process's own classid cannot be read",
    },
    {
      name: 'net_cls cgroups, own classid set',
      socket: { classId: 0, source: 'sock_diag' },
      facts: { netClsCgroups: 3, netPrioCgroups: 1, ownClassId: 0x20002 },
      retags: "to this process's, 0x20002",
    },
    {
      name: 'net_prio cgroups',
      socket: { classId: 0, source: 'sock_diag' },
      facts: { netClsCgroups: 1, netPrioCgroups: 2, ownClassId: null },
      retags: 'net_prio has 2 cgroups',
    },
    {
      name: '/proc/cgroups unreadable',
      socket: { classId: 0, source: 'sock_diag' },
      facts: { netClsCgroups: undefined, netPrioCgroups: undefined, ownClassId: null },
      retags: '/proc/cgroups cannot be read',
    },
  ];
  for (const { name, socket, facts, retags } of cases) {
    it(name, () => {
      const reason = whyReadingRetags(socket, facts);
      if (retags === null) expect(reason).toBeNull();
      else expect(reason).toContain(retags);
    });
  }
});

describe('parseCgroupCounts', () => {
  it('reads num_cgroups of enabled controllers', () => {
    const text = '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpuset\t3\t1\t1\nnet_cls\t10\t4\t1\nnet_prio\t0\t1\t0\n';
    const counts = parseCgroupCounts(text)!;
    expect([...counts.entries()]).toEqual([
      ['cpuset', 1],
      ['net_cls', 4],
    ]);
  });

  it('counts a controller in no v1 hierarchy as its root alone, whatever older kernels print', () => {
    // kernels without the 2024 fix print, for hierarchy-0 controllers, the number of every cgroup v2 cgroup
    const text = '#subsys_name\thierarchy\tnum_cgroups\tenabled\nnet_cls\t0\t85\t1\nnet_prio\t0\t85\t1\nmemory\t0\t85\t1\n';
    const counts = parseCgroupCounts(text)!;
    expect(counts.get('net_cls')).toBe(1);
    expect(counts.get('net_prio')).toBe(1);
  });

  it('says undefined when the file cannot be read', () => {
    expect(parseCgroupCounts(null)).toBeUndefined();
  });
});
