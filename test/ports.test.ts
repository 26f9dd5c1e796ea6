// listSockets({ pid }) and `portclash ports`: the sockets of a process the test starts, of its child, of a thread; and the processes that cannot be read.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import { getBinding, setBinding, type IpHelperQuery, type NativeBinding } from '../lib/binding.js';
import { shorten } from '../lib/describe.js';
import { listSockets, listSocketsSync, readSocketTables, type OwnedSocket, type ProcessInfo, type SocketRecord } from '../lib/index.js';
import { readProcess } from '../lib/processes.js';
import { packRows, ROW_LAYOUT_VERSION, ROW_SIZE, type RawRow } from '../lib/rows.js';
import { win32 } from '../lib/win32/index.js';
import { CLI, runCli } from './helpers/cli.js';
import { goneProcess, runningProcess } from './helpers/win32-processes.js';
import { runCommand } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('ports.test: the unreadable-process tests run the CLI as nobody against a root process, and need root; skipped');

// Opens a TCP listener and a UDP socket on 127.0.0.1 under the name in argv[1] (process.title sets
// comm on Linux), and with argv[2] 'spawn' first starts itself again as its child, named argv[1]+'c'.
// Reports {pid, tcp, udp, child?} on one line; exits when stdin ends, and so does its child.
const HOLD = `
const [name, spawnChild] = process.argv.slice(1);
process.title = name;
const server = require('node:net').createServer();
const udp = require('node:dgram').createSocket('udp4');
const report = (child) => {
  process.stdout.write(JSON.stringify({ pid: process.pid, tcp: server.address().port, udp: udp.address().port, child }) + '\\n');
};
server.listen(0, '127.0.0.1', () =>
  udp.bind(0, '127.0.0.1', () => {
    if (spawnChild !== 'spawn') return report();
    const child = require('node:child_process').spawn(process.execPath, [...process.execArgv, name + 'c'], { stdio: ['pipe', 'pipe', 'inherit'] });
    require('node:readline').createInterface({ input: child.stdout }).once('line', (line) => report(JSON.parse(line)));
    process.stdin.on('end', () => child.stdin.end());
  }),
);
process.stdin.resume();
process.stdin.on('end', () => { server.close(); udp.close(); });
`;

interface Held {
  pid: number;
  tcp: number;
  udp: number;
  child?: Held;
}

interface Started extends Held {
  name: string;
  process: ChildProcess;
}

/** 14 bytes: under comm's 15, and the same in no other test run. */
function uniqueName(): string {
  return `pcports-${randomBytes(3).toString('hex').slice(0, 5)}`;
}

