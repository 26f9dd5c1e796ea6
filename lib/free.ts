// planFree / freePort: end the processes that hold a port (listening or bound on exactly it), unless a supervisor would start them again.
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

import { dockerProxyTarget } from './linux/docker-proxy.js';
import { PortclashError } from './errors.js';
import { findOwners, type OwnedSocket, type ProcessInfo, type SocketOwner } from './owners.js';
import { platform, refuseNetns } from './platform.js';
import { predictBind } from './predict/index.js';
import type { Prediction } from './predict/types.js';
import { parentChain } from './processes.js';
import type { Protocol, SocketRecord } from './records.js';
import { parsePortOrService } from './services.js';
import { acceptsOn } from './wait.js';

export interface FreeOptions {
  protocol?: Protocol;
  /** The signal to send (default SIGTERM). Windows ends the process whatever the signal (TerminateProcess). */
  signal?: NodeJS.Signals;
  /** Milliseconds to wait, after the signal, for the port to be released (default 5000). */
  timeout?: number;
  /** Send SIGKILL to the holders still there when the timeout passes. */
  killAfter?: boolean;
  /** End a holder even where a supervisor (a systemd unit, a container, docker-proxy) will start it again. */
  force?: boolean;
  /** End other users' processes too: only root (an administrator) can, and only when this is set. */
  otherUsers?: boolean;
}

/** What becomes of one holder: `end` it, leave it to its `supervisor` (stopCommand says how), or `refuse`. */
export type HolderAction = 'end' | 'supervised' | 'refused';

/** A process holding the port, or the kernel (pid null), with what freeing the port will do about it. */
export interface PortHolder {
  pid: number | null;
  owner: SocketOwner | null;
  /** Its parents, nearest first (`npm run dev`, then `bash`…); empty where the OS does not say (Windows). */
  parents: ProcessInfo[];
  /** Its listening or bound sockets on the port. */
  sockets: SocketRecord[];
  action: HolderAction;
  /** Why that action, in one sentence. */
  reason: string;
  /** For a supervised holder: the command that stops it for good (`systemctl stop api.service`). */
  stopCommand?: string;
}

/** Who holds a port and what freeing it would do; nothing has been signalled yet. */
export interface FreePlan {
  port: number;
  protocol: Protocol;
  holders: PortHolder[];
  /**
   * Whether Node's listen() (dgram's bind()) would succeed now: with no holder it says what else is
   * in the way (a TIME_WAIT); after carryOut, whether the port can be bound again.
   */
  prediction: Prediction;
}

/** What happened to one holder that was to be ended. */
export interface HolderOutcome {
  pid: number;
  /** The signals sent, in order. */
  sent: NodeJS.Signals[];
  /**
   * `exited`: gone, its sockets released. `running`: still there after the timeout. `replaced`: the
   * pid now belongs to another process, so nothing was sent. `failed`: the signal was refused (`error`).
   */
  result: 'exited' | 'running' | 'replaced' | 'failed';
  error?: string;
}

export interface FreeResult extends FreePlan {
  outcomes: HolderOutcome[];
  /**
   * The ended holders' sockets are gone, no listening or bound socket is left on the port, and
   * Node's listen() would now succeed (`prediction`, read afresh: a TIME_WAIT may still be in the way).
   */
  freed: boolean;
  /** The listening or bound sockets still on the port. */
  remaining: SocketRecord[];
  /** Milliseconds from the first signal until the port was released (or the wait ended). */
  waitedMs: number;
}

export const FREE_DEFAULTS = { signal: 'SIGTERM', timeout: 5000, interval: 50, killWait: 2000, exitWait: 1000 } as const;

/** Who holds `port` (listening or bound on exactly it: never a client whose remote port it is) and what freeing it would do. */
export async function planFree(port: number | string, options: FreeOptions = {}): Promise<FreePlan> {
  const checked = checkOptions(port, options);
  const onPort = await socketsOn(checked.port, checked.protocol);
  const listeners = onPort.filter((socket) => socket.state === 'LISTEN');
  // a connection from the port that no listener on it accepted: a client's, bound there or given it
  const outgoing = onPort.filter((socket) => !holds(socket) && !socket.kernelOnly && !listeners.some((listener) => acceptsOn(listener, socket.localAddress)));
  const sockets = [...onPort.filter(holds), ...outgoing];
  const owned = sockets.length === 0 ? [] : await findOwners(sockets, { scan: 'all' });
  const byPid = new Map<number, { owner: SocketOwner; sockets: SocketRecord[] }>();
  const holders: PortHolder[] = [];
  for (const socket of owned) {
    if (socket.owners.length === 0) {
      holders.push(unowned(socket));
      continue;
    }
    for (const owner of socket.owners) {
      const entry = byPid.get(owner.pid) ?? { owner, sockets: [] };
      entry.sockets.push(record(socket));
      byPid.set(owner.pid, entry);
    }
  }
  const caller = callerOf();
  for (const { owner, sockets: held } of byPid.values()) {
    holders.push(held.every((socket) => !holds(socket)) ? outgoingHolder(owner, held) : judge(owner, held, checked, caller));
  }
  holders.sort((a, b) => (a.pid ?? 0) - (b.pid ?? 0));
  const prediction = await predictBind({ port: checked.port, protocol: checked.protocol });
  return { port: checked.port, protocol: checked.protocol, holders, prediction };
}

