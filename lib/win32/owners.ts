// Which processes hold which sockets on Windows: the pid each table row names, the process's image, user and services.
import { win32 } from 'node:path';

import type { NativeBinding, WindowsProcessFacts, WindowsServiceList } from '../binding.js';
import { fromAddonSync, PortclashError } from '../errors.js';
import type { OwnedSocket, OwnerOptions, OwnerUnknownReason, ProcessInfo, ServiceInfo, SocketOwner } from '../owners.js';
import type { SocketRecord } from '../records.js';

// OpenProcess on a pid that no longer exists (or never did) fails so.
const ERROR_INVALID_PARAMETER = 87;

// Pids with no image file: the idle process and the kernel. The kernel's sockets on 80 and 443 (and
// any port with a URL reservation) are http.sys's, on behalf of IIS, WinRM or any HTTP.sys server.
const SYSTEM_PID = 4;
const KNOWN_ROLES: ReadonlyMap<string, string> = new Map([
  // WSL 2 forwards a Linux listener's port to Windows through these (microsoft/WSL#3525)
  ['wslhost.exe', 'forwards a WSL 2 port to Windows'],
  ['wslrelay.exe', 'forwards a WSL 2 port to Windows'],
]);

/**
 * The owners of each record, in order. Windows' tables name the owning process of every socket,
 * so there is no scan: the pids are looked up once each. `scan` does not apply. Socket options
 * of another process cannot be read on Windows: asked for, they stay unread and say why.
 */
export function findOwners(binding: NativeBinding, records: readonly SocketRecord[], options: OwnerOptions = {}): OwnedSocket[] {
  if (binding.processInfo === undefined || binding.listServices === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding cannot read Windows processes: it was not built for Windows');
  }
  const pids = [...new Set(records.flatMap((record) => (record.kernelOnly || record.ownerPid === undefined ? [] : [record.ownerPid])))];
  const readings = pids.length === 0 ? [] : fromAddonSync('reading Windows processes', () => binding.processInfo!(pids));
  const services = pids.length === 0 ? new Map<number, string[]>() : servicesByPid(fromAddonSync('listing Windows services', () => binding.listServices!()));
  const owners = new Map<number, SocketOwner | null>();
  for (const reading of readings) owners.set(reading.pid, ownerOf(reading, services.get(reading.pid) ?? []));

  return records.map((record) => {
    const owner = record.kernelOnly || record.ownerPid === undefined ? null : (owners.get(record.ownerPid) ?? null);
    const owned: OwnedSocket = { ...record, owner, owners: owner === null ? [] : [owner] };
    if (owner === null) owned.ownerUnknown = unknownReason(record);
    if (options.socketOptions === true && owner !== null) {
      owned.optionsUnread = "Windows shows no other process's socket options (SO_REUSEADDR, SO_EXCLUSIVEADDRUSE): no interface reads them";
    }
    return owned;
  });
}

/** One process by pid, as findOwners describes owners; null when it no longer exists. */
export function readProcess(binding: NativeBinding, pid: number): ProcessInfo | null {
  const reading = readProcessFacts(binding, pid);
  if (reading === undefined || !exists(reading)) return null;
  const services = servicesByPid(fromAddonSync('listing Windows services', () => binding.listServices!()));
  const { fd: _fd, ...info } = ownerOf(reading, services.get(pid) ?? [])!;
  return info;
}

/** Whether a process has `pid`: one processInfo call, without the list of every service readProcess reads. */
export function processExists(binding: NativeBinding, pid: number): boolean {
  const reading = readProcessFacts(binding, pid);
  return reading !== undefined && exists(reading);
}

function readProcessFacts(binding: NativeBinding, pid: number): WindowsProcessFacts | undefined {
  if (binding.processInfo === undefined || binding.listServices === undefined) {
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding cannot read Windows processes: it was not built for Windows');
  }
  return fromAddonSync('reading a Windows process', () => binding.processInfo!([pid]))[0];
}

// How far up a chain of parents a descendant is looked for, as lib/processes.ts CHAIN_DEPTH.
const DESCENT_DEPTH = 8;