async function startHolder(options: { withChild?: boolean; name?: string } = {}): Promise<Started> {
  const name = options.name ?? uniqueName();
  const child = spawn(process.execPath, ['-e', HOLD, name, options.withChild === true ? 'spawn' : ''], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  try {
    const signal = AbortSignal.timeout(10_000);
    const [line] = (await Promise.race([once(lines, 'line', { signal }), once(child, 'exit', { signal }).then(() => [null])])) as [string | null];
    if (line === null) throw new Error('the holder exited before it reported its sockets');
    return { ...(JSON.parse(line) as Held), name, process: child };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    lines.close();
  }
}

/** What the tests compare: `tcp 127.0.0.1:4000 LISTEN`, sorted. */
function endpoints(sockets: readonly SocketRecord[]): string[] {
  return sockets.map((socket) => `${socket.protocol} ${socket.localAddress}:${socket.localPort} ${socket.state}`).sort();
}

function heldBy(held: Held): string[] {
  return [`tcp 127.0.0.1:${held.tcp} LISTEN`, `udp 127.0.0.1:${held.udp} UNCONNECTED`];
}

/** A pid no process can have: pids stay below kernel.pid_max. */
function impossiblePid(): number {
  return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
}

/** start() for the tests of one describe: each holder started is ended (its stdin closed) after each test. */
function holdersOfThisDescribe(): (options?: { withChild?: boolean; name?: string }) => Promise<Started> {
  const started: Started[] = [];
  afterEach(async () => {
    for (const { process: child } of started.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.stdin!.end();
      await exited;
    }
  });
  return async (options) => {
    const holder = await startHolder(options);
    started.push(holder);
    return holder;
  };
}

describe.runIf(process.platform === 'linux')('listSockets({ pid })', () => {
  const start = holdersOfThisDescribe();

  it('returns exactly the sockets the process holds, async and sync', async () => {
    const holder = await start();
    expect(endpoints(await listSockets({ pid: holder.pid }))).toEqual(heldBy(holder));
    expect(endpoints(listSocketsSync({ pid: holder.pid }))).toEqual(heldBy(holder));
    const tables = await readSocketTables({ pid: holder.pid });
    expect(endpoints(tables.sockets)).toEqual(heldBy(holder));
    // every table is read: the kernel has no filter by inode, only the other filters narrow the question
    expect(tables.sources.map((source) => `${source.protocol}/${source.family}`).sort()).toEqual(['tcp/IPv4', 'tcp/IPv6', 'udp/IPv4', 'udp/IPv6']);
    // from /proc too, where sock_diag is not asked
    expect(endpoints(await listSockets({ pid: holder.pid }, { source: 'proc' }))).toEqual(heldBy(holder));
  });

  it('combines with protocol, family, listening and port', async () => {
    const holder = await start();
    expect(endpoints(await listSockets({ pid: holder.pid, protocol: 'udp' }))).toEqual([`udp 127.0.0.1:${holder.udp} UNCONNECTED`]);
    expect(endpoints(listSocketsSync({ pid: holder.pid, protocol: 'tcp' }))).toEqual([`tcp 127.0.0.1:${holder.tcp} LISTEN`]);
    expect(endpoints(await listSockets({ pid: holder.pid, listening: true }))).toEqual(heldBy(holder));
    expect(endpoints(await listSockets({ pid: holder.pid, port: holder.tcp, protocol: 'tcp' }))).toEqual([`tcp 127.0.0.1:${holder.tcp} LISTEN`]);
    expect(await listSockets({ pid: holder.pid, family: 'IPv6' })).toEqual([]);
  });

  it('keeps back the rows that come before the fds are read, and passes on only the process’s', async () => {
    const holder = await start();
    const real = getBinding();
    // the fd scan waits for the tables to be read whole: every row meets the gate closed
    let tablesRead!: () => void;
    const read = new Promise<void>((resolve) => (tablesRead = resolve));
    let heldRows = 0;
    setBinding({
      ...real,
      readSockDiag: async (queries, onRows) => {
        const result = await real.readSockDiag!(queries, (rows, count) => {
          heldRows += count;
          onRows(rows, count);
        });
        tablesRead();
        return result;
      },
      findSocketOwners: async (query) => {
        await read;
        return real.findSocketOwners!(query);
      },
    });
    try {
      expect(endpoints(await listSockets({ pid: holder.pid }))).toEqual(heldBy(holder));
      expect(heldRows).toBeGreaterThanOrEqual(2);
    } finally {
      setBinding(null);
    }
  });

  it("only reads the process's fd links: never duplicates its sockets (pidfd_getfd)", async () => {
    const holder = await start();
    const trace = join(tmpdir(), `portclash-ports-trace-${process.pid}-${holder.pid}`);
    try {
      const result = await runCommand('strace', [
        '-f',
        '-qq',
        '-e',
        'trace=pidfd_open,pidfd_getfd',
        '-o',
        trace,
        process.execPath,
        CLI,
        'ports',
        String(holder.pid),
      ]);
      expect(result).toMatchObject({ code: 0, stdout: expect.stringContaining(`(pid ${holder.pid}, `) });
      expect(readFileSync(trace, 'utf8')).not.toMatch(/pidfd_(open|getfd)\(/);
    } finally {
      rmSync(trace, { force: true });
    }
  });

  it('takes a thread id for its process: threads share the fds', async () => {
    const holder = await start();
    const thread = readdirSync(`/proc/${holder.pid}/task`)
      .map(Number)
      .find((tid) => tid !== holder.pid);
    expect(thread, 'a Node process has more than one thread').toBeDefined();
    expect(endpoints(await listSockets({ pid: thread! }))).toEqual(heldBy(holder));
  });

  it("with children: true adds a descendant's sockets, and only then", async () => {
    const holder = await start({ withChild: true });
    const grandchild = holder.child!;
    expect(endpoints(await listSockets({ pid: holder.pid }))).toEqual(heldBy(holder));
    expect(endpoints(await listSockets({ pid: holder.pid, children: true }))).toEqual([...heldBy(holder), ...heldBy(grandchild)].sort());
    expect(endpoints(listSocketsSync({ pid: holder.pid, children: true, protocol: 'udp' }))).toEqual(
      [`udp 127.0.0.1:${holder.udp} UNCONNECTED`, `udp 127.0.0.1:${grandchild.udp} UNCONNECTED`].sort(),
    );
    // this test process is the holder's parent: its descendants include both
    const mine = endpoints(await listSockets({ pid: process.pid, children: true }));
    expect(mine).toEqual(expect.arrayContaining([...heldBy(holder), ...heldBy(grandchild)]));
  });

  it('fails with ERR_NO_SUCH_PROCESS for a pid no process has, never an empty list', async () => {
    const pid = impossiblePid();
    await expect(listSockets({ pid })).rejects.toMatchObject({ name: 'PortclashError', code: 'ERR_NO_SUCH_PROCESS' });
    expect(() => listSocketsSync({ pid, children: true })).toThrow(expect.objectContaining({ code: 'ERR_NO_SUCH_PROCESS' }));
  });

  it.each([[{ pid: 0 }], [{ pid: 1.5 }], [{ pid: '1' }], [{ children: true }], [{ pid: 1, children: 'yes' }]])(
    'refuses %j with ERR_INVALID_ARGUMENT',
    async (filter) => {
      await expect(listSockets(filter as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    },
  );

  it.runIf(isRoot)('fails with ERR_PROCESS_UNREADABLE when the process is another user’s and not ptrace-able', async () => {
    const holder = await start();
    const script = `import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then((portclash) =>
      portclash.listSockets({ pid: ${holder.pid} }).then(
        (sockets) => console.log(JSON.stringify({ sockets: sockets.length })),
        (error) => console.log(JSON.stringify({ code: error.code })),
      ))`;
    const result = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', script]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual({ code: 'ERR_PROCESS_UNREADABLE' });
  });
});

describe.runIf(process.platform === 'linux')('portclash ports', () => {
  const start = holdersOfThisDescribe();

  // the holder's parent is this test process
  const me = (): ProcessInfo => readProcess(process.pid)!;

  it('prints the process by its name, with its parents and its sockets, exit 0', async () => {
    const holder = await start();
    const result = await runCli(['ports', holder.name]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [title, header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(title).toMatch(new RegExp(`^${holder.name} \\(pid ${holder.pid}, user [^,]+, since [0-9:]+\\) ← `));
    expect(title).toContain(` ← ${shorten(me().command, 40)} (pid ${process.pid})`);
    expect(header).toMatch(/^ {2}Proto\s+Local address:port\s+Remote address:port\s+State\s+UID$/);
    expect(rows.map((row) => row.trim().split(/\s+/))).toEqual([
      ['tcp', `127.0.0.1:${holder.tcp}`, '0.0.0.0:*', 'LISTEN', String(process.getuid!())],
      ['udp', `127.0.0.1:${holder.udp}`, '0.0.0.0:*', 'UNCONNECTED', String(process.getuid!())],
    ]);
  });

  it('gives the process, its parents and its sockets in --json, by pid, with the filters', async () => {
    const holder = await start();
    const result = await runCli(['ports', String(holder.pid), '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [block, ...others] = JSON.parse(result.stdout) as { process: ProcessInfo; parents: ProcessInfo[]; sockets: SocketRecord[] }[];
    expect(others).toEqual([]);
    expect(block!.process).toMatchObject({ pid: holder.pid, ppid: process.pid, name: holder.name });
    expect(block!.parents[0]).toMatchObject({ pid: process.pid, command: me().command });
    expect(endpoints(block!.sockets)).toEqual(heldBy(holder));

    const udp = JSON.parse((await runCli(['ports', String(holder.pid), '--udp', '--json'])).stdout) as { sockets: SocketRecord[] }[];
    expect(endpoints(udp[0]!.sockets)).toEqual([`udp 127.0.0.1:${holder.udp} UNCONNECTED`]);
    const both = JSON.parse((await runCli(['ports', String(holder.pid), '--tcp', '--udp', '-l', '--json'])).stdout) as { sockets: SocketRecord[] }[];
    expect(endpoints(both[0]!.sockets)).toEqual(heldBy(holder));
  });

  it('adds the descendants’ sockets with --children, each with its holder', async () => {
    const holder = await start({ withChild: true });
    const grandchild = holder.child!;
    const text = await runCli(['ports', String(holder.pid), '--children']);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toMatch(/UID\s+Process\n/);
    expect(text.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${grandchild.tcp} .* ${holder.name}c\\[${grandchild.pid}\\]\\n`));
    expect(text.stdout).toMatch(new RegExp(`127\\.0\\.0\\.1:${holder.tcp} .* ${holder.name}\\[${holder.pid}\\]\\n`));

    const json = JSON.parse((await runCli(['ports', String(holder.pid), '--children', '--json'])).stdout) as { sockets: OwnedSocket[] }[];
    const owners = Object.fromEntries(json[0]!.sockets.map((socket) => [`${socket.protocol}:${socket.localPort}`, socket.owner?.pid]));
    expect(owners).toEqual({
      [`tcp:${holder.tcp}`]: holder.pid,
      [`udp:${holder.udp}`]: holder.pid,
      [`tcp:${grandchild.tcp}`]: grandchild.pid,
      [`udp:${grandchild.udp}`]: grandchild.pid,
    });
  });

  it('prints one block per process a name matches', async () => {
    const first = await start();
    const second = await start({ name: first.name });
    const result = await runCli(['ports', first.name, '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const blocks = JSON.parse(result.stdout) as { process: ProcessInfo; sockets: SocketRecord[] }[];
    expect(blocks.map((block) => block.process.pid)).toEqual([first.pid, second.pid].sort((a, b) => a - b));
    const byPid = new Map(blocks.map((block) => [block.process.pid, endpoints(block.sockets)]));
    expect(byPid).toEqual(
      new Map([
        [first.pid, heldBy(first)],
        [second.pid, heldBy(second)],
      ]),
    );
    // blocks are apart by one empty line
    expect((await runCli(['ports', first.name])).stdout.split('\n\n')).toHaveLength(2);
  });

  it('matches the exact name, never a part of it: exit 1 when none has it', async () => {
    const holder = await start();
    expect(await runCli(['ports', holder.name.slice(0, -1)])).toEqual({ code: 1, stdout: `No process is named "${holder.name.slice(0, -1)}".\n`, stderr: '' });
    expect(await runCli(['ports', `${holder.name}x`, '--json'])).toEqual({ code: 1, stdout: '[]\n', stderr: '' });
  });

  it('says no process has a pid that none has, exit 1', async () => {
    const pid = impossiblePid();
    expect(await runCli(['ports', String(pid)])).toEqual({ code: 1, stdout: `No process has pid ${pid}.\n`, stderr: '' });
  });

  it.each([[['ports']], [['ports', '1', '2']], [['ports', '--bogus', '1']], [['ports', '0']], [['ports', 'a-name-longer-than-15']]])(
    '%j is a usage error, exit 2',
    async (args) => {
      const result = await runCli(args);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(/^portclash: ERR_[A-Z_]+: .+\n$/);
    },
  );

  it('exits 4 with ERR_UNSUPPORTED_PLATFORM on the probing backend', async () => {
    const result = await runCli(['ports', String(process.pid)], 15_000, { PORTCLASH_BACKEND: 'probing' });
    expect(result).toMatchObject({ code: 4, stdout: '' });
    expect(result.stderr).toMatch(/^portclash: ERR_UNSUPPORTED_PLATFORM: /);
  });

  it.runIf(isRoot)('run as nobody, exits 4 with ERR_PROCESS_UNREADABLE for a root process', async () => {
    const holder = await start();
    const result = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'ports', String(holder.pid)]);
    expect(result.code).toBe(4);
    expect(result.stdout).toMatch(
      new RegExp(`^${holder.name} \\(pid ${holder.pid}, user root, .*\\n {2}its open files cannot be read \\(ERR_PROCESS_UNREADABLE\\)\\n$`),
    );
    expect(result.stderr).toMatch(new RegExp(`^portclash: ERR_PROCESS_UNREADABLE: cannot read the open files of process ${holder.pid} .+\\n$`));
  });
});

// Windows' tables name the owner of every row: the backend keeps the rows that name the pid.
describe('listSockets({ pid }) on Windows, from recorded rows', () => {
  afterEach(() => setBinding(null));

  const loopback = Uint8Array.from([127, 0, 0, 1]);
  const any = new Uint8Array(4);
  const row = (protocol: 6 | 17, localPort: number, state: number, ownerPid: number): RawRow => ({
    protocol,
    family: 4,
    localAddress: loopback,
    localPort,
    remoteAddress: any,
    remotePort: 0,
    state,
    uid: 0,
    inode: 0,
    ownerPid,
  });
  // MIB_TCP_STATE 2 is LISTEN; UDP rows have state 0
  const ROWS = [row(6, 3000, 2, 7000), row(6, 135, 2, 1044), row(17, 5353, 0, 7000), row(17, 5355, 0, 2000)];
  const running = (pid: number, image: string, parentPid = 600, startMinute = 30) => runningProcess(pid, image, { parentPid, startMinute });
  const gone = goneProcess;
  // 8000 started 7000, which started 2000; 1044 names 8000 as its parent but started before it: the pid was reused
  const PROCESSES = [
    running(7000, 'C:\\Program Files\\nodejs\\node.exe', 8000, 30),
    running(1044, 'C:\\Windows\\System32\\svchost.exe', 8000, 1),
    running(8000, 'C:\\idle.exe', 600, 10),
    running(2000, 'C:\\worker.exe', 7000, 40),
  ];

  function windowsBinding(): NativeBinding {
    const of = (queries: readonly IpHelperQuery[]) => {
      const kept = ROWS.filter((each) => queries.some((query) => query.protocol === each.protocol && query.family === each.family));
      const sources = queries.map((query) => ({
        rows: ROWS.filter((each) => each.protocol === query.protocol && each.family === query.family).length,
        malformed: 0,
        errno: 0,
        syscall: null,
      }));
      return { rows: packRows(kept), count: kept.length, sources };
    };
    return {
      rowLayoutVersion: ROW_LAYOUT_VERSION,
      rowSize: ROW_SIZE,
      readIpHelperSync: of,
      readIpHelper: (queries, onRows) => {
        const { rows, count, sources } = of(queries);
        onRows(rows, count);
        return Promise.resolve({ sources });
      },
      processInfo: (pids) => pids.map((pid) => PROCESSES.find((process) => process.pid === pid) ?? gone(pid)),
      listServices: () => ({ errno: 0, syscall: null, services: [] }),
    };
  }

  it('keeps the rows that name the pid, with the other filters', async () => {
    setBinding(windowsBinding());
    const mine = await win32.readTables({ pid: 7000 }, 'auto');
    expect(mine.sockets.map((socket) => [socket.protocol, socket.localPort, socket.ownerPid])).toEqual([
      ['tcp', 3000, 7000],
      ['udp', 5353, 7000],
    ]);
    expect(win32.readTablesSync({ pid: 7000, protocol: 'udp' }, 'auto').sockets.map((socket) => socket.localPort)).toEqual([5353]);
    // a process that holds no sockets: an empty list, not an error
    expect((await win32.readTables({ pid: 8000 }, 'auto')).sockets).toEqual([]);
  });

  it("with children, keeps the rows of the descendants, by each owner's parent, not a reused pid's", async () => {
    setBinding(windowsBinding());
    const family = await win32.readTables({ pid: 8000, children: true }, 'auto');
    expect(family.sockets.map((socket) => [socket.protocol, socket.localPort, socket.ownerPid])).toEqual([
      ['tcp', 3000, 7000],
      ['udp', 5353, 7000],
      ['udp', 5355, 2000],
    ]);
    expect(win32.readTablesSync({ pid: 7000, children: true, protocol: 'udp' }, 'auto').sockets.map((socket) => socket.ownerPid)).toEqual([7000, 2000]);
  });

  it('fails with ERR_NO_SUCH_PROCESS for a pid with no process', async () => {
    setBinding(windowsBinding());
    await expect(win32.readTables({ pid: 9999 }, 'auto')).rejects.toMatchObject({ code: 'ERR_NO_SUCH_PROCESS' });
  });

  it('finds processes by their image name, case aside and .exe optional, among the holders of sockets', async () => {
    setBinding(windowsBinding());
    for (const name of ['node', 'node.exe', 'NODE.EXE']) {
      expect((await win32.findProcessesByName(name)).map((found) => [found.pid, found.name])).toEqual([[7000, 'node.exe']]);
    }
    expect(await win32.findProcessesByName('nod')).toEqual([]);
    // idle.exe holds no socket: the tables do not name it
    expect(await win32.findProcessesByName('idle')).toEqual([]);
  });
});
