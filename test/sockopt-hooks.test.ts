// check never reads the options of a socket whose cgroup runs getsockopt programs: they would run under its lock and could rewrite the answer.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { ProgramCountReading } from '../lib/binding.js';
import { GetsockoptProgramCounter, whyGetsockoptProgramsBar, whyOptionsStayUnread } from '../lib/linux/sockopthooks.js';
import type { SocketTagFacts } from '../lib/linux/sockettags.js';
import { createChildCgroup, hasCgroup2, type ChildCgroup } from './helpers/cgroup.js';
import { checkTraced } from './helpers/cli.js';
import { compileHelper, createNetns, holdSockets, runCommand, type Holder, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('sockopt-hooks.test.ts: the kernel tests are skipped, attaching cgroup-BPF programs and entering namespaces needs root');

// a host where duplicating re-tags nothing, so that only the getsockopt rule decides
const untagged: SocketTagFacts = { netClsCgroups: 1, netPrioCgroups: 1, ownClassId: null };

describe('whyGetsockoptProgramsBar', () => {
  const cases: { name: string; counted: Parameters<typeof whyGetsockoptProgramsBar>[1]; reason: string | null }[] = [
    { name: 'no program', counted: { count: 0 }, reason: null },
    { name: 'one program', counted: { count: 1 }, reason: '1 cgroup-BPF getsockopt program (BPF_CGROUP_GETSOCKOPT) runs for sockets of its cgroup v2 (id 42)' },
    { name: 'two programs', counted: { count: 2 }, reason: '2 cgroup-BPF getsockopt programs (BPF_CGROUP_GETSOCKOPT) run' },
    { name: 'no cgroup v2 mounted', counted: { count: null, syscall: null, errno: null }, reason: 'no cgroup v2 hierarchy is mounted here' },
    {
      name: 'no CAP_NET_ADMIN',
      counted: { count: null, syscall: 'bpf', errno: 'EPERM' },
      reason: 'cannot be counted: bpf failed with EPERM (counting needs CAP_NET_ADMIN)',
    },
    { name: 'not found by id', counted: { count: null, syscall: 'open_by_handle_at', errno: 'EPERM' }, reason: 'needs CAP_DAC_READ_SEARCH' },
    { name: 'cgroup removed', counted: { count: null, syscall: 'open_by_handle_at', errno: 'ESTALE' }, reason: 'its cgroup v2 (id 42) has been removed' },
  ];
  for (const { name, counted, reason } of cases) {
    it(name, () => {
      const why = whyGetsockoptProgramsBar(42, counted);
      if (reason === null) expect(why).toBeNull();
      else expect(why).toContain(reason);
    });
  }
});

describe('whyOptionsStayUnread', () => {
  /** A counter over a fake binding that answers `byId` for every id and records each call. */
  function counter(byId: ProgramCountReading, atPath: ProgramCountReading = byId) {
    const calls: string[] = [];
    const programs = new GetsockoptProgramCounter(
      {
        cgroupGetsockoptHooks: (_mountpoint, id) => (calls.push(`id ${id}`), byId),
        cgroupGetsockoptHooksAt: (path) => (calls.push(`path ${path}`), atPath),
      },
      '/nonexistent-cgroup2',
    );
    return { programs, calls };
  }

  it('counts once per cgroup id in a search, however many sockets share it', () => {
    const { programs, calls } = counter({ errno: 0, syscall: null, count: 0 });
    for (const cgroupId of [7, 7, 8, 7, 8]) expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0, cgroupId }, untagged, programs)).toBeNull();
    expect(calls).toEqual(['id 7', 'id 8']);
  });

  it('declines a socket whose cgroup runs a getsockopt program', () => {
    const { programs } = counter({ errno: 0, syscall: null, count: 1 });
    expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0, cgroupId: 7 }, untagged, programs)).toMatch(/^1 cgroup-BPF getsockopt program/);
  });

  it('declines a socket whose cgroup cannot be seen, without a system call', () => {
    const { programs, calls } = counter({ errno: 0, syscall: null, count: 0 });
    expect(whyOptionsStayUnread({ source: 'proc' }, { netClsCgroups: null, netPrioCgroups: null, ownClassId: null }, programs)).toContain(
      'its cgroup v2 cannot be seen (only /proc answered',
    );
    expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0 }, untagged, programs)).toContain('the kernel did not report it');
    expect(calls).toEqual([]);
  });

  it('puts the re-tag rule first, which costs no system call', () => {
    const { programs, calls } = counter({ errno: 0, syscall: null, count: 1 });
    expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0x100001, cgroupId: 7 }, untagged, programs)).toContain('net_cls class id 0x100001');
    expect(calls).toEqual([]);
  });

  it('reads where the kernel has no cgroup BPF: no program can run', () => {
    for (const errno of [38 /* ENOSYS */, 22 /* EINVAL */]) {
      const { programs } = counter({ errno, syscall: 'bpf', count: null });
      expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0, cgroupId: 7 }, untagged, programs)).toBeNull();
    }
  });

  it('declines where counting is refused', () => {
    const { programs } = counter({ errno: 1 /* EPERM */, syscall: 'bpf', count: null });
    expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0, cgroupId: 7 }, untagged, programs)).toContain('needs CAP_NET_ADMIN');
  });

  it('declines where no cgroup v2 is mounted', () => {
    const programs = new GetsockoptProgramCounter(
      { cgroupGetsockoptHooks: () => ({ errno: 0, syscall: null, count: 0 }), cgroupGetsockoptHooksAt: () => ({ errno: 0, syscall: null, count: 0 }) },
      null,
    );
    expect(whyOptionsStayUnread({ source: 'sock_diag', classId: 0, cgroupId: 7 }, untagged, programs)).toContain('no cgroup v2 hierarchy is mounted');
  });
});

