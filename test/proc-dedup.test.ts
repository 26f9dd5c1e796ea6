// Torn /proc/net reads: a socket the kernel repeats while the table changes is read once, and the report counts the repeats.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { RowTable } from '../lib/rows.js';
import { createNetns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('proc-dedup.test: the churning table is made in a network namespace of its own, which needs root; skipped');
const scratch = mkdtempSync(join(tmpdir(), 'portclash-dedup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const line = (slot: number, local: string, remote: string, state: string, inode: number) =>
  `${String(slot).padStart(4)}: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000  1000        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;

function read(path: string) {
  const reading = getBinding().readProcNetSync!([{ path, protocol: 6, family: 4 }]);
  const table = new RowTable(reading.rows, reading.count);
  const rows = Array.from({ length: table.count }, (_, row) => ({
    inode: table.inode(row),
    localPort: table.localPort(row),
    remotePort: table.remotePort(row),
    state: table.state(row),
  }));
  return { rows, source: reading.sources[0]! };
}

describe.runIf(endianness() === 'LE')('a /proc/net table that repeats rows (crafted)', () => {
  it('gives each socket once: by inode, and by five-tuple and state where the inode is 0', () => {
    const listener = line(0, '0100007F:1F90', '00000000:0000', '0A', 4242);
    const timeWaitA = line(1, '0100007F:1F90', '0100007F:C350', '06', 0);
    const timeWaitB = line(2, '0100007F:1F90', '0100007F:C351', '06', 0);
    const path = join(scratch, 'tcp');
    // the same listener printed again at another slot (it moved in the hash), and a TIME_WAIT repeated
    writeFileSync(path, HEADER + listener + timeWaitA + timeWaitB + line(7, '0100007F:1F90', '00000000:0000', '0A', 4242) + timeWaitA);
    const { rows, source } = read(path);
    expect(rows).toEqual([
      { inode: 4242, localPort: 0x1f90, remotePort: 0, state: 0x0a },
      { inode: 0, localPort: 0x1f90, remotePort: 0xc350, state: 6 },
      { inode: 0, localPort: 0x1f90, remotePort: 0xc351, state: 6 },
    ]);
    expect(source).toMatchObject({ rows: 3, malformed: 0, duplicates: 2, errno: 0 });
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('/proc/net/tcp read while its table churns', () => {
  it('never lists an inode twice, even in readings the kernel tore', async () => {
    const netns = await createNetns();
    // 600 listeners in a namespace of the test's own, one closed and one opened at each step: the
    // kernel's reader resumes by position every page (~27 lines), so readings tear and repeat.
    const churn = `
import os, select, socket, sys
held = []
for _ in range(600):
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); held.append(s)
print('ready', flush=True)
step = 0
while not select.select([sys.stdin], [], [], 0)[0]:
    held.pop(step % len(held)).close()
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); held.append(s)
    step += 7
`;
    const child = spawn('nsenter', [`--net=${netns.path}`, 'python3', '-c', churn], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const [ready] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => ['exited'])])) as [Buffer | string];
      expect(String(ready).trim()).toBe('ready');
      const path = `/proc/${netns.pid}/net/tcp`;
      let repeatsDropped = 0;
      let readings = 0;
      let changed = false;
      let previous: string | undefined;
      // Until the kernel has provably torn a reading (a repeat was dropped) and the table changed
      // between readings; bounded, and a failure says the churn never overlapped a read.
      for (; readings < 3000 && !(repeatsDropped > 0 && changed); readings++) {
        const { rows, source } = read(path);
        expect(source.errno).toBe(0);
        const inodes = rows.map((row) => row.inode);
        expect(new Set(inodes).size, `reading ${readings} lists an inode twice`).toBe(inodes.length);
        expect(source.rows).toBe(rows.length);
        repeatsDropped += source.duplicates ?? 0;
        const key = [...inodes].sort().join(',');
        if (previous !== undefined && key !== previous) changed = true;
        previous = key;
      }
      expect({ repeatsDropped: repeatsDropped > 0, changed }, `after ${readings} readings`).toEqual({ repeatsDropped: true, changed: true });
    } finally {
      const exited = once(child, 'exit');
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await netns.close();
    }
  });
});
