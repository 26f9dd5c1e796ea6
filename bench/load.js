// Starts load processes (one process's fd limit is ~20k here) and waits until all hold their sockets.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { readOwnCgroup } from '../dist/linux/cgroupfs.js';

/** @import { ChildProcess } from 'node:child_process' */
/**
 * What a load process sends once it holds its sockets (load-child.js).
 * @typedef {{ ready: true, listeners: number, pairs: number, udp: number }} LoadReport
 */

const child = fileURLToPath(new URL('./load-child.js', import.meta.url));
const SOCKETS_PER_PROCESS = 12_000;

/**
 * Opens about `sockets` TCP sockets — a quarter listeners, the rest both ends of connections —
 * and `udp` UDP sockets, half of them connected. As root, each load process runs in a cgroup of
 * its own, as systemd runs each service, so its sockets carry that cgroup's id. With `manySources`,
 * each client connects from an address of its own, as a busy server's clients come from many.
 * @param {number} sockets
 * @param {{ udp?: number, timeoutMs?: number, manySources?: boolean }} [options]
 */
export async function startLoad(sockets, { udp = 0, timeoutMs = 120_000, manySources = false } = {}) {
  const listeners = Math.round(sockets / 4);
  const pairs = Math.round((sockets - listeners) / 2);
  const processes = Math.max(1, Math.ceil((sockets + udp) / SOCKETS_PER_PROCESS));
  /** @type {ChildProcess[]} */
  const children = [];
  /** @type {Promise<unknown[]>[]} */
  const ready = [];
  const cgroups = process.getuid?.() === 0 ? readOwnCgroup().directory : null;
  /** @type {string[]} */
  const made = [];
  for (let i = 0; i < processes; i++) {
    const share = (/** @type {number} */ total) => Math.floor(total / processes) + (i < total % processes ? 1 : 0);
    const cgroup = cgroups === null ? null : join(cgroups, `portclash-bench-${process.pid}-${i}`);
    if (cgroup !== null) mkdirSync(cgroup);
    // the shell moves itself into the cgroup before it execs Node, so every socket is made there
    const inCgroup = cgroup === null ? {} : { execPath: 'sh', execArgv: ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, process.execPath] };
    const load = fork(child, [String(share(listeners)), String(share(pairs)), String(share(udp)), ...(manySources ? ['sources'] : [])], {
      stdio: 'ignore',
      ...inCgroup,
    });
    children.push(load);
    if (cgroup !== null) made.push(cgroup);
    ready.push(once(load, 'message', { signal: AbortSignal.timeout(timeoutMs) }));
  }
  try {
    const reports = (await Promise.all(ready)).map(([message]) => /** @type {LoadReport} */ (message));
    const held = reports.reduce((sum, report) => sum + report.listeners + report.pairs * 2, 0);
    const heldUdp = reports.reduce((sum, report) => sum + report.udp, 0);
    return { held, heldUdp, cgroups: made.length, stop: () => stopAll(children, made) };
  } catch (error) {
    await stopAll(children, made);
    throw error;
  }
}

/**
 * Ends load processes (SIGTERM, awaited) and removes the cgroups they ran in.
 * @param {ChildProcess[]} children
 * @param {string[]} [cgroups]
 */
export async function stopAll(children, cgroups = []) {
  await Promise.all(
    children.map(async (load) => {
      if (load.exitCode !== null || load.signalCode !== null) return;
      const exited = once(load, 'exit');
      load.kill('SIGTERM');
      await exited;
    }),
  );
  for (const cgroup of cgroups) rmdirSync(cgroup);
}
