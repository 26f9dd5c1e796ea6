// What kill-port, fuser -k and portclash free each end, for the same holders of port 3000, and whether the port is free after.
//
// node bench/kill-side-by-side.js [--runs N] [--only id,id] [--json]        (Linux, as root, with python3, lsof, fuser)
//
// Every situation is made in a network namespace of its own (unshare --net), once per tool: the holders
// are started inside it, ONE tool is run inside it (nsenter --net=), then the script looks at which
// holders are still alive and whether a real listen(3000) inside the namespace succeeds. kill-port and
// fuser -k kill whatever they find on the port, and both find sockets through the namespace they run in
// (lsof and fuser read /proc/net/* of their own namespace), so inside a namespace that only this script's
// holders use, they can reach nothing else. Before any tool runs, the pids it would reach are listed
// with the tool's own lookup minus the kill, and the tool is not run if one of them is not a holder.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import net from 'node:net';
import dgram from 'node:dgram';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { bounded, markdownTable, runChild, same, STEP_MS } from './compare.js';
import { createRequire } from 'node:module';

const self = fileURLToPath(import.meta.url);
const holdSocketsPy = fileURLToPath(new URL('../test/helpers/hold_sockets.py', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url));

/** The port every situation is about; fixed, since each namespace is empty. */
const PORT = 3000;
/** A tool gets this long before it is killed (portclash free waits 5 s at most for a release). */
const TOOL_MS = 30_000;
/** After a tool returns, a holder it signalled has this long to be gone before it counts as alive. */
const SETTLE_MS = 1000;

const TOOLS = ['kill-port', 'fuser -k', 'portclash free'];

/**
 * One process the situation started (or that one of them forked). `role` names it in the table.
 * @typedef {{ role: string, pid: number, startTime: string, close: () => Promise<void> }} HolderProcess
 */
/**
 * A situation while it exists, in its namespace.
 * @typedef {{ holders: HolderProcess[], cleanup?: () => void }} Made
 */
/**
 * `right`: the roles a tool should end (the holders of the port), given whether listen(3000) failed
 * before the tool ran; `stopCommand`: a supervised holder, which should be left with its stop command.
 * @typedef {{ id: string, label: string, protocol: 'tcp' | 'udp', make: (netns: Netns) => Promise<Made>, right: (before: ListenOutcome) => string[], supervised?: boolean }} Situation
 */
/** @typedef {{ ok: boolean, code?: string }} ListenOutcome */
/** @typedef {import('./compare.js').RunResult} RunResult */
/** @typedef {{ path: string, pid: number, close: () => Promise<void> }} Netns */

// ---- the child's side: things that must run inside the namespace -----------------------------------

/**
 * kill-port as its README shows it: `kill(port, method)`. It resolves with shell-exec's result of its
 * last command, or rejects; both are printed as one JSON line.
 * @param {number} port
 * @param {'tcp' | 'udp'} protocol
 */