/**
 * Ends the holders a plan marks `end` and waits until the kernel's tables show their sockets gone,
 * escalating to SIGKILL after `timeout` with `killAfter`. Each pid is checked to be the same process
 * (its start time) just before it is signalled: a holder that exited and whose pid was reused is
 * left alone. The plan is carried out as it is: a caller that asked someone to confirm it frees
 * exactly what was confirmed.
 */
export async function carryOut(plan: FreePlan, options: FreeOptions = {}): Promise<FreeResult> {
  const checked = checkOptions(plan.port, { ...options, protocol: plan.protocol });
  const os = platform();
  const targets = plan.holders.filter((holder): holder is PortHolder & { pid: number; owner: SocketOwner } => holder.action === 'end' && holder.owner !== null);
  const outcomes = new Map<number, HolderOutcome>();
  for (const target of targets) outcomes.set(target.pid, signal(os.readProcess(target.pid), target.owner, checked.signal));

  const started = Date.now();
  const watched = new Set(targets.flatMap((target) => target.sockets.map(socketKey)));
  let remaining = await awaitRelease(plan, watched, checked.timeout);
  if (remaining.some((socket) => watched.has(socketKey(socket))) && checked.killAfter) {
    for (const target of targets) {
      const outcome = outcomes.get(target.pid)!;
      if (outcome.result !== 'failed' && outcome.result !== 'replaced') {
        const again = signal(os.readProcess(target.pid), target.owner, 'SIGKILL');
        outcome.sent.push(...again.sent);
        if (again.result === 'failed') Object.assign(outcome, { result: 'failed', error: again.error });
      }
    }
    remaining = await awaitRelease(plan, watched, FREE_DEFAULTS.killWait);
  }
  // A process closes its files on its way out, before it is gone: one whose sockets went with them
  // gets a moment (exitWait at most) to finish exiting before it is called running.
  const signalled = targets.filter((target) => !['failed', 'replaced'].includes(outcomes.get(target.pid)!.result));
  const living = () => signalled.filter((target) => sameProcess(os.readProcess(target.pid), target.owner));
  const exitBy = Date.now() + FREE_DEFAULTS.exitWait;
  let alive = living();
  const released = !remaining.some((socket) => watched.has(socketKey(socket)));
  while (alive.length > 0 && released && Date.now() < exitBy) {
    await sleep(10);
    alive = living();
  }
  const waitedMs = Date.now() - started;
  for (const target of signalled) outcomes.get(target.pid)!.result = alive.includes(target) ? 'running' : 'exited';
  const prediction = await predictBind({ port: plan.port, protocol: plan.protocol });
  return { ...plan, outcomes: [...outcomes.values()], freed: remaining.length === 0 && prediction.verdict === 'free', remaining, waitedMs, prediction };
}

/** planFree, then carryOut: for a caller that has already decided. */
export async function freePort(port: number | string, options: FreeOptions = {}): Promise<FreeResult> {
  return carryOut(await planFree(port, options), options);
}

interface CheckedFree {
  port: number;
  protocol: Protocol;
  signal: NodeJS.Signals;
  timeout: number;
  killAfter: boolean;
  force: boolean;
  otherUsers: boolean;
}

