// A cgroup v1 hierarchy (net_cls, net_prio) mounted in a mount namespace of the test's own, for the retag tests.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { waitFor } from './wait.js';

/** num_cgroups of a controller in /proc/cgroups. */
export function cgroupCount(controller: string): number {
  const line = readFileSync('/proc/cgroups', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${controller}\t`));
  if (line === undefined) throw new Error(`/proc/cgroups has no ${controller}`);
  return Number(line.split('\t')[2]);
}

/**
 * A v1 hierarchy of one controller. The mount is private to a namespace kept alive by a `cat`,
 * but the hierarchy and its cgroups exist for the whole machine while they do: only the retag
 * tests, which run on their own, use it.
 */
export interface V1Hierarchy {
  /** The mountpoint as this process reaches it: through the keeper's /proc/<pid>/root. */
  directory: string;
  /** Makes a child cgroup and returns its directory; `files` are written into it (`net_cls.classid`). */
  child(name: string, files?: Record<string, string>): string;
  /** Moves a process into a child cgroup; the kernel then re-tags the sockets it holds. */
  add(child: string, pid: number): void;
  /**
   * Removes the children (their processes must have ended) and ends the namespace, and so the
   * mount; resolves once /proc/cgroups counts the children gone, which the kernel does a little
   * after rmdir, so that the next test starts from the same count.
   */
  close(): Promise<void>;
}

export async function mountV1Hierarchy(controller: 'net_cls' | 'net_prio'): Promise<V1Hierarchy> {
  const before = cgroupCount(controller);
  const mountpoint = mkdtempSync(join(tmpdir(), `portclash-${controller}-`));
  // unshare without --fork execs sh: one pid, whose /proc/<pid>/root sees the mount. When its
  // stdin ends (close(), or this process dying), it removes what children are left, so that a
  // killed test run does not leave a cgroup behind for every later check to meet.
  const script = `mount --make-rprivate / && mount -t cgroup -o ${controller} none "$0" && echo ready && cat; rmdir "$0"/*/ 2>/dev/null; umount "$0"`;
  const keeper = spawn('unshare', ['--mount', 'sh', '-c', script, mountpoint], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  keeper.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => keeper.once('exit', () => resolve()));
  const ready = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('no answer within 10 s'), 10_000);
    keeper.stdout.setEncoding('utf8').once('data', (chunk: string) => (clearTimeout(timer), resolve(chunk.trim())));
    keeper.once('exit', (code) => (clearTimeout(timer), resolve(`exit ${code}`)));
  });
  const end = async () => {
    keeper.stdin.end();
    const timer = setTimeout(() => keeper.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmdirSync(mountpoint);
  };
  if (ready !== 'ready') {
    await end();
    throw new Error(`could not mount ${controller}: ${ready}; ${stderr.trim()}`);
  }
  const directory = `/proc/${keeper.pid}/root${mountpoint}`;
  const children: string[] = [];
  return {
    directory,
    child(name, files = {}) {
      const path = join(directory, name);
      mkdirSync(path);
      children.push(path);
      for (const [file, text] of Object.entries(files)) writeFileSync(join(path, file), text);
      return path;
    },
    add(child, pid) {
      writeFileSync(join(child, 'cgroup.procs'), String(pid));
    },
    async close() {
      for (const path of children.splice(0).reverse()) rmdirSync(path);
      await end();
      await waitFor(() => (cgroupCount(controller) <= before ? true : undefined), `the ${controller} cgroups to be gone`);
    },
  };
}
