// process.exit() during an owner scan ends the scan instead of waiting for it to read every fd.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { runCommand } from './helpers/holders.js';
import { holdDups, type HostileProcess } from './helpers/hostile.js';

const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe.runIf(process.platform === 'linux')('exit during an owner scan', () => {
  const holders: HostileProcess<unknown>[] = [];
  afterEach(async () => {
    for (const holder of holders.splice(0)) await holder.close();
  });

  // strace counts the readlinkat calls of the scan (relative to a /proc/<pid>/fd dirfd): an honest
  // count of the fds read, and slowing each call makes the scan long enough to exit in its middle.
  it("stops the scan: the child exits having read only part of the holder's fds", async () => {
    const holder = await holdDups(100_000);
    holders.push(holder);
    const { report } = holder;
    const total = report.holders.reduce((sum, { fds, range: [first, last] }) => sum + fds.length + last - first + 1, 0);
    const pids = report.holders.map(({ pid }) => pid);
    const script = `
      import { readdirSync, readlinkSync } from 'node:fs';
      const { findOwners, listSockets } = await import(${JSON.stringify(DIST_INDEX)});
      const listed = (await listSockets({ port: ${report.port}, protocol: 'tcp' })).filter((socket) => socket.inode === ${report.inode});
      findOwners(listed, { scan: 'all' }).catch(() => {});
      // exit once the scan is inside a holder's fds: its dirfd of /proc/<holder>/fd is open here
      const inHolder = () => readdirSync('/proc/self/fd').some((fd) => {
        try { return ${JSON.stringify(pids.map((pid) => `/proc/${pid}/fd`))}.includes(readlinkSync('/proc/self/fd/' + fd)); } catch { return false; }
      });
      for (let turn = 0; turn < 20000 && !inHolder(); turn++) await new Promise((resolve) => setTimeout(resolve, 1));
      process.stdout.write(inHolder() ? 'in-holder' : 'never-in-holder');
      process.exit(0);
    `;
    const directory = mkdtempSync(join(tmpdir(), 'portclash-cancel-'));
    try {
      const trace = join(directory, 'trace');
      const run = await runCommand('strace', ['-f', '-qq', '-e', 'trace=readlinkat', '-o', trace, process.execPath, '--input-type=module', '-e', script], {
        timeoutMs: 120_000,
      });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe('in-holder');
      // the scan's readlinkat calls name an fd relative to its dirfd ("123"); the script's own use AT_FDCWD
      const scanned = readFileSync(trace, 'utf8')
        .split('\n')
        .filter((line) => /readlinkat\(\d+, "\d+"/.test(line)).length;
      expect(scanned).toBeGreaterThan(0);
      expect(scanned).toBeLessThan(total / 2);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }, 180_000);
});