describe.runIf(process.platform === 'linux' && isRoot)("check and a getsockopt program in the socket owner's cgroup", () => {
  let netns: Netns;
  let holders: Holder[] = [];
  let cgroup: ChildCgroup | undefined;

  beforeEach(async () => {
    // as root nothing skips: without cgroup v2 this fails, saying so
    expect(hasCgroup2(), 'a cgroup v2 hierarchy, for the program to attach to').toBe(true);
    netns = await createNetns();
  });

  afterEach(async () => {
    for (const holder of holders) await holder.close();
    holders = [];
    // removing the cgroup detaches its program (its processes have exited)
    cgroup?.remove();
    cgroup = undefined;
    await netns.close();
  });

  const listener = { protocol: 'tcp', family: 4, address: '127.0.0.1', reusePort: true, listen: true } as const;

  it('does not duplicate the socket, and says unknown naming the program', async () => {
    cgroup = createChildCgroup();
    expect(await runCommand(compileHelper('getsockopt_hook'), [cgroup.directory])).toMatchObject({ code: 0, stderr: '' });
    const holder = await holdSockets([listener], { netns: netns.path, cgroup: cgroup.directory });
    holders.push(holder);
    const { localPort: port } = holder.socket(0);

    const checked = await checkTraced(netns, [String(port), '--host', '127.0.0.1', '--reuse-port']);
    expect(checked.getfdCalls).toBe(0);
    expect(checked.verdict).toBe('unknown');
    expect(checked.assumptions.join('\n')).toMatch(
      /portclash does not read them: 1 cgroup-BPF getsockopt program \(BPF_CGROUP_GETSOCKOPT\) runs for sockets of its cgroup v2 \(id \d+\)/,
    );

    // read anyway, SO_REUSEPORT would have said 0 (the program's answer), and so in-use; but the
    // kernel lets a second SO_REUSEPORT listener of the same uid share the port
    const second = await holdSockets([{ ...listener, port }], { netns: netns.path });
    holders.push(second);
    expect(second.socket(0).localPort).toBe(port);
  });

  it('reads the options of the same holder where no program applies (the control)', async () => {
    const holder = await holdSockets([listener], { netns: netns.path });
    holders.push(holder);
    const { localPort: port } = holder.socket(0);

    const checked = await checkTraced(netns, [String(port), '--host', '127.0.0.1', '--reuse-port']);
    expect(checked.getfdCalls).toBe(1);
    expect(checked.verdict).toBe('free');
  });
});
