// The service of a process from /proc/<pid>/cgroup, on files as hosts, engines and orchestrators write them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { parseCgroupFile } from '../lib/linux/cgroups.js';
import type { ServiceInfo } from '../lib/owners.js';
import { cgroup2Mountpoint, cgroupDirectory, ownCgroupPath } from '../lib/linux/cgroupfs.js';

// container ids are 64 hex digits; these are shaped like real ones and all distinct
const DOCKER = '3f5b2c9d8e1a4b7c6d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c';
const INNER = '9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b';
const CRI = 'e2a9c4f1b3d5e7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7';
const PODMAN = '64de256b4158dbfd331e27f93bf807f141883be795fd1b2ae7f40294f32c5bfd';
const POD = 'b13213a6-d47e-4bd1-bc00-f175d1ad3b6e';
const POD_ = POD.replaceAll('-', '_');
const STATIC_POD = '5c1c2b1e9f0e4f7c8d3a2b1c0d9e8f7a';

/** A v1 file: the controller hierarchies in the order a kernel numbers them, each at `path`. */
function v1(path: string, options: { systemd?: string; unified?: string } = {}): string {
  const controllers = ['rdma', 'pids', 'hugetlb', 'net_cls,net_prio', 'cpu,cpuacct', 'perf_event', 'memory', 'blkio', 'devices', 'freezer', 'cpuset'];
  const lines = controllers.map((list, index) => `${controllers.length + 1 - index}:${list}:${list === 'rdma' ? '/' : path}`);
  lines.push(`1:name=systemd:${options.systemd ?? path}`);
  if (options.unified !== undefined) lines.push(`0::${options.unified}`);
  return `${lines.join('\n')}\n`;
}

