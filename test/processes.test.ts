// Process facts from /proc: against processes this test starts, and against a fixture tree with odd and missing files.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { createChildCgroup, ownCgroupPath, type ChildCgroup } from './helpers/cgroup.js';

import { parseCmdline, parseStartTicks, readProcessInfo } from '../lib/linux/processes.js';
import { setPasswdPath } from '../lib/linux/users.js';

/** A /proc/<pid>/stat line as the kernel writes it, with the name and start time given. */
function statLine(pid: number, comm: string, startTicks: number): string {
  return `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 1234 0 12 0 5 3 0 0 20 0 1 0 ${startTicks} 12345678 456 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n`;
}

function statusText(uids: string): string {
  return `Name:\tsrv\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nPid:\t4242\nPPid:\t1\nUid:\t${uids}\nGid:\t1000\t1000\t1000\t1000\n`;
}

const BOOT_TIME = 1_700_000_000;
const isRoot = process.getuid?.() === 0;

describe('parseStartTicks', () => {
  it.each([
    ['a plain name', statLine(1, 'nginx', 4321), 4321],
    ['spaces in the name', statLine(1, 'tmux: server', 77), 77],
    ['parentheses and spaces in the name', statLine(1, 'a) (b c', 98765), 98765],
    ['a name that looks like fields', statLine(1, ') S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5', 6), 6],
    ['an empty name', statLine(1, '', 10), 10],
    ['no closing parenthesis', '1 (cut', null],
    ['too few fields', '1 (x) S 1 1', null],
    ['a non-numeric start time', statLine(1, 'x', 0).replace(' 0 12345678 ', ' soon 12345678 '), null],
  ])('%s', (_name, line, ticks) => {
    expect(parseStartTicks(line)).toBe(ticks);
  });
});

describe('parseCmdline', () => {
  it.each([
    ['NUL-ended arguments', 'srv\0--port\x008080\0', ['srv', '--port', '8080']],
    ['an empty argument between others', 'a\0\0b\0', ['a', '', 'b']],
    ['a title padded with NULs over the old argv', `nginx: worker process${'\0'.repeat(40)}`, ['nginx: worker process']],
    ['a title written with spaces and no NUL', 'chrome --type=renderer --lang=en', ['chrome --type=renderer --lang=en']],
    ['nothing (kernel thread, zombie)', '', []],
    ['only NULs', '\0\0\0', []],
  ])('%s', (_name, text, argv) => {
    expect(parseCmdline(Buffer.from(text, 'utf8'))).toEqual(argv);
  });
});

