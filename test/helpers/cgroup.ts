// The cgroup v2 id of this process, read the way the kernel defines it: the inode of its cgroup directory.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function ownCgroupId(): number {
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((line) => line.split(' '));
  const cgroup2 = mounts.find((fields) => fields[2] === 'cgroup2')?.[1];
  const path = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3);
  if (cgroup2 === undefined || path === undefined) throw new Error('no cgroup v2 hierarchy here');
  return statSync(join(cgroup2, path)).ino;
}
