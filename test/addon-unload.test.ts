// The addon stays loaded after a worker thread that used it ends: its closer threads may still run its code.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { resolveAddonPath } from '../lib/binding.js';
import { runCommand } from './helpers/holders.js';

const DIST_BINDING = fileURLToPath(new URL('../dist/binding.js', import.meta.url));

describe.runIf(process.platform === 'linux')('a worker thread that read socket options, then ended', () => {
  // Node unloads (dlclose) an addon a worker thread loaded when that thread ends, unless another
  // environment holds it. The duplicate readSocketOptions makes is closed on a detached thread of
  // the addon's, which may still be in a lingering close() then: with the code unmapped under it,
  // the process would crash. Linked with -z nodelete, the addon is never unmapped.
  it('leaves the addon mapped, with its closer thread alive', async () => {
    const script = `
      const { Worker } = require('node:worker_threads');
      const { readFileSync, readdirSync, readlinkSync } = require('node:fs');
      const net = require('node:net');
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const fd = server._handle.fd;
        const inode = Number(/\\d+/.exec(readlinkSync('/proc/self/fd/' + fd))[0]);
        const worker = new Worker(\`
          const { workerData, parentPort } = require('node:worker_threads');
          import(workerData.binding).then(({ getBinding }) => {
            parentPort.postMessage(getBinding().readSocketOptions(process.pid, workerData.fd, workerData.inode));
          });
        \`, { eval: true, workerData: { fd, inode, binding: ${JSON.stringify(DIST_BINDING)} } });
        let read;
        worker.on('message', (reading) => (read = reading));
        worker.on('exit', () => {
          const mapped = readFileSync('/proc/self/maps', 'utf8').includes(${JSON.stringify(resolveAddonPath())});
          const closers = readdirSync('/proc/self/task').filter((task) => readFileSync('/proc/self/task/' + task + '/comm', 'utf8').trim() === 'portclash-opts').length;
          process.stdout.write(JSON.stringify({ read, mapped, closers }));
          process.exit(0);
        });
      });
    `;
    const run = await runCommand(process.execPath, ['-e', script], { timeoutMs: 15_000 });
    expect(run.code, run.stderr).toBe(0);
    const { read, mapped, closers } = JSON.parse(run.stdout) as { read: { errno: number; reuseAddr: boolean }; mapped: boolean; closers: number };
    // the worker really made a duplicate (Node's servers set SO_REUSEADDR), so a closer thread exists
    expect(read).toMatchObject({ errno: 0, reuseAddr: true });
    expect(closers).toBeGreaterThan(0);
    expect(mapped).toBe(true);
  });
});