/**
 * Which of `candidates` (the pids that own rows) are `root` or descend from it: each candidate's
 * parents are read by pid (processInfo, one Toolhelp snapshot a call, a level of parents a call)
 * until `root`, a parent that cannot be read, or one that started after its child (a reused pid).
 * Only processes that hold sockets matter, so only their ancestors are read, not every process.
 */
export function descendantsAmong(binding: NativeBinding, root: number, candidates: readonly number[]): Set<number> {
  if (binding.processInfo === undefined)
    throw new PortclashError('ERR_UNSUPPORTED_PLATFORM', 'this binding cannot read Windows processes: it was not built for Windows');
  const facts = new Map<number, WindowsProcessFacts>();
  let wanted = [...new Set(candidates)];
  for (let level = 0; level <= DESCENT_DEPTH && wanted.length > 0; level++) {
    for (const reading of fromAddonSync('reading Windows processes', () => binding.processInfo!(wanted))) facts.set(reading.pid, reading);
    wanted = [...new Set([...facts.values()].flatMap((reading) => (reading.parentPid === null || facts.has(reading.parentPid) ? [] : [reading.parentPid])))];
  }
  const found = new Set<number>();
  for (const candidate of new Set(candidates)) {
    let child = facts.get(candidate);
    for (let depth = 0; child !== undefined && depth <= DESCENT_DEPTH; depth++) {
      if (child.pid === root) {
        found.add(candidate);
        break;
      }
      const parent = child.parentPid === null ? undefined : facts.get(child.parentPid);
      // a parent that started after its child is another process that took a dead parent's pid
      if (parent === undefined || (parent.startTime !== null && child.startTime !== null && parent.startTime > child.startTime)) break;
      child = parent;
    }
  }
  return found;
}

function unknownReason(record: SocketRecord): OwnerUnknownReason {
  if (record.kernelOnly) return 'kernel';
  return record.ownerPid === undefined ? 'unreported' : 'gone';
}

/** The services each pid hosts, by name (one svchost.exe hosts several). Unlisted when the list cannot be read. */
export function servicesByPid(reading: WindowsServiceList): Map<number, string[]> {
  const byPid = new Map<number, string[]>();
  if (reading.errno !== 0) return byPid;
  for (const { name, pid } of reading.services) {
    if (pid === 0) continue;
    const names = byPid.get(pid);
    if (names === undefined) byPid.set(pid, [name]);
    else names.push(name);
  }
  for (const names of byPid.values()) names.sort((a, b) => a.localeCompare(b));
  return byPid;
}

/** OpenProcess answers ERROR_INVALID_PARAMETER for a pid that names no process (System's, 4, it never opens). */
function exists(reading: WindowsProcessFacts): boolean {
  return reading.pid === SYSTEM_PID || reading.image !== null || reading.imageError !== ERROR_INVALID_PARAMETER;
}

/**
 * The process behind a pid, null when it no longer exists. A fact that cannot be read stays null
 * (a protected process refuses its image, another user's its token), never guessed.
 */
export function ownerOf(reading: WindowsProcessFacts, services: readonly string[]): SocketOwner | null {
  if (!exists(reading)) return null;
  const { pid, image } = reading;
  const name = pid === SYSTEM_PID ? 'System' : image === null ? null : win32.basename(image);
  const info: ProcessInfo = {
    pid,
    ppid: reading.parentPid,
    name,
    // another process's command line lives in its memory (PEB), which portclash does not read
    cmdline: [],
    command: image ?? name ?? '',
    uid: null,
    user: reading.user,
    startTime: reading.startTime === null ? null : new Date(reading.startTime),
    service: serviceOf(services),
  };
  const role =
    pid === SYSTEM_PID
      ? 'the kernel: http.sys serves this port for IIS, WinRM or another HTTP.sys server (see netsh http show urlacl)'
      : name === null
        ? undefined
        : KNOWN_ROLES.get(name.toLowerCase());
  if (role !== undefined) info.role = role;
  return { ...info, fd: null };
}

function serviceOf(services: readonly string[]): ServiceInfo | null {
  return services.length === 0 ? null : { unit: services[0]!, windowsServices: [...services] };
}