async function runKillPort(port, protocol) {
  // kill-port ships no types; require() gives what its README documents, typed here
  /** @type {unknown} */
  const loaded = createRequire(import.meta.url)('kill-port');
  const killPort = /** @type {(port: number, method?: string) => Promise<{ cmd?: string, code?: number, stdout?: string, stderr?: string }>} */ (loaded);
  /** @type {object} */
  let result;
  try {
    const resolved = await killPort(port, protocol);
    result = { outcome: 'resolved', cmd: resolved.cmd, code: resolved.code, stdout: resolved.stdout, stderr: resolved.stderr };
  } catch (error) {
    result = { outcome: 'rejected', message: error instanceof Error ? error.message : String(error) };
  }
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

/**
 * Does Node's listen(port) (host `::`, dual stack, SO_REUSEADDR as every Node server) succeed right now,
 * or for UDP dgram's bind(port) on udp4 (0.0.0.0, no SO_REUSEADDR, Node's default)? Closed at once.
 * @param {number} port
 * @param {'tcp' | 'udp'} protocol
 */
async function tryListen(port, protocol) {
  /** @type {Promise<ListenOutcome>} */
  const outcome = new Promise((resolve) => {
    /** @param {Error} error */
    const failed = (error) => resolve({ ok: false, code: /** @type {NodeJS.ErrnoException} */ (error).code ?? error.message });
    if (protocol === 'udp') {
      const socket = dgram.createSocket('udp4');
      socket.once('error', failed);
      socket.bind(port, () => socket.close(() => resolve({ ok: true })));
    } else {
      const server = net.createServer();
      server.once('error', failed);
      server.listen(port, () => server.close(() => resolve({ ok: true })));
    }
  });
  const result = await bounded(outcome, `listen(${port})`);
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

// ---- the parent's side: namespaces, holders, tools ------------------------------------------------

/**
 * A network namespace with only `lo`, up, kept alive by a `cat` inside it (test/helpers/holders.ts
 * createNetns): unshare execs sh, which execs cat, so /proc/<pid>/ns/net names the namespace.
 * @returns {Promise<Netns>}
 */
async function createNetns() {
  const child = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up && echo ready && exec cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await firstLine(child.stdout, 'unshare --net');
  if (line !== 'ready' || child.pid === undefined) throw new Error(`unshare --net said ${JSON.stringify(line)}, not "ready"`);
  const exited = once(child, 'exit');
  return {
    path: `/proc/${child.pid}/ns/net`,
    pid: child.pid,
    close: async () => {
      child.stdin.end();
      await bounded(exited, 'the namespace keeper to exit');
    },
  };
}

/**
 * Runs a command inside the namespace to its end (killed, by its handle, after `timeoutMs`); a
 * non-zero exit is a result.
 * @param {Netns} netns
 * @param {string} command
 * @param {string[]} args
 * @param {number} [timeoutMs]
 * @returns {Promise<RunResult>}
 */
async function runInside(netns, command, args, timeoutMs = TOOL_MS) {
  return runChild('nsenter', [`--net=${netns.path}`, command, ...args], timeoutMs);
}

/**
 * The state and start time of a process from /proc/<pid>/stat; null when it is gone. A zombie has
 * exited (its sockets are closed) and counts as gone.
 * @param {number} pid
 */
function processStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command may hold spaces and parentheses: the fields start after the last ')'
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return null;
  }
}

