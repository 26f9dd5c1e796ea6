// Small /proc and /proc/sys files read whole: their text or number, or null when they cannot be read;
// and the mount table they describe.
import { readFileSync } from 'node:fs';

import { getBinding } from '../binding.js';

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** Small files read at once, each text or null: in one call of the addon's readFiles where it has one. */
export function readTexts(paths: readonly string[]): (string | null)[] {
  const files = getBinding().readFiles?.(paths);
  return files?.length === paths.length ? files.map((file) => (file.errno === 0 ? file.text : null)) : paths.map(readText);
}

/** A file's text as one number, as /proc/sys prints them; null for no text or anything else. */
export function parseNumber(text: string | null | undefined): number | null {
  const value = text === null || text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(value) ? value : null;
}

/** One mount, as a line of /proc/<pid>/mountinfo gives it. */
export interface Mount {
  /** The directory of the mounted filesystem that appears at the mountpoint (`/` for all of it). */
  root: string;
  mountpoint: string;
  fstype: string;
  superOptions: string;
}

/**
 * The lines of /proc/<pid>/mountinfo, `id parent major:minor root mountpoint options [optional…] -
 * fstype source superoptions`, with the octal escapes of paths (`\040` for a space) undone.
 * Lines of another shape are skipped.
 */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const [mount, filesystem] = line.split(' - ');
    const fields = mount!.split(' ');
    const [fstype, , superOptions = ''] = filesystem?.split(' ') ?? [];
    if (fields.length < 5 || fstype === undefined) continue;
    mounts.push({ root: unescapeMountPath(fields[3]!), mountpoint: unescapeMountPath(fields[4]!), fstype, superOptions });
  }
  return mounts;
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
