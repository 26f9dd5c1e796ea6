// Reading another process's socket options never waits out that socket's SO_LINGER on the caller's thread.
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { resolveAddonPath } from '../lib/binding.js';
import { holdLinger, spawnSeamChild, type HostileProcess, type LingerReport } from './helpers/hostile.js';

// The child duplicates a fd of the holder, its sibling: a ptrace-mode attach, which Yama's
// ptrace_scope 1 or more allows only to a parent or with CAP_SYS_PTRACE; without Yama or at 0 the same uid is enough.
const yamaScope = (() => {
  try {
    return Number(readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8'));
  } catch {
    return 0;
  }
})();
const canDuplicate = process.getuid?.() === 0 || yamaScope === 0;
if (!canDuplicate) console.warn(`socket-options-close.test: Yama's ptrace_scope is ${yamaScope}, so duplicating a sibling's fd needs root; skipped`);

// The child reads the options with the addon's test seam on fd 3: after pidfd_getfd it writes a
// byte there and waits for one, while the test has the owner close its fd. Its duplicate is then the
// socket's last reference, and closing it runs the lingering TCP close (data the peer never reads).
// Right after the call returns it looks at the kernel's table: while that close still waits, the
// socket keeps its inode there; once the close is over, the orphaned socket shows inode 0.
const childScript = (report: LingerReport) => `
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const addon = require(${JSON.stringify(resolveAddonPath())});
const inTable = () => readFileSync('/proc/net/tcp', 'utf8').split('\\n').slice(1).some((line) => line.trim().split(/\\s+/)[9] === '${report.inode}');
const closers = () => readdirSync('/proc/self/task').flatMap((tid) => {
  try {
    const comm = readFileSync('/proc/self/task/' + tid + '/comm', 'utf8').trim();
    return comm === 'portclash-opts' ? [readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1][0]] : [];
  } catch { return []; }
});
addon.debugPauseAfterGetfd(3);
const options = addon.readSocketOptions(${report.pid}, ${report.fd}, ${report.inode});
const lingeringAfterCall = inTable();
// the duplicate, still open on its reader thread, is in no fd table an owner scan reads: not even
// this process's own next scan names this process a holder
const selfAsOwner = addon.findSocketOwnersSync({ inodes: [${report.inode}], pids: [process.pid], stopWhenFound: false }).count;
// the reader thread goes from handing back the options to its close: wait (bounded) to see it asleep there
const pause = new Int32Array(new SharedArrayBuffer(4));
let closerStates = closers();
for (let turn = 0; turn < 2000 && !closerStates.includes('S'); turn++) {
  Atomics.wait(pause, 0, 0, 1);
  closerStates = closers();
}
addon.debugPauseAfterGetfd(-1);
let timerFired = false;
setTimeout(() => (timerFired = true), 0);
await new Promise((resolve) => setImmediate(resolve));
const lingeringAfterTimer = inTable();
// the close does end, on the closer thread: the linger is 5 s; bounded, in case it never does
let closedLater = false;
for (let turn = 0; turn < 300 && !closedLater; turn++) {
  await new Promise((resolve) => setTimeout(resolve, 50));
  closedLater = !inTable();
}
process.stdout.write(JSON.stringify({ options, lingeringAfterCall, selfAsOwner, closerStates, timerFired, lingeringAfterTimer, closedLater }));
process.exit(0);
`;

describe.runIf(process.platform === 'linux' && canDuplicate)('readSocketOptions and a lingering close', () => {
  const holders: HostileProcess<unknown>[] = [];
  afterEach(async () => {
    for (const holder of holders.splice(0)) await holder.close();
  });

  it('returns while the last close of the duplicate still waits out SO_LINGER, on a closer thread', async () => {
    const holder = await holdLinger(5);
    holders.push(holder);
    const child = spawnSeamChild(childScript(holder.report));
    const { seam, exited } = child;
    try {
      // the child has its duplicate: the owner closes its own fd, then the child goes on
      const [byte] = (await Promise.race([once(seam, 'data'), exited.then(() => [null])])) as [Buffer | null];
      expect(byte?.toString(), child.stderr()).toBe('d');
      // the child holds its duplicate now, yet /proc/<child>/fd, which ss -p, lsof and owner scans
      // read, shows no fd of that socket
      const links = readdirSync(`/proc/${child.pid}/fd`).map((fd) => {
        try {
          return readlinkSync(`/proc/${child.pid}/fd/${fd}`);
        } catch {
          return '';
        }
      });
      expect(links.length).toBeGreaterThan(3);
      expect(links).not.toContain(`socket:[${holder.report.inode}]`);
      holder.send('close');
      expect(await holder.nextLine()).toBe('closed');
      seam.write('g');
      const [code] = await exited;
      expect(code, child.stderr()).toBe(0);
    } finally {
      child.dispose();
    }
    const result = JSON.parse(child.stdout()) as {
      options: { errno: number; reuseAddr: boolean | null; reusePort: boolean | null; ipv6Only: boolean | null };
      lingeringAfterCall: boolean;
      selfAsOwner: number;
      closerStates: string[];
      timerFired: boolean;
      lingeringAfterTimer: boolean;
      closedLater: boolean;
    };
    expect(result.options).toMatchObject({ errno: 0, reuseAddr: false, reusePort: false, ipv6Only: null });
    // the call returned before the close was over: the event loop turned meanwhile
    expect(result.lingeringAfterCall).toBe(true);
    expect(result.selfAsOwner).toBe(0);
    expect(result.timerFired).toBe(true);
    expect(result.lingeringAfterTimer).toBe(true);
    // ... because a closer thread is the one waiting (S: sleeping in the kernel)
    expect(result.closerStates).toContain('S');
    expect(result.closedLater).toBe(true);
  }, 60_000);
});