/** @param {HolderProcess} holder */
function isAlive(holder) {
  const stat = processStat(holder.pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X' && stat.startTime === holder.startTime;
}

/**
 * Starts `argv` inside the namespace (in `cgroup` if given: a shell moves itself in, then execs), reads
 * its one-line JSON report, and returns it with a close() that ends its stdin (its signal to exit),
 * then SIGKILLs it by its handle if it has not gone in time. nsenter with only --net execs the program,
 * so the child's pid is the holder's.
 * @param {Netns} netns
 * @param {string[]} argv
 * @param {string} [cgroup]
 */
async function startHolder(netns, argv, cgroup) {
  let command = ['nsenter', `--net=${netns.path}`, ...argv];
  if (cgroup !== undefined) command = ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...command];
  const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    try {
      await bounded(exited, `${argv[0]} to exit`);
    } catch {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const line = await firstLine(child.stdout, `${argv[0]}'s report`);
    /** @type {unknown} */
    const report = JSON.parse(line);
    return { report, pid: /** @type {number} */ (child.pid), close };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/**
 * hold_sockets.py with `sockets`, inside the namespace: one holder process named `role`.
 * @param {Netns} netns
 * @param {string} role
 * @param {object[]} sockets
 * @param {string} [cgroup]
 * @returns {Promise<HolderProcess>}
 */
async function holdSockets(netns, role, sockets, cgroup) {
  const started = await startHolder(netns, ['python3', holdSocketsPy, JSON.stringify(sockets)], cgroup);
  const report = /** @type {{ sockets: { error?: string }[] }} */ (started.report);
  const failed = report.sockets.find((socket) => socket.error !== undefined);
  if (failed) {
    await started.close();
    throw new Error(`hold_sockets.py could not make ${JSON.stringify(sockets)}: ${JSON.stringify(failed)}`);
  }
  return { role, pid: started.pid, startTime: processStat(started.pid)?.startTime ?? '', close: started.close };
}

// A listener on 127.0.0.1:port that forks after listen(): parent and child hold the same socket, and
// both exit when their shared stdin reaches EOF.
const FORKED_LISTENER = `import json, os, socket, sys
s = socket.socket()
s.bind(('127.0.0.1', int(sys.argv[1])))
s.listen(16)
child = os.fork()
if child == 0:
    sys.stdin.read()
    os._exit(0)
print(json.dumps({'pid': os.getpid(), 'child': child}), flush=True)
sys.stdin.read()
`;

/** @param {number} port */
const listener = (port) => ({ protocol: 'tcp', family: 4, address: '127.0.0.1', port, listen: true });

/**
 * This process's cgroup v2 directory (test/helpers/cgroup.ts), under which a child named like a
 * systemd service is made.
 */
function ownCgroupDirectory() {
  const mount = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .find((fields) => fields[2] === 'cgroup2')?.[1];
  const path = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('0::'))
    ?.slice(3);
  if (mount === undefined || path === undefined) throw new Error('no cgroup v2 hierarchy here');
  return join(mount, path);
}

/** @type {Situation[]} */
const SITUATIONS = [
  {
    id: 'listener',
    label: 'a listener on 3000',
    protocol: 'tcp',
    make: async (netns) => ({ holders: [await holdSockets(netns, 'listener', [listener(PORT)])] }),
    right: () => ['listener'],
  },
  {
    id: 'substring',
    label: 'a listener on 3000, another on 30001',
    protocol: 'tcp',
    make: async (netns) => ({
      holders: [await holdSockets(netns, 'listener', [listener(PORT)]), await holdSockets(netns, '30001', [listener(30001)])],
    }),
    right: () => ['listener'],
  },
  {
    id: 'client',
    label: 'a listener on 3000, a client connected to it',
    protocol: 'tcp',
    make: async (netns) => {
      const server = await holdSockets(netns, 'listener', [listener(PORT)]);
      // a separate process whose remote port is 3000; the kernel completes the connection into the
      // listener's accept queue, so the listener need not accept
      const client = await holdSockets(netns, 'client', [{ protocol: 'tcp', family: 4, address: '127.0.0.1', connect: { address: '127.0.0.1', port: PORT } }]);
      return { holders: [server, client] };
    },
    right: () => ['listener'],
  },
  {
    id: 'systemd',
    label: 'a listener on 3000 in demo-<pid>.service',
    protocol: 'tcp',
    supervised: true,
    make: async (netns) => {
      // a cgroup named like a systemd unit's; no systemd here, so nothing would restart it
      const directory = join(ownCgroupDirectory(), `demo-${process.pid}.service`);
      mkdirSync(directory);
      try {
        const holder = await holdSockets(netns, 'listener', [listener(PORT)], directory);
        return { holders: [holder], cleanup: () => rmdirSync(directory) };
      } catch (error) {
        rmdirSync(directory);
        throw error;
      }
    },
    right: () => [],
  },
  {
    id: 'local-client',
    label: 'a client from local port 3000 to a listener on 4000',
    protocol: 'tcp',
    make: async (netns) => {
      const server = await holdSockets(netns, 'listener on 4000', [listener(4000)]);
      // bind(3000), then connect: a client whose LOCAL port is 3000, without SO_REUSEADDR (Python's default)
      const client = await holdSockets(netns, 'client', [
        { protocol: 'tcp', family: 4, address: '127.0.0.1', port: PORT, connect: { address: '127.0.0.1', port: 4000 } },
      ]);
      return { holders: [server, client] };
    },
    // The client keeps a listen(3000) off the port, but ending it does not free it: its connection
    // stays closing (FIN_WAIT_2, TIME_WAIT) for up to a minute. So nothing should be ended, and the
    // client named; what a tool said is judged in the second table.
    right: () => [],
  },
  {
    id: 'udp',
    label: 'a UDP socket on 3000',
    protocol: 'udp',
    make: async (netns) => ({ holders: [await holdSockets(netns, 'UDP socket', [{ protocol: 'udp', family: 4, address: '127.0.0.1', port: PORT }])] }),
    right: () => ['UDP socket'],
  },
  {
    id: 'time-wait',
    label: 'a TIME_WAIT only on 3000',
    protocol: 'tcp',
    make: async (netns) => {
      // the accepted side closes first, so the TIME_WAIT is on 3000; from a server without SO_REUSEADDR
      // (Python's default), so Node's listen(3000) is refused while it lasts (60 s). The holder goes at once.
      const maker = await holdSockets(netns, 'maker', [{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: PORT, selfConnect: 'serverTimeWait' }]);
      await maker.close();
      return { holders: [] };
    },
    right: () => [],
  },
  {
    id: 'forked',
    label: 'a listener on 3000 shared by a parent and its forked child',
    protocol: 'tcp',
    make: async (netns) => {
      const started = await startHolder(netns, ['python3', '-c', FORKED_LISTENER, String(PORT)]);
      const report = /** @type {{ pid: number, child: number }} */ (started.report);
      const parent = { role: 'parent', pid: started.pid, startTime: processStat(started.pid)?.startTime ?? '', close: started.close };
      const childStat = processStat(report.child);
      /** @type {HolderProcess} */
      const child = {
        role: 'child',
        pid: report.child,
        startTime: childStat?.startTime ?? '',
        // it exits with its parent's stdin at EOF; if not, it is this script's own (same start time)
        close: async () => {
          const deadline = Date.now() + STEP_MS;
          while (isAlive(child) && Date.now() < deadline) await sleep(50);
          if (isAlive(child)) process.kill(child.pid, 'SIGKILL');
        },
      };
      return { holders: [parent, child] };
    },
    right: () => ['parent', 'child'],
  },
  {
    id: 'only-30001',
    label: 'nothing on 3000, a listener on 30001',
    protocol: 'tcp',
    // kill-port #67: its check that something runs on the port matches the digits anywhere in `lsof -i -P`
    make: async (netns) => ({ holders: [await holdSockets(netns, '30001', [listener(30001)])] }),
    right: () => [],
  },
];

/**
 * The tool's own lookup, without the kill: the pids it would signal. kill-port 2.0.1 runs
 * `lsof -i tcp:P | grep LISTEN | awk '{print $2}' | xargs kill -9` (udp: `grep UDP`); fuser without -k
 * prints the pids it would kill; portclash free --dry-run --json names its holders.
 * @param {string} tool
 * @param {Netns} netns
 * @param {'tcp' | 'udp'} protocol
 * @returns {Promise<number[]>}
 */
async function wouldReach(tool, netns, protocol) {
  if (tool === 'kill-port') {
    const lookup = `lsof -i ${protocol}:${PORT} | grep ${protocol === 'udp' ? 'UDP' : 'LISTEN'} | awk '{print $2}'`;
    return pids((await runInside(netns, 'sh', ['-c', lookup], STEP_MS)).stdout);
  }
  if (tool === 'fuser -k') return pids((await runInside(netns, 'fuser', [`${PORT}/${protocol}`], STEP_MS)).stdout);
  const dry = await runInside(netns, process.execPath, [cli, 'free', `${PORT}/${protocol}`, '--dry-run', '--json'], STEP_MS);
  const plan = /** @type {{ holders: { pid: number | null, action: string }[] }} */ (parseJson(dry.stdout));
  return plan.holders.filter((holder) => holder.action === 'end' && holder.pid !== null).map((holder) => /** @type {number} */ (holder.pid));
}

/** @param {string} text */
function pids(text) {
  return [...text.matchAll(/\d+/g)].map((match) => Number(match[0]));
}

/**
 * Runs one tool, inside the namespace, the way its users do.
 * @param {string} tool
 * @param {Netns} netns
 * @param {'tcp' | 'udp'} protocol
 */
function runTool(tool, netns, protocol) {
  if (tool === 'kill-port') return runInside(netns, process.execPath, [self, '--kill-port', '--protocol', protocol]);
  if (tool === 'fuser -k') return runInside(netns, 'fuser', ['-k', '-TERM', `${PORT}/${protocol}`]);
  return runInside(netns, process.execPath, [cli, 'free', protocol === 'udp' ? `${PORT}/udp` : String(PORT), '--yes']);
}

/**
 * listen(3000) (or dgram bind) inside the namespace, in a Node child there.
 * @param {Netns} netns
 * @param {'tcp' | 'udp'} protocol
 * @returns {Promise<ListenOutcome>}
 */
async function listenInside(netns, protocol) {
  const run = await runInside(netns, process.execPath, [self, '--try-listen', '--protocol', protocol], STEP_MS);
  /** @type {unknown} */
  const parsed = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '');
  return /** @type {ListenOutcome} */ (parsed);
}

