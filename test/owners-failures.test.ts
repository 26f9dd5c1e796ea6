// A failing owner scan leaves no fd behind and never aborts Node: thrown errors, the thread limit.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, resolveAddonPath, setBinding } from '../lib/binding.js';
import { findOwners, findOwnersSync, listSockets, PortclashError } from '../lib/index.js';
import { inodeOf, portOf, SocketPool } from './helpers/sockets.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('owners-failures.test: the thread-limit test runs as nobody through setpriv, which needs root, and is skipped');
const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs an ES module script in a child Node, so that an abort takes the child, not the test; "go" once it is ready. */
async function runChild(script: string, options: { uid?: number; gid?: number } = {}): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = once(child, 'exit');
  const ready = new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.startsWith('ready\n')) resolve();
    });
    child.once('exit', () => resolve());
  });
  try {
    await ready;
    if (child.exitCode === null && child.signalCode === null) child.stdin.end('go\n');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout: stdout.replace(/^ready\n/, ''), stderr };
  } finally {
    clearTimeout(timer);
  }
}

// The child's half: open a listener, say ready, wait for go, then run `body` and print its JSON.
const prelude = (body: string) => `
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
const require = createRequire(import.meta.url);
const addon = require(${JSON.stringify(resolveAddonPath())});
const server = net.createServer().listen(0, '127.0.0.1');
await once(server, 'listening');
const fds = () => readdirSync('/proc/self/fd').sort().join(',');
// the libuv pool starts its threads on first use; start them before any limit applies
await new Promise((resolve) => require('node:fs').stat('/', resolve));
process.stdout.write('ready\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.destroy();
const result = await (async () => { ${body} })();
process.stdout.write(JSON.stringify(result));
server.close();
`;

describe.runIf(process.platform === 'linux')('a failing owner scan', () => {
  const pool = new SocketPool();
  afterEach(async () => {
    setBinding(null);
    await pool.closeAll();
  });

  it('throws or rejects, on either scan thread, and leaves the fds it opened closed', async () => {
    // pids[0] is read on the calling thread, pids[1] on the second one
    const run = await runChild(
      prelude(`
      const other = process.ppid;
      const before = fds();
      const outcomes = [];
      for (const sync of [true, false]) {
        for (const stopWhenFound of [false, true]) {
          for (const throwAt of [process.pid, other]) {
            const query = { inodes: stopWhenFound ? [1] : null, pids: [process.pid, other], stopWhenFound };
            try {
              await addon.debugFindSocketOwners(query, throwAt, sync);
              outcomes.push('answered');
            } catch (error) {
              outcomes.push(error instanceof Error ? error.message : String(error));
            }
          }
        }
      }
      return { outcomes, same: fds() === before, before, after: fds() };
    `),
    );
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { outcomes: string[]; same: boolean; before: string; after: string };
    expect(result.outcomes).toEqual(Array(8).fill('debug: the scan failed'));
    expect(result.after).toBe(result.before);
  });

  it('reaches users as a PortclashError', async () => {
    const server = await pool.listen('127.0.0.1');
    const listed = (await listSockets({ port: portOf(server), protocol: 'tcp' })).filter((socket) => socket.inode === inodeOf(server));
    const real = getBinding();
    setBinding({
      ...real,
      findSocketOwners: () => Promise.reject(new Error('std::bad_alloc')),
      findSocketOwnersSync: () => {
        throw new Error('std::bad_alloc');
      },
    });
    await expect(findOwners(listed)).rejects.toMatchObject({ name: 'PortclashError', code: 'ERR_NATIVE' });
    expect(() => findOwnersSync(listed)).toThrow(PortclashError);
  });

  // RLIMIT_NPROC counts every task of the user, threads included; nobody has no capability to pass it.
  it.runIf(isRoot)('answers on one thread when no thread can be made (RLIMIT_NPROC as nobody)', async () => {
    const run = await runChild(
      prelude(`
      const { findOwners, findOwnersSync, listSockets } = await import(${JSON.stringify(DIST_INDEX)});
      const { execFileSync, spawnSync } = await import('node:child_process');
      // listed first: the table readers' own threads are not what this test is about
      const listed = await listSockets({ port: server.address().port, protocol: 'tcp', listening: true });
      // lowering one's own limit needs no capability (prlimit of another user's process would)
      execFileSync('prlimit', ['--pid', String(process.pid), '--nproc=1:1']);
      const owners = [];
      for (const scan of ['all', 'first']) owners.push((await findOwners(listed, { scan }))[0].owner);
      owners.push(findOwnersSync(listed)[0].owner);
      // proof that the limit was in force: no new task (process or thread) can start
      const threadError = spawnSync('true').error?.code ?? null;
      return { owners: owners.map((owner) => owner && { pid: owner.pid }), pid: process.pid, threadError };
    `),
      { uid: 65534, gid: 65534 },
    );
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { owners: ({ pid: number } | null)[]; pid: number; threadError: string | null };
    expect(result.owners).toEqual([{ pid: result.pid }, { pid: result.pid }, { pid: result.pid }]);
    expect(result.threadError).toBe('EAGAIN');
  });
});