describe('readProcessInfo on a fixture tree', () => {
  let root: string;
  /** A procfs without /proc/stat: no boot time, so no start times. */
  let rootWithoutStat: string;

  // DIRECTORY puts a directory where the file should be, so reading it fails (EISDIR); a symbol,
  // because a file may hold any text, 'directory' too
  const DIRECTORY = Symbol('directory');
  function writeProcess(base: string, pid: number, files: Record<string, string | Buffer | typeof DIRECTORY>): void {
    const directory = join(base, String(pid));
    mkdirSync(directory, { recursive: true });
    for (const [name, content] of Object.entries(files)) {
      if (content === DIRECTORY) mkdirSync(join(directory, name));
      else writeFileSync(join(directory, name), content);
    }
  }

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'portclash-proc-'));
    rootWithoutStat = mkdtempSync(join(tmpdir(), 'portclash-proc-'));
    writeFileSync(join(root, 'stat'), `cpu  1 2 3 4 5 6 7 0 0 0\nintr 0\nctxt 123\nbtime ${BOOT_TIME}\nprocesses 99\n`);
    writeFileSync(join(root, 'passwd'), 'root:x:0:0:root:/root:/bin/bash\nsvc:x:1001:1001::/srv:/usr/sbin/nologin\n');
    const odd = {
      comm: 'a) (b c\n',
      cmdline: 'srv\0--port\x008080\0',
      status: statusText('1000\t1001\t1000\t1001'),
      stat: statLine(4242, 'a) (b c', 12345),
      cgroup: '0::/system.slice/odd.service\n',
    };
    writeProcess(root, 4242, odd);
    writeProcess(rootWithoutStat, 4242, odd);
    writeProcess(root, 2, { comm: 'kthreadd\n', cmdline: '', status: statusText('0\t0\t0\t0'), stat: statLine(2, 'kthreadd', 0), cgroup: '0::/\n' });
    writeProcess(root, 77, {});
    // root reads through any mode bits, so "cannot be read" is a directory where the file should be
    writeProcess(root, 78, { comm: DIRECTORY, cmdline: DIRECTORY, status: statusText('0\t0\t0\t0'), stat: statLine(78, 'x', 100), cgroup: DIRECTORY });
    writeProcess(root, 79, {
      comm: 'nginx\n',
      cmdline: `nginx: worker process${'\0'.repeat(64)}`,
      status: 'Name:\tnginx\n',
      stat: '79 (nginx',
      cgroup: 'garbage\n',
    });
    setPasswdPath(join(root, 'passwd'));
  });

  afterAll(() => {
    setPasswdPath(null);
    rmSync(root, { recursive: true, force: true });
    rmSync(rootWithoutStat, { recursive: true, force: true });
  });

  it('reads every fact, with a name that holds spaces and parentheses', () => {
    expect(readProcessInfo(4242, { procRoot: root })).toEqual({
      pid: 4242,
      ppid: 1,
      name: 'a) (b c',
      cmdline: ['srv', '--port', '8080'],
      command: 'srv --port 8080',
      uid: 1001,
      user: 'svc',
      startTime: new Date((BOOT_TIME + 123.45) * 1000),
      service: { cgroup: '/system.slice/odd.service', unit: 'odd.service' },
    });
  });

  it('counts the start time in the clock ticks it is given', () => {
    expect(readProcessInfo(4242, { procRoot: root, clockTicksPerSecond: 250 })?.startTime).toEqual(new Date(BOOT_TIME * 1000 + 49_380));
  });

  it('shows a kernel thread in brackets, as ps does', () => {
    expect(readProcessInfo(2, { procRoot: root })).toEqual({
      pid: 2,
      ppid: 1,
      name: 'kthreadd',
      cmdline: [],
      command: '[kthreadd]',
      uid: 0,
      user: 'root',
      startTime: new Date(BOOT_TIME * 1000),
      service: { cgroup: '/' },
    });
  });

  it('makes each missing file a null fact, not a missing process', () => {
    expect(readProcessInfo(77, { procRoot: root })).toEqual({
      pid: 77,
      ppid: null,
      name: null,
      cmdline: [],
      command: '',
      uid: null,
      user: null,
      startTime: null,
      service: null,
    });
  });

  it('makes each unreadable file a null fact and keeps the others', () => {
    expect(readProcessInfo(78, { procRoot: root })).toEqual({
      pid: 78,
      ppid: 1,
      name: null,
      cmdline: [],
      command: '',
      uid: 0,
      user: 'root',
      startTime: new Date((BOOT_TIME + 1) * 1000),
      service: null,
    });
  });

  it('keeps a rewritten title and nulls what it cannot parse', () => {
    expect(readProcessInfo(79, { procRoot: root })).toEqual({
      pid: 79,
      ppid: null,
      name: 'nginx',
      cmdline: ['nginx: worker process'],
      command: 'nginx: worker process',
      uid: null,
      user: null,
      startTime: null,
      service: null,
    });
  });

  it('gives no start time without a boot time, and every other fact', () => {
    const info = readProcessInfo(4242, { procRoot: rootWithoutStat });
    expect(info?.startTime).toBeNull();
    expect(info?.name).toBe('a) (b c');
    expect(info?.uid).toBe(1001);
  });

  it('gives null for a pid with no directory', () => {
    expect(readProcessInfo(99999, { procRoot: root })).toBeNull();
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses pid %s', (pid) => {
    expect(() => readProcessInfo(pid, { procRoot: root })).toThrow(expect.objectContaining({ name: 'PortclashError', code: 'ERR_INVALID_ARGUMENT' }));
  });

  it.each([0, -100, 0.5])('refuses %s clock ticks per second', (clockTicksPerSecond) => {
    expect(() => readProcessInfo(4242, { procRoot: root, clockTicksPerSecond })).toThrow(/clockTicksPerSecond/);
  });
});