/**
 * What `ss` shows on port 3000 inside the namespace, for the raw results.
 * @param {Netns} netns
 */
async function socketsOnPort(netns) {
  const run = await runInside(netns, 'ss', ['-tuanH', `( sport = :${PORT} or dport = :${PORT} )`], STEP_MS);
  return run.stdout
    .trim()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/\s+/g, ' '));
}

/**
 * One situation for one tool: a new namespace, the holders, the tool, what is left, torn down.
 * @param {Situation} situation
 * @param {string} tool
 */
async function runOnce(situation, tool) {
  const netns = await createNetns();
  /** @type {Made | undefined} */
  let made;
  try {
    made = await situation.make(netns);
    const holders = made.holders;
    const before = await listenInside(netns, situation.protocol);
    const socketsBefore = await socketsOnPort(netns);
    const reach = await wouldReach(tool, netns, situation.protocol);
    const strangers = reach.filter((pid) => !holders.some((holder) => holder.pid === pid));
    /** @type {RunResult | null} */
    let run = null;
    if (strangers.length === 0) run = await runTool(tool, netns, situation.protocol);
    const deadline = Date.now() + SETTLE_MS;
    while (holders.some(isAlive) && Date.now() < deadline) await sleep(50);
    const killed = holders.filter((holder) => !isAlive(holder)).map((holder) => holder.role);
    const after = await listenInside(netns, situation.protocol);
    const socketsAfter = await socketsOnPort(netns);
    return {
      holders: holders.map((holder) => ({ role: holder.role, pid: holder.pid })),
      before,
      socketsBefore,
      wouldReach: reach,
      notRun: strangers.length === 0 ? undefined : `would reach pid ${strangers.join(', ')}, not one of this script's holders`,
      run,
      killed,
      after,
      socketsAfter,
    };
  } finally {
    for (const holder of made?.holders ?? []) await holder.close();
    made?.cleanup?.();
    await netns.close();
  }
}

