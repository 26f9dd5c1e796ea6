// Where a command's output goes and in which format: stdout, or with --output a file replaced atomically (node_exporter's textfile collector).
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { PortclashError, type ErrnoCode } from '../errors.js';
import type { CommandIO } from './io.js';

export const OUTPUT_OPTIONS = { format: { type: 'string' }, output: { type: 'string' } } as const;

/** --format, where --json is the older spelling of `--format json`; text when neither is given. */
export function chooseFormat<F extends string>(values: { format?: string | undefined; json?: boolean | undefined }, formats: readonly F[]): F {
  const format = values.format ?? (values.json === true ? 'json' : 'text');
  if (!(formats as readonly string[]).includes(format)) {
    throw new PortclashError('ERR_USAGE', `--format must be one of ${formats.join(', ')}, got ${JSON.stringify(format)}`);
  }
  if (values.json === true && format !== 'json') throw new PortclashError('ERR_USAGE', `--json and --format ${format} contradict each other`);
  return format as F;
}

/** The command's text to stdout, or with `path` (--output) to that file instead, atomically. */
export function emit(io: CommandIO, text: string, path: string | undefined): void {
  if (path === undefined) io.stdout(text);
  else writeFileAtomically(path, text);
}

/**
 * Replaces `path` with `text` so that a reader sees the old file or the new one, never half of one:
 * the text goes to a temporary file in the same directory (rename() is atomic only within one
 * filesystem), is flushed to disk, and is renamed over `path`. node_exporter's textfile collector
 * reads `*.prom`, and the temporary name (`.NAME.<pid>.<random>.tmp`) does not end so. The file is
 * created exclusively (O_EXCL, which also refuses a symlink planted under that name) and keeps the
 * mode of the file it replaces, else 0644, so that the collector's user can read it whatever the
 * umask. On failure the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomically(path: string, text: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null = null;
  try {
    const mode = existingMode(path) ?? 0o644;
    fd = openSync(temporary, 'wx', mode);
    fchmodSync(fd, mode);
    writeFileSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(temporary, path);
  } catch (error) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(temporary);
    } catch {
      // never created, or already renamed
    }
    const { code, syscall } = error as NodeJS.ErrnoException;
    throw new PortclashError((code ?? 'EIO') as ErrnoCode, `--output ${path} could not be written: ${(error as Error).message.replace(/^E[A-Z]+: /, '')}`, {
      ...(syscall === undefined ? {} : { syscall }),
      path,
      cause: error,
    });
  }
}

function existingMode(path: string): number | null {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return null;
  }
}
