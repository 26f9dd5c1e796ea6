// What operators call "the service" of a process: its systemd unit and container, read from /proc/<pid>/cgroup.
import type { ContainerInfo, ContainerRuntime, ServiceInfo } from '../owners.js';

/** A Linux process's service: its cgroup path is always known. */
export type CgroupService = ServiceInfo & { cgroup: string };

/** One line of /proc/<pid>/cgroup: `hierarchy-id:controller-list:path`. */
interface CgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

/**
 * The service of a process from the text of its /proc/<pid>/cgroup; null when no line has the
 * kernel's format. Never throws: the text is whatever the kernel (or a fixture) gave.
 *
 * The line: on a pure v2 host there is one, `0::/path`. On a hybrid host systemd keeps the same
 * path in v2 and in `name=systemd`, and v2 is what it reads; a legacy (v1-only) host has only
 * `name=systemd`, and a host without systemd only controller lines, any of which will do. But a
 * container engine in v1 mode places its containers in the v1 hierarchies only, leaving the v2
 * path at the engine's own service (`0::/system.slice/containerd.service` beside
 * `1:name=systemd:/docker/<id>`), so a line that names a container is preferred to one that does not.
 */
export function parseCgroupFile(text: string): CgroupService | null {
  const lines = parseLines(text);
  const ordered = [
    ...lines.filter(isUnified),
    ...lines.filter((line) => !isUnified(line) && line.controllers.includes('name=systemd')),
    ...lines.filter((line) => !isUnified(line) && !line.controllers.includes('name=systemd')),
  ];
  const first = ordered[0];
  if (first === undefined) return null;
  let chosen = first;
  let container: ContainerInfo | undefined;
  for (const line of ordered) {
    container = findContainer(pathComponents(line.path));
    if (container === undefined) continue;
    chosen = line;
    break;
  }
  const service: CgroupService = { cgroup: chosen.path };
  const unit = innermostUnit(pathComponents(chosen.path));
  if (unit !== undefined) service.unit = unit;
  if (container !== undefined) service.container = container;
  return service;
}

function parseLines(text: string): CgroupLine[] {
  const lines: CgroupLine[] = [];
  for (const line of text.split('\n')) {
    const match = LINE.exec(line);
    if (match === null) continue;
    const [, hierarchy = '', controllers = '', rawPath = ''] = match;
    // v2 marks a cgroup that was removed while the process was in it (it is exiting, or a zombie).
    const path = rawPath.endsWith(DELETED) ? rawPath.slice(0, -DELETED.length) : rawPath;
    lines.push({ hierarchy, controllers: controllers === '' ? [] : controllers.split(','), path });
  }
  return lines;
}

// The path is everything after the second colon: cgroup names may themselves hold colons.
// It is relative to the reader's cgroup namespace root, so it may begin `/..`; it is never relative.
const LINE = /^(\d+):([^:]*):(\/.*)$/;
const DELETED = ' (deleted)';

function isUnified(line: CgroupLine): boolean {
  return line.hierarchy === '0' && line.controllers.length === 0;
}

function pathComponents(path: string): string[] {
  return path.split('/').filter((component) => component !== '' && component !== '.' && component !== '..');
}

/**
 * A process lives in a leaf, but the unit may be several levels up: a service that delegates
 * makes its own sub-cgroups (`user@1000.service/app.slice/…`), and systemd inside a container
 * makes `…/docker-<id>.scope/system.slice/nginx.service`. The innermost unit is the one that
 * started the process. Slices are units too, but they only group; nothing runs "as" a slice.
 */
function innermostUnit(components: readonly string[]): string | undefined {
  for (let index = components.length - 1; index >= 0; index--) {
    const component = components[index]!;
    if (UNIT.test(component)) return component;
  }
  return undefined;
}

const UNIT = /^[^/]+\.(?:service|scope)$/;

/** A path component that names a container or the monitor process beside one. */
interface ContainerMatch {
  runtime: Exclude<ContainerRuntime, 'kubernetes'> | null;
  /** Absent for a monitor (conmon, lxc monitor), which runs outside the container it watches. */
  id?: string;
}

/**
 * The innermost container the path names: with nesting (kind runs kubelet inside a docker
 * container, docker-in-docker) the inner one is what the process belongs to. A monitor
 * (`crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope`, `lxc.monitor.<name>`) is not the
 * container it watches, so the search goes on outward from it: it may itself run inside one.
 * Kubernetes puts each container's cgroup directly in its pod's; a process in the pod's own
 * cgroup (or a monitor there) is in the pod but in no container.
 */