/** @typedef {Awaited<ReturnType<typeof runOnce>>} ToolRun */

// ---- printing ----------------------------------------------------------------------------------

/**
 * @param {string} text
 * @returns {unknown}
 */
function parseJson(text) {
  return JSON.parse(text);
}

/**
 * The first line a child prints.
 * @param {import('node:stream').Readable} stream
 * @param {string} what
 * @returns {Promise<string>}
 */
async function firstLine(stream, what) {
  /** @type {unknown[]} */
  const lines = await bounded(once(createInterface({ input: stream }), 'line'), what);
  return /** @type {string} */ (lines[0]);
}

/** @param {ListenOutcome} outcome */
function listenWords(outcome) {
  return outcome.ok ? 'free' : `held (${outcome.code})`;
}

/**
 * The states of the sockets left on local port 3000 (from ss), for a port that is still held.
 * @param {string[]} lines
 */
function leftOnPort(lines) {
  const states = lines.filter((line) => line.split(' ')[4]?.endsWith(`:${PORT}`)).map((line) => line.split(' ')[1]);
  return [...new Set(states)].join(', ');
}

/**
 * What was killed and whether listen(3000) then succeeds; ✓ when exactly the processes that hold the
 * port were ended (none, for a supervised holder or a TIME_WAIT), ✗ otherwise. A supervised holder
 * that is killed is wrong even though the port is then free: its supervisor would start it again.
 * @param {Situation} situation
 * @param {string} tool
 * @param {ToolRun} run
 */
