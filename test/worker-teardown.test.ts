// A worker thread ended while its readings and owner scans are in flight: the process lives on.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { runCommand } from './helpers/holders.js';
import { listenerTable } from './helpers/proc-text.js';

const DIST_BINDING = fileURLToPath(new URL('../dist/binding.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'portclash-teardown-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.runIf(process.platform === 'linux')('a worker thread ended with native work in flight', () => {
  // Node completes the work of an ending thread's environment inside its teardown, where resolving
  // a promise throws: unguarded, that throw ends in std::terminate and takes the process down.
  it.each(['terminate', 'exit'] as const)('leaves the process alive (worker %s)', async (how) => {
    const path = join(scratch, `tcp-${how}`);
    writeFileSync(path, listenerTable(40_000));
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = \`
        const { parentPort } = require('node:worker_threads');
        import(${JSON.stringify(DIST_BINDING)}).then(({ getBinding }) => {
          const binding = getBinding();
          binding.readProcNet([{ path: ${JSON.stringify(path)}, protocol: 6, family: 4 }], () => {}).catch(() => {});
          binding.findSocketOwners({ inodes: null, pids: null, stopWhenFound: false }).catch(() => {});
          parentPort.postMessage('started');
          if (${JSON.stringify(how)} === 'exit') process.exit(0);
        });
      \`;
      (async () => {
        for (let round = 0; round < 5; round++) {
          const worker = new Worker(code, { eval: true });
          // a worker that exits right after postMessage may never deliver it: wait for its exit then,
          // which comes after the work it started (and without a listener nothing would keep us alive)
          if (${JSON.stringify(how)} === 'terminate') {
            await new Promise((resolve) => worker.once('message', resolve));
            await worker.terminate();
          } else {
            await new Promise((resolve) => worker.once('exit', resolve));
          }
        }
        process.stdout.write('survived');
      })();
    `;
    const run = await runCommand(process.execPath, ['-e', script], { timeoutMs: 60_000 });
    expect(run.stderr).not.toContain('terminate called');
    expect({ code: run.code, signal: run.signal, stdout: run.stdout }).toEqual({ code: 0, signal: null, stdout: 'survived' });
  });

  it("does not hold the main thread's process.exit() back with a worker's reading waiting at its bound", async () => {
    const path = join(scratch, 'tcp-main-exit');
    writeFileSync(path, listenerTable(40_000));
    // The worker starts a reading and then never turns its event loop, so the reader stops at the
    // queue's bound; the main thread then exits, which ends the worker, whose teardown waits for
    // that reading: only the main thread's 'exit' can stop it.
    const script = `
      const { Worker } = require('node:worker_threads');
      const code = \`
        const { parentPort } = require('node:worker_threads');
        import(${JSON.stringify(DIST_BINDING)}).then(({ getBinding }) => {
          getBinding().readProcNet([{ path: ${JSON.stringify(path)}, protocol: 6, family: 4 }], () => {}).catch(() => {});
          parentPort.postMessage('started');
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
        });
      \`;
      import(${JSON.stringify(DIST_BINDING)}).then(({ getBinding }) => {
        const binding = getBinding();
        const worker = new Worker(code, { eval: true });
        worker.once('message', () => {
          let waiting = false;
          for (let attempt = 0; attempt < 5000 && !waiting; attempt++) {
            waiting = binding.debugTableQueue().waiting;
            if (!waiting) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          }
          process.stdout.write(waiting ? 'waiting' : 'never-waiting');
          process.exit(0);
        });
      });
    `;
    // the timeout only ends a child that hangs, which is the failure
    const run = await runCommand(process.execPath, ['-e', script], { timeoutMs: 20_000 });
    expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 0, stdout: 'waiting' });
  });
});
