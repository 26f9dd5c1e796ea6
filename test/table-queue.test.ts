// The queue between the reader thread and a slow onRows: bounded, so a slow consumer never holds the table twice,
// and a reader waiting at the bound never holds process.exit() back.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { RowTable } from '../lib/rows.js';
import { runCommand } from './helpers/holders.js';
import { listenerTable } from './helpers/proc-text.js';

const DIST_BINDING = fileURLToPath(new URL('../dist/binding.js', import.meta.url));

const scratch = mkdtempSync(join(tmpdir(), 'portclash-queue-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.runIf(process.platform === 'linux')('the batches waiting for a slow onRows', () => {
  it('never exceed the bound, and every row still arrives', async () => {
    const binding = getBinding();
    const lines = 40_000; // 20 batches of 2048 rows
    const path = join(scratch, 'tcp');
    writeFileSync(path, listenerTable(lines));
    const { limit } = binding.debugTableQueue!();
    let delivered = 0;
    let first = true;
    let sawWaiting = false;
    const reading = await binding.readProcNet!([{ path, protocol: 6, family: 4 }], (rows, count) => {
      if (first) {
        first = false;
        // The slowest consumer there is: hold the main thread until the reader has either stopped
        // at the bound or queued the rest of the table (without a bound). Bounded by a deadline.
        const pause = new Int32Array(new SharedArrayBuffer(4));
        for (let attempt = 0; attempt < 5000; attempt++) {
          const queue = binding.debugTableQueue!();
          if (queue.waiting) {
            sawWaiting = true;
            break;
          }
          if (queue.queued > limit) break;
          Atomics.wait(pause, 0, 0, 1);
        }
      }
      delivered += new RowTable(rows, count).count;
    });
    expect(reading.sources[0]).toMatchObject({ rows: lines, errno: 0 });
    expect(delivered).toBe(lines);
    expect(reading.maxQueuedBatches).toBeLessThanOrEqual(limit);
    expect(sawWaiting).toBe(true);
  });

  it('do not hold process.exit() back while the reader waits at the bound', async () => {
    const path = join(scratch, 'tcp-exit');
    writeFileSync(path, listenerTable(40_000));
    // The child exits from its first onRows, once the reader is waiting for room that JS will never
    // make: exit joins libuv's pool threads, so without a cancel the reader's thread keeps it alive.
    const script = `
      const { getBinding } = await import(${JSON.stringify(DIST_BINDING)});
      const binding = getBinding();
      const pause = new Int32Array(new SharedArrayBuffer(4));
      binding.readProcNet([{ path: ${JSON.stringify(path)}, protocol: 6, family: 4 }], () => {
        let waiting = false;
        for (let attempt = 0; attempt < 5000 && !waiting; attempt++) {
          waiting = binding.debugTableQueue().waiting;
          if (!waiting) Atomics.wait(pause, 0, 0, 1);
        }
        process.stdout.write(waiting ? 'waiting' : 'never-waiting');
        process.exit(0);
      }).catch(() => {});
    `;
    // the timeout only ends a child that hangs, which is the failure
    const run = await runCommand(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 15_000 });
    expect(run.stdout).toBe('waiting');
    expect(run.code).toBe(0);
  });
});
