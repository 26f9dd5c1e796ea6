// This process's cgroup v2: its id (the inode of its directory, as the kernel defines it), and child cgroups for tests.
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function ownCgroupDirectory(): string {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '));
  const cgroup2 = mounts.find((fields) => fields[2] === 'cgroup2')?.[1];
  const path = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3);
  if (cgroup2 === undefined || path === undefined) throw new Error('no cgroup v2 hierarchy here');
  return join(cgroup2, path);
}

/** Whether this process sees a cgroup v2 hierarchy and its place in it. */
export function hasCgroup2(): boolean {
  try {
    ownCgroupDirectory();
    return true;
  } catch {
    return false;
  }
}

export function ownCgroupId(): number {
  return statSync(ownCgroupDirectory()).ino;
}

export interface ChildCgroup {
  /** The directory, under this process's own cgroup. */
  directory: string;
  /** The argv that runs `command` inside the cgroup: a shell moves itself in, then execs it. */
  wrap(command: string, args: readonly string[]): { command: string; args: string[] };
  /** Removes the cgroup, and with it any BPF program attached to it; its processes must have ended. */
  remove(): void;
}

/**
 * The argv that runs `command` in the cgroup at `directory`: a shell writes its own pid into the
 * cgroup, then execs the command, which so keeps that pid and starts inside the cgroup.
 */
export function wrapInCgroup(directory: string, command: string, args: readonly string[]): { command: string; args: string[] } {
  return { command: 'sh', args: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', directory, command, ...args] };
}

let created = 0;

/** This process's cgroup v2 path, from the `0::` line of /proc/self/cgroup, parsed here and not by lib/. */
export function ownCgroupPath(): string {
  const line = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('0::'));
  if (line === undefined) throw new Error('no cgroup v2 line in /proc/self/cgroup');
  return line.slice(3);
}

/** A new cgroup under this process's own (needs root), named `name` or portclash-test-<pid>-<n>. */
export function createChildCgroup(name = `portclash-test-${process.pid}-${++created}`): ChildCgroup {
  const directory = join(ownCgroupDirectory(), name);
  mkdirSync(directory);
  return {
    directory,
    wrap: (command, args) => wrapInCgroup(directory, command, args),
    remove: () => rmdirSync(directory),
  };
}
