// The queue between the reader thread and a slow onRows: bounded, so a slow consumer never holds the table twice.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { RowTable } from '../lib/rows.js';

const scratch = mkdtempSync(join(tmpdir(), 'portclash-queue-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const LINE = '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 INODE 1 0000000000000000 100 0 0 10 0\n';

describe.runIf(process.platform === 'linux')('the batches waiting for a slow onRows', () => {
  it('never exceed the bound, and every row still arrives', async () => {
    const binding = getBinding();
    const lines = 40_000; // 20 batches of 2048 rows
    const path = join(scratch, 'tcp');
    writeFileSync(path, HEADER + Array.from({ length: lines }, (_, i) => LINE.replace('INODE', String(i + 1))).join(''));
    const { limit } = binding.debugTableQueue!();
    let delivered = 0;
    let first = true;
    let sawWaiting = false;
    const reading = await binding.readProcNet([{ path, protocol: 6, family: 4 }], (rows, count) => {
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
});