const cases: [name: string, text: string, expected: ServiceInfo | null][] = [
  // systemd hosts, cgroup v2
  ['system service', '0::/system.slice/nginx.service\n', { cgroup: '/system.slice/nginx.service', unit: 'nginx.service' }],
  [
    'template instance in its own slice',
    '0::/system.slice/system-getty.slice/getty@tty1.service\n',
    { cgroup: '/system.slice/system-getty.slice/getty@tty1.service', unit: 'getty@tty1.service' },
  ],
  ['login session', '0::/user.slice/user-1000.slice/session-3.scope\n', { cgroup: '/user.slice/user-1000.slice/session-3.scope', unit: 'session-3.scope' }],
  [
    'desktop app under the user manager',
    '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope\n',
    { cgroup: '/user.slice/user-1000.slice/user@1000.service/app.slice/app-foo.scope', unit: 'app-foo.scope' },
  ],
  [
    'user service with an escaped name',
    '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal\\x2d4242.service\n',
    {
      cgroup: '/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal\\x2d4242.service',
      unit: 'app-org.gnome.Terminal\\x2d4242.service',
    },
  ],
  [
    'the user manager itself',
    '0::/user.slice/user-1000.slice/user@1000.service/init.scope\n',
    { cgroup: '/user.slice/user-1000.slice/user@1000.service/init.scope', unit: 'init.scope' },
  ],
  ['PID 1', '0::/init.scope\n', { cgroup: '/init.scope', unit: 'init.scope' }],
  ['the root cgroup (kernel threads, a host without systemd)', '0::/\n', { cgroup: '/' }],
  ['a slice holds no process of its own', '0::/user.slice/user-1000.slice\n', { cgroup: '/user.slice/user-1000.slice' }],
  [
    'a service that made sub-cgroups of its delegated subtree',
    '0::/system.slice/buildkit.service/buildkit/runner-7\n',
    { cgroup: '/system.slice/buildkit.service/buildkit/runner-7', unit: 'buildkit.service' },
  ],
  [
    'a cgroup removed while the process was in it',
    '0::/system.slice/backup.service (deleted)\n',
    { cgroup: '/system.slice/backup.service', unit: 'backup.service' },
  ],
  ['seen from inside a cgroup namespace', '0::/../../system.slice/sshd.service\n', { cgroup: '/../../system.slice/sshd.service', unit: 'sshd.service' }],

  // hybrid and legacy (v1) hosts
  [
    'hybrid host: v2 and name=systemd agree',
    v1('/system.slice/ssh.service', { unified: '/system.slice/ssh.service' }),
    { cgroup: '/system.slice/ssh.service', unit: 'ssh.service' },
  ],
  ['legacy v1 host (CentOS 7)', v1('/system.slice/crond.service'), { cgroup: '/system.slice/crond.service', unit: 'crond.service' }],
  ['v1 host without systemd (OpenRC): the first line', '4:memory:/\n3:cpu,cpuacct:/\n2:cpuset:/\n1:name=openrc:/nginx\n', { cgroup: '/' }],
  ['v1 hierarchies named only by a controller: the first line', '3:memory:/jobs/batch-17\n2:cpu:/jobs/batch-17\n', { cgroup: '/jobs/batch-17' }],

  // Docker
  [
    'docker, systemd driver',
    `0::/system.slice/docker-${DOCKER}.scope\n`,
    { cgroup: `/system.slice/docker-${DOCKER}.scope`, unit: `docker-${DOCKER}.scope`, container: { runtime: 'docker', id: DOCKER } },
  ],
  ['docker, cgroupfs driver', `0::/docker/${DOCKER}\n`, { cgroup: `/docker/${DOCKER}`, container: { runtime: 'docker', id: DOCKER } }],
  [
    'docker, cgroupfs driver on a hybrid host: v2 is left at containerd.service',
    v1(`/docker/${DOCKER}`, { unified: '/system.slice/containerd.service' }),
    { cgroup: `/docker/${DOCKER}`, container: { runtime: 'docker', id: DOCKER } },
  ],
  [
    'docker, systemd driver on a legacy v1 host',
    v1(`/system.slice/docker-${DOCKER}.scope`),
    { cgroup: `/system.slice/docker-${DOCKER}.scope`, unit: `docker-${DOCKER}.scope`, container: { runtime: 'docker', id: DOCKER } },
  ],
  [
    'docker, rootless',
    `0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${DOCKER}.scope\n`,
    {
      cgroup: `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${DOCKER}.scope`,
      unit: `docker-${DOCKER}.scope`,
      container: { runtime: 'docker', id: DOCKER },
    },
  ],
  [
    'systemd running inside a docker container',
    `0::/system.slice/docker-${DOCKER}.scope/system.slice/nginx.service\n`,
    { cgroup: `/system.slice/docker-${DOCKER}.scope/system.slice/nginx.service`, unit: 'nginx.service', container: { runtime: 'docker', id: DOCKER } },
  ],
  [
    'docker in docker: the inner container',
    `0::/docker/${DOCKER}/docker/${INNER}\n`,
    { cgroup: `/docker/${DOCKER}/docker/${INNER}`, container: { runtime: 'docker', id: INNER } },
  ],
  [
    'nerdctl (containerd), systemd driver',
    `0::/system.slice/nerdctl-${CRI}.scope\n`,
    { cgroup: `/system.slice/nerdctl-${CRI}.scope`, unit: `nerdctl-${CRI}.scope`, container: { runtime: 'containerd', id: CRI } },
  ],

  // Kubernetes, systemd driver: QoS classes guaranteed (no class slice), burstable, besteffort
  [
    'kubernetes, containerd, burstable',
    `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${CRI}.scope\n`,
    {
      cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${CRI}.scope`,
      unit: `cri-containerd-${CRI}.scope`,
      container: { runtime: 'containerd', id: CRI, podUid: POD },
    },
  ],
  [
    'kubernetes, CRI-O, guaranteed',
    `0::/kubepods.slice/kubepods-pod${POD_}.slice/crio-${CRI}.scope\n`,
    { cgroup: `/kubepods.slice/kubepods-pod${POD_}.slice/crio-${CRI}.scope`, unit: `crio-${CRI}.scope`, container: { runtime: 'cri-o', id: CRI, podUid: POD } },
  ],
  [
    'kubernetes, dockershim, besteffort, on a hybrid host',
    v1(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/docker-${DOCKER}.scope`, {
      unified: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/docker-${DOCKER}.scope`,
    }),
    {
      cgroup: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/docker-${DOCKER}.scope`,
      unit: `docker-${DOCKER}.scope`,
      container: { runtime: 'docker', id: DOCKER, podUid: POD },
    },
  ],
  [
    'kubernetes, CRI-O monitor beside a container: in the pod, in no container',
    `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${CRI}.scope\n`,
    {
      cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/crio-conmon-${CRI}.scope`,
      unit: `crio-conmon-${CRI}.scope`,
      container: { runtime: 'cri-o', podUid: POD },
    },
  ],
  [
    'kubernetes static pod: its uid is a hash, not a UUID',
    `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_POD}.slice/cri-containerd-${CRI}.scope\n`,
    {
      cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_POD}.slice/cri-containerd-${CRI}.scope`,
      unit: `cri-containerd-${CRI}.scope`,
      container: { runtime: 'containerd', id: CRI, podUid: STATIC_POD },
    },
  ],
  [
    'kubernetes in docker (kind): the pod container, not the node container',
    `0::/system.slice/docker-${DOCKER}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${POD_}.slice/cri-containerd-${CRI}.scope\n`,
    {
      cgroup: `/system.slice/docker-${DOCKER}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${POD_}.slice/cri-containerd-${CRI}.scope`,
      unit: `cri-containerd-${CRI}.scope`,
      container: { runtime: 'containerd', id: CRI, podUid: POD },
    },
  ],
  [
    'kubernetes pod cgroup itself',
    `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice\n`,
    { cgroup: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice`, container: { runtime: 'kubernetes', podUid: POD } },
  ],

  // Kubernetes, cgroupfs driver: the runtime is not named unless CRI-O names it
  [
    'kubernetes cgroupfs, burstable',
    `0::/kubepods/burstable/pod${POD}/${CRI}\n`,
    { cgroup: `/kubepods/burstable/pod${POD}/${CRI}`, container: { runtime: 'kubernetes', id: CRI, podUid: POD } },
  ],
  [
    'kubernetes cgroupfs, guaranteed, on a v1 host (k3s)',
    v1(`/kubepods/pod${POD}/${CRI}`),
    { cgroup: `/kubepods/pod${POD}/${CRI}`, container: { runtime: 'kubernetes', id: CRI, podUid: POD } },
  ],
  [
    'kubernetes cgroupfs, besteffort, CRI-O',
    `0::/kubepods/besteffort/pod${POD}/crio-${CRI}\n`,
    { cgroup: `/kubepods/besteffort/pod${POD}/crio-${CRI}`, container: { runtime: 'cri-o', id: CRI, podUid: POD } },
  ],

  // Podman
  [
    'podman rootful: crun puts the payload in a child cgroup',
    `0::/machine.slice/libpod-${PODMAN}.scope/container\n`,
    { cgroup: `/machine.slice/libpod-${PODMAN}.scope/container`, unit: `libpod-${PODMAN}.scope`, container: { runtime: 'podman', id: PODMAN } },
  ],
  [
    'podman rootless',
    `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${PODMAN}.scope\n`,
    {
      cgroup: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${PODMAN}.scope`,
      unit: `libpod-${PODMAN}.scope`,
      container: { runtime: 'podman', id: PODMAN },
    },
  ],
  [
    'podman conmon is the monitor, not the container',
    `0::/machine.slice/libpod-conmon-${PODMAN}.scope\n`,
    { cgroup: `/machine.slice/libpod-conmon-${PODMAN}.scope`, unit: `libpod-conmon-${PODMAN}.scope` },
  ],
  [
    'podman conmon inside a docker container is in that container',
    `0::/system.slice/docker-${DOCKER}.scope/libpod-conmon-${PODMAN}.scope\n`,
    {
      cgroup: `/system.slice/docker-${DOCKER}.scope/libpod-conmon-${PODMAN}.scope`,
      unit: `libpod-conmon-${PODMAN}.scope`,
      container: { runtime: 'docker', id: DOCKER },
    },
  ],
  [
    'podman, cgroupfs driver on v1',
    v1(`/libpod_parent/libpod-${PODMAN}`),
    { cgroup: `/libpod_parent/libpod-${PODMAN}`, container: { runtime: 'podman', id: PODMAN } },
  ],

  // LXC and LXD
  [
    'LXC 4 / LXD with systemd inside',
    '0::/lxc.payload.web01/system.slice/nginx.service\n',
    { cgroup: '/lxc.payload.web01/system.slice/nginx.service', unit: 'nginx.service', container: { runtime: 'lxc', id: 'web01' } },
  ],
  ['LXC monitor', '0::/lxc.monitor.web01\n', { cgroup: '/lxc.monitor.web01' }],
  ['LXC before 4 on a v1 host', v1('/lxc/db1'), { cgroup: '/lxc/db1', container: { runtime: 'lxc', id: 'db1' } }],
  [
    'LXC 3 payload directory',
    '0::/lxc.payload/db2/init.scope\n',
    { cgroup: '/lxc.payload/db2/init.scope', unit: 'init.scope', container: { runtime: 'lxc', id: 'db2' } },
  ],

  // not containers, though they look a little like them
  [
    'a docker scope whose id is not 64 hex',
    '0::/system.slice/docker-short.scope\n',
    { cgroup: '/system.slice/docker-short.scope', unit: 'docker-short.scope' },
  ],
  ['a pod-like name outside kubepods', `0::/system.slice/pod${POD}/${CRI}\n`, { cgroup: `/system.slice/pod${POD}/${CRI}` }],
  ['a bare id under no engine or pod', `0::/jobs/${CRI}\n`, { cgroup: `/jobs/${CRI}` }],
  ['docker.service itself', '0::/system.slice/docker.service\n', { cgroup: '/system.slice/docker.service', unit: 'docker.service' }],

  // garbage: null when no line has the kernel's format, and never a throw
  ['empty text', '', null],
  ['prose', 'hello\nworld\n', null],
  ['a v2 line without a path', '0::\n', null],
  ['a relative path', '1:cpu:relative/path\n', null],
  ['a non-numeric hierarchy', 'x::/system.slice/a.service\n', null],
  ['garbage around one good line', '\0\0\x7f:::\n:::\n0::/system.slice/ok.service\nnonsense', { cgroup: '/system.slice/ok.service', unit: 'ok.service' }],
  ['a path with a colon in a name', '0::/system.slice/odd:name.service\n', { cgroup: '/system.slice/odd:name.service', unit: 'odd:name.service' }],
  ['a bare suffix is no unit', '0::/system.slice/.service\n', { cgroup: '/system.slice/.service' }],
];