function checkOptions(port: number | string, options: FreeOptions): CheckedFree {
  if (typeof options !== 'object' || options === null) throw new PortclashError('ERR_INVALID_ARGUMENT', 'the options must be an object like { timeout: 5000 }');
  refuseNetns(options, 'freePort');
  const protocol = options.protocol ?? 'tcp';
  if (protocol !== 'tcp' && protocol !== 'udp') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `protocol must be 'tcp' or 'udp', got ${JSON.stringify(protocol)}`);
  }
  const parsed = parsePortOrService(port, protocol).port;
  if (parsed === 0) throw new PortclashError('ERR_INVALID_PORT', 'port 0 is no port to free: give the port a process holds');
  const signal = options.signal ?? FREE_DEFAULTS.signal;
  if (typeof signal !== 'string' || !Object.hasOwn(constants.signals, signal) || signal === 'SIGSTOP' || signal === 'SIGCONT') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `signal must be a signal name that ends a process, like SIGTERM or SIGINT, got ${JSON.stringify(signal)}`);
  }
  const timeout = options.timeout ?? FREE_DEFAULTS.timeout;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `timeout must be a number of milliseconds, 0 or more, got ${JSON.stringify(timeout) ?? String(timeout)}`);
  }
  for (const flag of ['killAfter', 'force', 'otherUsers'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw new PortclashError('ERR_INVALID_ARGUMENT', `${flag} must be a boolean, got ${JSON.stringify(options[flag])}`);
    }
  }
  return {
    port: parsed,
    protocol,
    signal,
    timeout,
    killAfter: options.killAfter === true,
    force: options.force === true,
    otherUsers: options.otherUsers === true,
  };
}

/** Every socket whose local port is `port`, in every state. */
async function socketsOn(port: number, protocol: Protocol): Promise<SocketRecord[]> {
  const sockets = await platform().readTables({ port, protocol }, 'auto');
  return sockets.sockets.filter((socket) => socket.localPort === port);
}

/** The sockets that hold the port for a bind: TCP listening or bound (not connections on it), every UDP socket bound to it. */
async function holdingSockets(port: number, protocol: Protocol): Promise<SocketRecord[]> {
  return (await socketsOn(port, protocol)).filter(holds);
}

/** Listening or bound: what `free` ends. A connection on the port ends with its listener's process. */
function holds(socket: SocketRecord): boolean {
  return socket.protocol === 'udp' || socket.state === 'LISTEN' || socket.state === 'BOUND';
}

/** The record alone, without the owner fields findOwners added. */
function record(socket: OwnedSocket): SocketRecord {
  const { owner: _owner, owners: _owners, ownerUnknown: _unknown, ...rest } = socket;
  return rest;
}

function unowned(socket: OwnedSocket): PortHolder {
  const reason =
    socket.ownerUnknown === 'kernel'
      ? "no process holds this socket: it is the kernel's own, and no signal can end it"
      : `its process cannot be named (${socket.ownerUnknown ?? 'unknown'}), so it cannot be ended`;
  return { pid: null, owner: null, parents: [], sockets: [record(socket)], action: 'refused', reason };
}

/**
 * A process whose only sockets on the port are connections from it (a client that bound the port,
 * or got it as its ephemeral one): they keep a bind without SO_REUSEADDR off the port, but ending
 * the process would leave them closing (FIN_WAIT, TIME_WAIT) for up to a minute, so it is not ended.
 */
function outgoingHolder(owner: SocketOwner, sockets: SocketRecord[]): PortHolder {
  const reason =
    'its sockets are connections from this port, not a listener: ending it would leave them closing (FIN_WAIT, TIME_WAIT) for up to a minute, and the port taken; end it yourself if you must';
  return { pid: owner.pid, owner, parents: parentChain(owner), sockets, action: 'refused', reason };
}

/** What to do about one holder: the refusals first, then supervisors, then other users' processes. */
function judge(owner: SocketOwner, sockets: SocketRecord[], options: CheckedFree, caller: Caller): PortHolder {
  const base = { pid: owner.pid, owner, parents: parentChain(owner), sockets };
  const refused = (reason: string): PortHolder => ({ ...base, action: 'refused', reason });
  if (owner.pid === 1) return refused('PID 1 (init) is never signalled: ending it would end the system or the container');
  if (owner.pid === process.pid) return refused('this is the process asking');
  if (owner.role !== undefined && owner.name === 'System') return refused(`Windows' System process is ${owner.role}`);
  const supervisor = supervisorOf(owner, options.port);
  if (supervisor !== null && !options.force) return { ...base, action: 'supervised', reason: supervisor.reason, stopCommand: supervisor.stop };
  const other = otherUser(owner, caller);
  if (other !== null && !options.otherUsers) return refused(other);
  const forced = supervisor === null ? '' : `, though ${supervisor.reason} (--force)`;
  return { ...base, action: 'end', reason: `will be sent ${options.signal}${forced}` };
}

/**
 * Who starts this process again when it ends, and the command that stops it for good: docker-proxy
 * (Docker's userland proxy for a published port), a container, a systemd service, a Windows service.
 */
