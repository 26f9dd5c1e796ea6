// A process by pid, and the parents that started it: what `free` and `who` show beside a holder (`node server.js ← npm run dev ← bash`).
import { PortclashError } from './errors.js';
import type { ProcessInfo } from './owners.js';
import { platform } from './platform.js';

/** How many parents a chain shows at most: enough for a shell, a package manager and a watcher. */
export const CHAIN_DEPTH = 8;

/** What the OS says about one process, as owners are described; null when there is no such process. */
export function readProcess(pid: number): ProcessInfo | null {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new PortclashError('ERR_INVALID_ARGUMENT', `pid must be a positive integer, got ${JSON.stringify(pid) ?? String(pid)}`);
  }
  return platform().readProcess(pid);
}

/**
 * The parents of a process, nearest first, up to `depth` of them: each read by its ppid, until
 * init (pid 1, included), a parent the kernel started (ppid 0), or one that cannot be read (gone,
 * or its ppid unreadable), or one that started after its child (its pid was reused). Empty where
 * the OS does not give the parent (Windows, for now).
 */
export function parentChain(process: ProcessInfo, depth = CHAIN_DEPTH): ProcessInfo[] {
  if (typeof process !== 'object' || process === null || typeof process.pid !== 'number') {
    throw new PortclashError('ERR_INVALID_ARGUMENT', 'parentChain takes a process as readProcess or findOwners describe it');
  }
  const chain: ProcessInfo[] = [];
  const seen = new Set([process.pid]);
  let child = process;
  while (child.ppid !== null && child.ppid > 0 && !seen.has(child.ppid) && chain.length < depth) {
    const parent = platform().readProcess(child.ppid);
    // a parent that started after its child is another process that took a dead parent's pid
    if (parent === null || (parent.startTime !== null && child.startTime !== null && parent.startTime > child.startTime)) break;
    chain.push(parent);
    seen.add(parent.pid);
    child = parent;
  }
  return chain;
}
