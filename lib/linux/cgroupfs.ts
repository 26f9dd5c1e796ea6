// The cgroup v2 filesystem: where a cgroup's directory is, and which processes a cgroup holds.
import { readdirSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

import { getBinding } from '../binding.js';
import { parseMountinfo, readText, type Mount } from './procfs.js';

/** The `0::/path` line of /proc/<pid>/cgroup: the process's place in the cgroup v2 hierarchy. */
export function ownCgroupPath(text: string): string | null {
  const line = text.split('\n').find((entry) => entry.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

/** This process's cgroup v2 path, and where its directory is; null where there is no cgroup v2 to see. */
export function readOwnCgroup(): { path: string | null; directory: string | null } {
  return ownCgroup(readText('/proc/self/cgroup'), readText('/proc/self/mountinfo'));
}

/** readOwnCgroup from the texts of /proc/self/cgroup and /proc/self/mountinfo (null when unreadable). */
export function ownCgroup(cgroupText: string | null, mountinfoText: string | null): { path: string | null; directory: string | null } {
  const path = ownCgroupPath(cgroupText ?? '');
  return { path, directory: path === null ? null : cgroupDirectory(mountinfoText ?? '', path) };
}

/** Where the cgroup v2 directory of `cgroup` is in this mount namespace, from /proc/self/mountinfo. */
export function cgroupDirectory(mountinfo: string, cgroup: string): string | null {
  for (const { root, mountpoint } of cgroup2Mounts(mountinfo)) {
    // a mount of a subtree (a container's cgroup namespace) shows only what lies under its root
    const inside = root === '/' ? cgroup : cgroup === root ? '/' : cgroup.startsWith(`${root}/`) ? cgroup.slice(root.length) : null;
    if (inside !== null) return inside === '/' ? mountpoint : `${mountpoint.replace(/\/$/, '')}${inside}`;
  }
  return null;
}

/** The first cgroup2 mount in /proc/self/mountinfo: the top of the hierarchy this process can see. */
export function cgroup2Mountpoint(mountinfo: string): string | null {
  return cgroup2Mounts(mountinfo)[0]?.mountpoint ?? null;
}

function cgroup2Mounts(mountinfo: string): Mount[] {
  return parseMountinfo(mountinfo).filter((mount) => mount.fstype === 'cgroup2');
}

// A cgroup's id is the inode number of its directory, and ids are never reused: a directory once
// found stays right for as long as it still has that inode. A host that keeps making cgroups
// (containers, transient units) would grow this for ever, so it forgets the oldest past a bound.
const knownDirectories = new Map<number, string>();
const KNOWN_LIMIT = 4096;

// Hosts with thousands of cgroups (Kubernetes nodes) exist; a walk stops after this many directories.
const WALK_LIMIT = 20_000;

/** Keeps a directory found for an id; past KNOWN_LIMIT the one remembered longest ago goes (a Map keeps insertion order). */
function remember(id: number, directory: string): void {
  knownDirectories.set(id, directory);
  if (knownDirectories.size > KNOWN_LIMIT) knownDirectories.delete(knownDirectories.keys().next().value!);
}

/** The directories of cgroup v2 ids under `root`, the hierarchy's top (its own id included), by id; ids not found are left out. */
export function findCgroupDirectories(root: string, ids: ReadonlySet<number>): Map<number, string> {
  const found = new Map<number, string>();
  const missing = new Set<number>();
  for (const id of ids) {
    const known = knownDirectories.get(id);
    if (known !== undefined && inodeOf(known) === id) found.set(id, known);
    else {
      // gone, or never found: a stale entry is dropped, not kept beside the walk's answer
      knownDirectories.delete(id);
      missing.add(id);
    }
  }
  // breadth first: services sit one or two levels down (system.slice/nginx.service)
  const queue = [root];
  for (let next = 0; next < queue.length && next < WALK_LIMIT && missing.size > 0; next++) {
    const directory = queue[next]!;
    const id = inodeOf(directory);
    if (id !== null && missing.delete(id)) {
      found.set(id, directory);
      remember(id, directory);
    }
    try {
      for (const entry of readdirSync(directory, { withFileTypes: true })) {
        if (entry.isDirectory()) queue.push(join(directory, entry.name));
      }
    } catch {
      // removed while walking, or not readable: its subtree is not searched
    }
  }
  return found;
}

/**
 * The processes in the cgroups with these ids (not in their children). Each is opened by its id
 * where the kernel allows it (root), else found by a walk of the hierarchy. The hierarchy root
 * is left out: it holds every process no other cgroup does.
 */
export function processesOfCgroups(ids: ReadonlySet<number>): number[] {
  const mountpoint = ids.size === 0 ? null : cgroup2Mountpoint(readText('/proc/self/mountinfo') ?? '');
  if (mountpoint === null) return [];
  const rootId = inodeOf(mountpoint);
  const pids: number[] = [];
  const unopened = new Set<number>();
  const binding = getBinding();
  for (const id of ids) {
    if (id === rootId) continue;
    const procs = binding.readCgroupProcs?.(mountpoint, id);
    if (procs !== undefined && procs.errno === 0) pids.push(...parsePids(procs.text));
    // ESTALE: the cgroup is gone, and so is anything in it
    else if (procs?.errno !== constants.errno.ESTALE) unopened.add(id);
  }
  for (const directory of findCgroupDirectories(mountpoint, unopened).values()) {
    pids.push(...parsePids(readText(join(directory, 'cgroup.procs')) ?? ''));
  }
  return pids;
}

function parsePids(text: string): number[] {
  return text.split('\n').filter(Boolean).map(Number);
}

function inodeOf(path: string): number | null {
  try {
    return statSync(path, { throwIfNoEntry: false })?.ino ?? null;
  } catch {
    return null;
  }
}