describe('parseCgroupFile', () => {
  it('has container ids of 64 hex digits in its fixtures', () => {
    for (const id of [DOCKER, INNER, CRI, PODMAN]) expect(id).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(cases)('%s', (_name, text, expected) => {
    expect(parseCgroupFile(text)).toEqual(expected);
  });

  it('never throws on random text made of cgroup-file characters', () => {
    // deterministic, so a failure can be replayed
    let seed = 20240607;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const alphabet = [
      '0',
      '1',
      '9',
      ':',
      '/',
      '\n',
      '-',
      '_',
      '.',
      'scope',
      'service',
      'slice',
      'pod',
      'docker',
      'kubepods',
      'lxc',
      'a',
      'f',
      ' (deleted)',
      '\0',
      '..',
      DOCKER,
    ];
    for (let round = 0; round < 2000; round++) {
      let text = '';
      const length = next() % 60;
      for (let index = 0; index < length; index++) text += alphabet[next() % alphabet.length];
      const result = parseCgroupFile(text);
      if (result !== null) expect(typeof result.cgroup).toBe('string');
    }
  });

  it.runIf(process.platform === 'linux')("parses this process's own file", () => {
    const text = readFileSync('/proc/self/cgroup', 'utf8');
    const service = parseCgroupFile(text);
    expect(service).not.toBeNull();
    expect(service!.cgroup.startsWith('/')).toBe(true);
  });
});

describe('cgroupDirectory and ownCgroupPath', () => {
  const MOUNTINFO = [
    '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
    '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw',
  ].join('\n');

  it('finds the directory of a cgroup under the cgroup2 mount', () => {
    expect(cgroupDirectory(MOUNTINFO, '/')).toBe('/sys/fs/cgroup/unified');
    expect(cgroupDirectory(MOUNTINFO, '/system.slice/api.service')).toBe('/sys/fs/cgroup/unified/system.slice/api.service');
  });

  it('follows a mount of a subtree, and unescapes octal in paths', () => {
    const subtree = '50 23 0:40 /kubepods/pod\\040a /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw';
    expect(cgroupDirectory(subtree, '/kubepods/pod a/c1')).toBe('/mnt/my cgroup/c1');
    expect(cgroupDirectory(subtree, '/kubepods/pod a')).toBe('/mnt/my cgroup');
    expect(cgroupDirectory(subtree, '/kubepods/pod ab')).toBeNull();
  });

  it('finds the cgroup2 mountpoint, whatever its root', () => {
    expect(cgroup2Mountpoint(MOUNTINFO)).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2Mountpoint('50 23 0:40 /kubepods /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw')).toBe('/mnt/my cgroup');
    expect(cgroup2Mountpoint(MOUNTINFO.split('\n').slice(0, 2).join('\n'))).toBeNull();
  });

  it('says null without a cgroup2 mount or a v2 line', () => {
    expect(cgroupDirectory(MOUNTINFO.split('\n').slice(0, 2).join('\n'), '/')).toBeNull();
    expect(cgroupDirectory('garbage\n\n - cgroup2', '/')).toBeNull();
    expect(ownCgroupPath('4:memory:/x\n0::/user.slice/session-1.scope\n')).toBe('/user.slice/session-1.scope');
    expect(ownCgroupPath('4:memory:/x\n')).toBeNull();
  });
});