function supervisorOf(owner: SocketOwner, port: number): { reason: string; stop: string } | null {
  if (owner.name === 'docker-proxy') {
    const target = dockerProxyTarget(owner.cmdline);
    return {
      reason: `docker-proxy forwards this port for a container${target === null ? '' : ` (to ${target})`}: ending it frees nothing that matters, and Docker owns it`,
      stop: `docker stop $(docker ps -q --filter publish=${port})`,
    };
  }
  const service = owner.service;
  const container = service?.container;
  if (container !== undefined) {
    const id = container.id?.slice(0, 12);
    const stop =
      container.runtime === 'kubernetes' || container.podUid !== undefined
        ? `kubectl get pods -A -o wide | grep ${container.podUid ?? '<pod>'} (then scale or delete what owns that pod)`
        : container.runtime === 'podman'
          ? `podman stop ${id ?? '<container>'}`
          : container.runtime === 'docker'
            ? `docker stop ${id ?? '<container>'}`
            : `crictl stop ${id ?? '<container>'}`;
    return { reason: `it runs in a ${container.runtime} container, whose restart policy may start it again`, stop };
  }
  if (service?.windowsServices !== undefined && service.windowsServices.length > 0) {
    return {
      reason: `it hosts the Windows service ${service.windowsServices.join(', ')}, which the service manager may restart`,
      stop: `sc stop ${service.windowsServices[0]!}`,
    };
  }
  const unit = service?.unit;
  if (unit !== undefined && unit.endsWith('.service')) {
    const user = /\/user@(\d+)\.service\//.exec(service?.cgroup ?? '');
    return {
      reason: `it belongs to the systemd unit ${unit}, which may start it again (Restart=)`,
      stop: user === null ? `systemctl stop ${unit}` : `systemctl --user stop ${unit}  (as uid ${user[1]!})`,
    };
  }
  return null;
}

/** Who asks to free the port: the effective uid where there are uids, else (Windows) the token's account. */
interface Caller {
  euid: number | null;
  account: string | null;
}

/** Read once a plan: on Windows the account comes with this process's facts, one processInfo call. */
function callerOf(): Caller {
  const euid = typeof process.geteuid === 'function' ? process.geteuid() : null;
  return { euid, account: euid === null ? (platform().readProcess(process.pid)?.user ?? null) : null };
}

/** Why another user's process is left alone, or null when it is this user's. */
function otherUser(owner: SocketOwner, { euid, account }: Caller): string | null {
  if (euid !== null) {
    if (owner.uid === null) return "its user cannot be read, so it is left alone (as another user's process is)";
    if (owner.uid === euid) return null;
    const who = owner.user ?? `uid ${owner.uid}`;
    return euid === 0
      ? `it belongs to ${who}: other users' processes are ended only when asked (--other-users)`
      : `it belongs to ${who}, and only root may signal it`;
  }
  // Windows: the account of the token
  if (owner.user === null || account === null) return 'its account cannot be compared with this one, so it is left alone';
  return owner.user.toLowerCase() === account.toLowerCase()
    ? null
    : `it belongs to ${owner.user}: other accounts' processes are ended only when asked (--other-users)`;
}

/** The same process as when it was planned: its start time has not changed. */
function sameProcess(now: ProcessInfo | null, planned: ProcessInfo): boolean {
  if (now === null) return false;
  if (now.startTime === null || planned.startTime === null) return now.name === planned.name;
  return now.startTime.getTime() === planned.startTime.getTime();
}

function signal(now: ProcessInfo | null, planned: SocketOwner, name: NodeJS.Signals): HolderOutcome {
  if (!sameProcess(now, planned)) return { pid: planned.pid, sent: [], result: now === null ? 'exited' : 'replaced' };
  try {
    process.kill(planned.pid, name);
    return { pid: planned.pid, sent: [name], result: 'running' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ESRCH: it exited between the look and the signal
    if (code === 'ESRCH') return { pid: planned.pid, sent: [], result: 'exited' };
    return { pid: planned.pid, sent: [], result: 'failed', error: code ?? String(error) };
  }
}

/** Polls the port until none of the watched sockets is left, or `timeout` passes: the holding sockets still there. */
async function awaitRelease(plan: FreePlan, watched: ReadonlySet<string>, timeout: number): Promise<SocketRecord[]> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const left = await holdingSockets(plan.port, plan.protocol);
    if (!left.some((socket) => watched.has(socketKey(socket))) || Date.now() >= deadline) return left;
    await sleep(Math.min(FREE_DEFAULTS.interval, Math.max(0, deadline - Date.now())));
  }
}

/** One socket across two readings: its five-tuple, and the inode that tells a new socket from an old one on Linux. */
function socketKey(socket: SocketRecord): string {
  return `${socket.protocol}|${socket.family}|${socket.localAddress}|${socket.localPort}|${socket.remoteAddress}|${socket.remotePort}|${socket.inode}`;
}