describe.runIf(process.platform === 'linux')('readProcessInfo on real processes', () => {
  const children: ChildProcess[] = [];

  /** Starts `node -e script` (in `cgroup`, if given) and resolves once it has printed `ready`, so its exec is done. */
  async function startNode(script: string, cgroup?: ChildCgroup): Promise<{ child: ChildProcess; spawnedAt: number; readyAt: number }> {
    const spawnedAt = Date.now();
    const argv = cgroup === undefined ? { command: process.execPath, args: ['-e', script] } : cgroup.wrap(process.execPath, ['-e', script]);
    const child = spawn(argv.command, argv.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let output = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: string) => {
        output += chunk;
        if (output.includes('ready\n')) resolve();
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`child exited with ${String(code)} before it was ready`)));
    });
    return { child, spawnedAt, readyAt: Date.now() };
  }

  const cgroups: ChildCgroup[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    for (const cgroup of cgroups.splice(0)) cgroup.remove();
  });

  it('reads a child it started: argv, name, user, start time, service', async () => {
    const script = "process.stdout.write('ready\\n'); setInterval(() => {}, 1000)";
    // As root, the child runs in a cgroup the test made and named like a systemd unit, so the expected
    // service is known without parsing anything; otherwise it is its parent's, from the v2 line read here.
    const unit = `portclash-proc-${process.pid}.scope`;
    const cgroup = isRoot ? createChildCgroup(unit) : undefined;
    if (cgroup !== undefined) cgroups.push(cgroup);
    const { child, spawnedAt, readyAt } = await startNode(script, cgroup);
    const info = readProcessInfo(child.pid!);
    expect(info).not.toBeNull();
    expect(info!.pid).toBe(child.pid);
    expect(info!.cmdline).toEqual([process.execPath, '-e', script]);
    expect(info!.command).toBe(`${process.execPath} -e ${script}`);
    // comm is the program file's name, cut to 15 bytes
    expect(info!.name).toBe(basename(process.execPath).slice(0, 15));
    expect(info!.uid).toBe(process.getuid!());
    expect(info!.user).toBe(userInfo().username);
    // btime is whole seconds, so a start time may read up to a second early
    expect(info!.startTime!.getTime()).toBeGreaterThanOrEqual(spawnedAt - 2000);
    expect(info!.startTime!.getTime()).toBeLessThanOrEqual(readyAt + 2000);
    const own = ownCgroupPath();
    const ownUnit = own
      .split('/')
      .filter((part) => /\.(service|scope)$/.test(part))
      .at(-1);
    expect(info!.service).toEqual(
      cgroup !== undefined ? { cgroup: join(own, unit), unit } : { cgroup: own, ...(ownUnit === undefined ? {} : { unit: ownUnit }) },
    );
  });

  it('reads the title a process gave itself, without the padding after it', async () => {
    const { child } = await startNode("process.title = 'portclash test title'; process.stdout.write('ready\\n'); setInterval(() => {}, 1000)");
    const info = readProcessInfo(child.pid!);
    expect(info!.cmdline).toEqual(['portclash test title']);
    expect(info!.command).toBe('portclash test title');
    // libuv also sets the kernel's name, which holds 15 bytes
    expect(info!.name).toBe('portclash test ');
  });

  it('reads this process', () => {
    const info = readProcessInfo(process.pid);
    expect(info).not.toBeNull();
    expect(info!.uid).toBe(process.getuid!());
    expect(info!.user).toBe(userInfo().username);
    // Node keeps its own options and the arguments after them as given; argv[0] it resolves
    expect(info!.cmdline.slice(1)).toEqual([...process.execArgv, ...process.argv.slice(1)]);
    const started = Date.now() - process.uptime() * 1000;
    expect(Math.abs(info!.startTime!.getTime() - started)).toBeLessThan(2000);
  });

  it('gives null for a process that has exited', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    children.push(child);
    // 'exit' comes after libuv has reaped the child, so its /proc directory is gone
    await once(child, 'exit');
    expect(readProcessInfo(child.pid!)).toBeNull();
  });
});
