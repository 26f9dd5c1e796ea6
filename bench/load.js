// Starts load processes (one process's fd limit is ~20k here) and waits until all hold their sockets.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./load-child.js', import.meta.url));
const SOCKETS_PER_PROCESS = 12_000;

/**
 * Opens about `sockets` TCP sockets — a quarter listeners, the rest both ends of connections —
 * and `udp` UDP sockets, half of them connected.
 */
export async function startLoad(sockets, { udp = 0, timeoutMs = 120_000 } = {}) {
  const listeners = Math.round(sockets / 4);
  const pairs = Math.round((sockets - listeners) / 2);
  const processes = Math.max(1, Math.ceil((sockets + udp) / SOCKETS_PER_PROCESS));
  const children = [];
  const ready = [];
  for (let i = 0; i < processes; i++) {
    const share = (total) => Math.floor(total / processes) + (i < total % processes ? 1 : 0);
    const load = fork(child, [String(share(listeners)), String(share(pairs)), String(share(udp))], { stdio: 'ignore' });
    children.push(load);
    ready.push(once(load, 'message', { signal: AbortSignal.timeout(timeoutMs) }));
  }
  try {
    const reports = (await Promise.all(ready)).map(([message]) => message);
    const held = reports.reduce((sum, report) => sum + report.listeners + report.pairs * 2, 0);
    const heldUdp = reports.reduce((sum, report) => sum + report.udp, 0);
    return { held, heldUdp, stop: () => stopAll(children) };
  } catch (error) {
    await stopAll(children);
    throw error;
  }
}

async function stopAll(children) {
  await Promise.all(
    children.map(async (load) => {
      if (load.exitCode !== null || load.signalCode !== null) return;
      const exited = once(load, 'exit');
      load.kill('SIGTERM');
      await exited;
    }),
  );
}
