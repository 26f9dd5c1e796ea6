// Small /proc and /proc/sys files read whole: their text or number, or null when they cannot be read.
import { readFileSync } from 'node:fs';

export function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function readNumber(path: string): number | null {
  const text = readText(path);
  const value = text === null ? NaN : Number(text.trim());
  return Number.isFinite(value) ? value : null;
}