function findContainer(components: readonly string[]): ContainerInfo | undefined {
  for (let index = components.length - 1; index >= 0; index--) {
    const podUid = podUidOf(components, index);
    if (podUid !== undefined) return { runtime: 'kubernetes', podUid };
    const parentPodUid = podUidOf(components, index - 1);
    const match = matchContainer(components[index]!, components[index - 1], parentPodUid);
    if (match === undefined) continue;
    if (match.id === undefined) {
      // a pod's monitor still says which runtime the pod's containers run on
      if (parentPodUid !== undefined) return { runtime: match.runtime ?? 'kubernetes', podUid: parentPodUid };
      continue;
    }
    const container: ContainerInfo = { runtime: match.runtime ?? 'kubernetes', id: match.id };
    if (parentPodUid !== undefined) container.podUid = parentPodUid;
    return container;
  }
  return undefined;
}

const HEX64 = '[0-9a-f]{64}';

/** Scope names the runtimes give containers under systemd, and monitors; the id is group 1. */
const CONTAINER_SCOPES: readonly { pattern: RegExp; runtime: Exclude<ContainerRuntime, 'kubernetes'>; monitor: boolean }[] = [
  // Monitors first: their names start like the containers' (`libpod-conmon-` is also `libpod-…`).
  { pattern: new RegExp(`^crio-conmon-(${HEX64})(?:\\.scope)?$`), runtime: 'cri-o', monitor: true },
  { pattern: new RegExp(`^libpod-conmon-(${HEX64})(?:\\.scope)?$`), runtime: 'podman', monitor: true },
  { pattern: /^lxc\.monitor\.(.+)$/, runtime: 'lxc', monitor: true },
  { pattern: new RegExp(`^docker-(${HEX64})\\.scope$`), runtime: 'docker', monitor: false },
  { pattern: new RegExp(`^cri-containerd-(${HEX64})\\.scope$`), runtime: 'containerd', monitor: false },
  // nerdctl, containerd's own CLI, with the systemd cgroup driver
  { pattern: new RegExp(`^nerdctl-(${HEX64})\\.scope$`), runtime: 'containerd', monitor: false },
  // CRI-O and podman with the cgroupfs driver drop the `.scope`
  { pattern: new RegExp(`^crio-(${HEX64})(?:\\.scope)?$`), runtime: 'cri-o', monitor: false },
  { pattern: new RegExp(`^libpod-(${HEX64})(?:\\.scope)?$`), runtime: 'podman', monitor: false },
  // LXC ≥ 4 (and LXD): one top-level cgroup per container
  { pattern: /^lxc\.payload\.(.+)$/, runtime: 'lxc', monitor: false },
];

const BARE_ID = new RegExp(`^${HEX64}$`);

function matchContainer(component: string, parent: string | undefined, parentPodUid: string | undefined): ContainerMatch | undefined {
  for (const { pattern, runtime, monitor } of CONTAINER_SCOPES) {
    const id = pattern.exec(component)?.[1];
    if (id === undefined) continue;
    return monitor ? { runtime } : { runtime, id };
  }
  // The cgroupfs drivers name a container by its bare id in a directory of the engine or pod:
  // docker's `/docker/<id>`; kubelet's `/kubepods/<qos>/pod<uid>/<id>`, whatever runtime it uses.
  if (BARE_ID.test(component)) {
    if (parent === 'docker') return { runtime: 'docker', id: component };
    if (parentPodUid !== undefined) return { runtime: null, id: component };
  }
  // LXC before 4: `/lxc/<name>`, and `/lxc.payload/<name>` in the 3.x releases that split off the monitor
  if (parent === 'lxc' || parent === 'lxc.payload') return { runtime: 'lxc', id: component };
  if (parent === 'lxc.monitor') return { runtime: 'lxc' };
  return undefined;
}

/**
 * The pod uid when components[index] is a pod's cgroup: `pod<uid>` with the cgroupfs driver,
 * `kubepods-<qos>-pod<uid>.slice` with systemd, which spells the uid's dashes as underscores
 * because a dash in a slice name means nesting. Static pods have a 32-hex hash for a uid. Only
 * under a kubepods cgroup (`kubepods`, `kubepods.slice`, kind's `kubelet-kubepods.slice`), so
 * that some other `pod…` directory is not taken for one.
 */
function podUidOf(components: readonly string[], index: number): string | undefined {
  const component = components[index];
  if (component === undefined) return undefined;
  const uid = POD.exec(component)?.[1];
  if (uid === undefined) return undefined;
  if (!components.slice(0, index).some((ancestor) => ancestor.includes('kubepods'))) return undefined;
  return uid.replaceAll('_', '-');
}

const UUID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}';
const POD = new RegExp(`^(?:pod|[a-z0-9_-]*-pod)(${UUID}|[0-9a-f]{32})(?:\\.slice)?$`);
