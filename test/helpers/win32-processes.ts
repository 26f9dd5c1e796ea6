// What processInfo answers for a Windows process, for tests that stand in for the addon: one that runs, one that is gone.
import type { WindowsProcessFacts } from '../../lib/binding.js';

/** A running process: its image, account, start time (9:MM on 2026-12-01) and parent. */
export function runningProcess(pid: number, image: string, options: { user?: string; parentPid?: number; startMinute?: number } = {}): WindowsProcessFacts {
  return {
    pid,
    image,
    imageError: 0,
    user: options.user ?? 'HOST\\dev',
    userError: 0,
    startTime: Date.UTC(2026, 11, 1, 9, options.startMinute ?? 30),
    startError: 0,
    parentPid: options.parentPid ?? 600,
    parentError: 0,
  };
}

/** A pid with no process: OpenProcess fails with ERROR_INVALID_PARAMETER (87), and so does every fact. */
export function goneProcess(pid: number): WindowsProcessFacts {
  return { pid, image: null, imageError: 87, user: null, userError: 87, startTime: null, startError: 87, parentPid: null, parentError: 87 };
}