function killedCell(situation, tool, run) {
  if (run.run === null) return `not run: ${run.notRun}`;
  const right = situation.right(run.before);
  const left = leftOnPort(run.socketsAfter);
  const port = run.after.ok ? 'port free' : `port held (${run.after.code}${left === '' ? '' : `: ${left} left`})`;
  const ended = [...run.killed].sort().join(',') === [...right].sort().join(',');
  if (situation.supervised && run.killed.length === 0) {
    const stop = /systemctl stop \S+\.service/.exec(run.run.stdout)?.[0]?.replace(String(process.pid), '<pid>');
    return `nothing${stop === undefined ? '' : `, printed \`${stop}\``}; ${port} ${stop !== undefined || tool !== 'portclash free' ? '✓' : '✗'}`;
  }
  const killed = run.killed.length === 0 ? 'nothing' : run.killed.join(' + ');
  const restarted = situation.supervised && run.killed.length > 0 ? ' (systemd would start it again)' : '';
  return `killed ${killed}${restarted}; ${port} ${ended ? '✓' : '✗'}`;
}

/**
 * The tool's own words and exit status, shortened, with pids named by role; ✗ when what it says is
 * not what happened: kill-port resolving ("Process on port 3000 killed") with nothing killed, fuser
 * exiting 0 (it found and signalled processes) with nothing killed, portclash free's exit 0 ("the
 * port is released, or nothing held it") while listen(3000) fails, or 1 while it succeeds.
 * @param {string} tool
 * @param {ToolRun} run
 */
function saidCell(tool, run) {
  if (run.run === null) return 'not run';
  const result = run.run;
  if (result.timedOut) return `killed after ${TOOL_MS / 1000} s`;
  /** @param {string} text */
  const generic = (text) =>
    run.holders
      .reduce((words, holder) => words.replaceAll(new RegExp(`\\b${holder.pid}\\b`, 'g'), `<${holder.role}>`), text)
      .replaceAll(String(process.pid), '<pid>')
      .replace(/after \d+ ms/g, 'after N ms')
      .replace(/\s+/g, ' ')
      .trim();
  /** @param {boolean} wrong */
  const mark = (wrong) => (wrong ? ' ✗' : '');
  const killedSome = run.killed.length > 0;
  if (tool === 'kill-port') {
    const answer = /** @type {{ outcome: string, message?: string, cmd?: string, code?: number | null, stderr?: string }} */ (
      parseJson(result.stdout.trim().split('\n').at(-1) ?? '{}')
    );
    if (answer.outcome === 'rejected') return `rejected: ${generic(answer.message ?? '')}${mark(killedSome)}`;
    // it resolves with the result of its last shell command, whatever that command's exit status
    const last =
      answer.cmd === 'lsof -i -P'
        ? `; \`lsof -i -P\` listed nothing (exit ${answer.code})`
        : answer.code === 0
          ? ''
          : `; \`xargs kill -9\` exited ${answer.code}${answer.stderr?.includes('Usage') ? ' (kill given no pid)' : ''}`;
    return `resolved: "Process on port 3000 killed"${last}${mark(!killedSome)}`;
  }
  if (tool === 'fuser -k') {
    // fuser warns on stderr about every fd it may not stat (here: PID 1's, from outside the sandbox)
    const stderr = result.stderr
      .split('\n')
      .filter((line) => !line.startsWith('Cannot stat file '))
      .join(' ');
    const words = generic(`${stderr} ${result.stdout}`);
    return `exit ${result.code}${words === '' ? '' : `: \`${words}\``}${mark((result.code === 0) !== killedSome)}`;
  }
  // portclash free: a plan's "not ended" line says why nothing was sent; otherwise its last line
  const lines = result.stdout.trim().split('\n');
  const why = lines.find((line) => line.includes('→ not ended') || line.startsWith('No process '));
  const words = generic(why ?? lines.at(-1) ?? '').replace(/ \(or --force\)$/, '');
  return `exit ${result.code}: ${words}${mark((result.code === 0) !== run.after.ok)}`;
}

function versions() {
  /** @param {URL} path */
  const version = (path) => /** @type {{ version: string }} */ (parseJson(readFileSync(path, 'utf8'))).version;
  /** @param {string} script */
  const outputLine = (script) =>
    spawnSync('sh', ['-c', script], { encoding: 'utf8' })
      .stdout.split('\n')
      .find((line) => line.trim() !== '')
      ?.trim() ?? 'unknown';
  return {
    node: process.version,
    kernel: os.release(),
    'kill-port': version(new URL('../node_modules/kill-port/package.json', import.meta.url)),
    lsof: outputLine("lsof -v 2>&1 | sed -n 's/^ *revision: *//p'"),
    fuser: outputLine('fuser -V 2>&1'),
    portclash: version(new URL('../package.json', import.meta.url)),
  };
}

/**
 * @param {{ situation: Situation, runs: Record<string, ToolRun>[] }[]} results
 * @param {ReturnType<typeof versions>} found
 */
function printTables(results, found) {
  const runCount = results[0]?.runs.length ?? 0;
  console.log(
    `Node ${found.node}, Linux ${found.kernel}; kill-port ${found['kill-port']} (lsof ${found.lsof}), ${found.fuser.replace(/^fuser \(PSmisc\) /, 'fuser (psmisc) ')}, portclash ${found.portclash}.`,
  );
  console.log(`${runCount} run${runCount === 1 ? '' : 's'}; ✓ the right processes ended (or none, where none should be), ✗ not.\n`);
  /** @param {Situation} situation */
  const numbered = (situation) => `${SITUATIONS.indexOf(situation) + 1}. ${situation.label}`;
  const killedRows = results.map(({ situation, runs }) => [
    numbered(situation),
    same(runs.map((run) => listenWords(run[TOOLS[0]].before))),
    ...TOOLS.map((tool) => same(runs.map((run) => killedCell(situation, tool, run[tool])))),
  ]);
  console.log('What each tool ended, and whether listen(3000) then succeeds:\n');
  console.log(markdownTable([['situation', 'before: listen(3000)', ...TOOLS], ...killedRows]));
  const saidRows = results.map(({ situation, runs }) => [numbered(situation), ...TOOLS.map((tool) => same(runs.map((run) => saidCell(tool, run[tool]))))]);
  console.log('\nWhat each tool said:\n');
  console.log(markdownTable([['situation', ...TOOLS], ...saidRows]));
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
      'kill-port': { type: 'boolean' },
      'try-listen': { type: 'boolean' },
      protocol: { type: 'string', default: 'tcp' },
    },
  });
  const protocol = values.protocol === 'udp' ? 'udp' : 'tcp';
  if (values['kill-port']) return runKillPort(PORT, protocol);
  if (values['try-listen']) return tryListen(PORT, protocol);
  if (process.platform !== 'linux') throw new Error('the situations are made in Linux network namespaces; run this on Linux');
  if (process.getuid?.() !== 0) throw new Error('making network namespaces and cgroups needs root');
  const runCount = Number(values.runs);
  if (!Number.isInteger(runCount) || runCount < 1) throw new Error(`--runs must be a whole number of at least 1, got ${values.runs}`);
  const only = values.only?.split(',');
  const unknownIds = only?.filter((id) => !SITUATIONS.some((situation) => situation.id === id)) ?? [];
  if (unknownIds.length > 0)
    throw new Error(`--only: no situation ${unknownIds.join(', ')}; there are ${SITUATIONS.map((situation) => situation.id).join(', ')}`);

  /** @type {{ situation: Situation, runs: Record<string, ToolRun>[] }[]} */
  const results = SITUATIONS.filter((situation) => !only || only.includes(situation.id)).map((situation) => ({ situation, runs: [] }));
  for (let run = 0; run < runCount; run++) {
    for (const result of results) {
      /** @type {Record<string, ToolRun>} */
      const byTool = {};
      for (const tool of TOOLS) {
        process.stderr.write(`run ${run + 1}/${runCount}: ${result.situation.label}: ${tool}\n`);
        byTool[tool] = await runOnce(result.situation, tool);
      }
      result.runs.push(byTool);
    }
  }
  const found = versions();
  if (values.json) {
    const raw = results.map(({ situation, runs }) => ({ id: situation.id, label: situation.label, protocol: situation.protocol, runs }));
    console.log(JSON.stringify({ versions: found, port: PORT, situations: raw }, null, 2));
  } else {
    printTables(results, found);
  }
}

await main();
