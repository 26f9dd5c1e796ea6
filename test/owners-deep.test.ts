// The owner scan's guided search: a listener deep in a process's fds is found without reading them all, its forked sharers too, and what the search misses the rounds still find.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding } from '../lib/binding.js';
import { findOwners, listSockets } from '../lib/index.js';

// Opens `before` TCP sockets (unbound: they take an fd and an inode, and no table shows them), then
// a listener on 127.0.0.1, then `after` more; with `reuse`, closes one of the first sockets before
// the listener, so that it takes that low fd with the newest inode. With `fork`, forks a child that
// keeps every fd. Prints {pid, child, port, fd} and holds until stdin ends.
const HOLDER = `
import json, os, socket, sys
before, after, reuse, fork = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1', sys.argv[4] == '1'
held = [socket.socket() for _ in range(before)]
if reuse:
    held[100].close()
listener = socket.socket()
listener.bind(('127.0.0.1', 0))
listener.listen()
held += [socket.socket() for _ in range(after)]
child = 0
if fork:
    child = os.fork()
    if child == 0:
        sys.stdin.read()
        os._exit(0)
print(json.dumps({'pid': os.getpid(), 'child': child, 'port': listener.getsockname()[1], 'fd': listener.fileno()}), flush=True)
sys.stdin.read()
if child:
    os.waitpid(child, 0)
`;

interface Held {
  pid: number;
  child: number;
  port: number;
  fd: number;
}

const started: ChildProcess[] = [];

async function hold(before: number, after: number, options: { reuse?: boolean; fork?: boolean } = {}): Promise<Held> {
  const child = spawn('python3', ['-c', HOLDER, String(before), String(after), options.reuse === true ? '1' : '0', options.fork === true ? '1' : '0'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  started.push(child);
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([
    new Promise<string>((resolve) => lines.once('line', resolve)),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the holder did not report within 10 s')), 10_000).unref()),
  ]);
  lines.close();
  return JSON.parse(line) as Held;
}

afterEach(async () => {
  await Promise.all(
    started.splice(0).map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end();
      await exited;
    }),
  );
});

async function listenerOn(port: number) {
  const sockets = await listSockets({ port, protocol: 'tcp', listening: true });
  expect(sockets).toHaveLength(1);
  return sockets[0]!;
}

describe("the owner scan's guided search", () => {
  it('finds a listener 1,500 fds deep, and the forked child that keeps it at the same fd, reading a fraction of the fds', async () => {
    const held = await hold(1500, 1500, { fork: true });
    const listener = await listenerOn(held.port);
    const scan = await getBinding().findSocketOwners!({ inodes: [listener.inode], pids: [held.pid, held.child], stopWhenFound: true });
    const rows = new Uint32Array(scan.rows, 0, scan.count * 4);
    const holders = new Set(Array.from({ length: scan.count }, (_, row) => `${rows[row * 4]}:${rows[row * 4 + 1]}`));
    expect(holders).toEqual(new Set([`${held.pid}:${held.fd}`, `${held.child}:${held.fd}`]));
    // reading both processes in rounds to that depth takes more than 3,000 readlinks
    expect(scan.links).toBeLessThan(1000);

    const [owned] = await findOwners([listener], { scan: 'first' });
    expect(new Set(owned!.owners.map((owner) => owner.pid))).toEqual(new Set([held.pid, held.child]));
  });

  it('still finds a listener whose inode is out of its fd order (a low fd reused), through the rounds', async () => {
    const held = await hold(3000, 0, { reuse: true });
    const listener = await listenerOn(held.port);
    expect(held.fd).toBeLessThan(200);
    const [owned] = await findOwners([listener], { scan: 'first' });
    expect(owned!.owner?.pid).toBe(held.pid);
    const scan = await getBinding().findSocketOwners!({ inodes: [listener.inode], pids: null, stopWhenFound: true });
    expect(scan.count).toBe(1);
  });

  it('finds the newest socket of a process, past its last sample', async () => {
    const held = await hold(4000, 0);
    const listener = await listenerOn(held.port);
    const [owned] = await findOwners([listener], { scan: 'first' });
    expect(owned!.owner?.pid).toBe(held.pid);
  });
});
