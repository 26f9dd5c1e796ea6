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
 * emit for text made a chunk at a time: the next chunk is made only once stdout has taken the one
 * before (io.drained), so that a reader slower than portclash (a pipe holds 64 KB) never has the
 * whole output waiting in this process's memory.
 */
export async function emitChunks(io: CommandIO, chunks: Iterable<string>, path: string | undefined): Promise<void> {
  if (path !== undefined) {
    writeFileAtomically(path, chunks);
    return;
  }
  for (const chunk of chunks) {
    io.stdout(chunk);
    await io.drained?.();
  }
}

// Records per chunk of a JSON array: some 250 KB of text, written before the next is made.
const JSON_CHUNK_RECORDS = 1000;

/**
 * A JSON array of `records`, a chunk of them at a time, so that 100,000 sockets never become one
 * 25 MB string (emitChunks writes each before the next is made). `pretty` gives exactly `JSON.stringify(records, null, 2)`, for a reader
 * on a terminal; otherwise one record a line, without the indentation: half the bytes, and less to
 * make and to parse for the program reading the pipe.
 */
export function* jsonArrayChunks(records: readonly unknown[], pretty: boolean): Generator<string> {
  if (records.length === 0) {
    yield '[]\n';
    return;
  }
  for (let start = 0; start < records.length; start += JSON_CHUNK_RECORDS) {
    const chunk = records.slice(start, start + JSON_CHUNK_RECORDS);
    const lines =
      (pretty ? null : recordLines(chunk)) ??
      chunk
        // JSON text has no newline inside a string, so each of its lines can be indented as a whole
        .map((record) => (pretty ? `  ${JSON.stringify(record, null, 2).replaceAll('\n', '\n  ')}` : JSON.stringify(record)))
        .join(',\n');
    yield `${start === 0 ? '[\n' : ',\n'}${lines}`;
  }
  yield '\n]\n';
}

/**
 * `chunk.map((record) => JSON.stringify(record)).join(',\n')`, made by one JSON.stringify of the
 * whole chunk, which takes half the time (47 against 92 ms for 105,000 records): in its text each
 * object element is followed by `},{` and the next. A newline goes into each of those, and the
 * count proves them all boundaries: there are at least `chunk.length - 1` (every element is an
 * object without toJSON, so its text starts with `{` and ends with `}`), and any more (a string
 * holding `},{`, an array of objects inside a record) gives null, for the map to do it instead.
 */
function recordLines(chunk: readonly unknown[]): string | null {
  for (const record of chunk) {
    if (typeof record !== 'object' || record === null || Array.isArray(record) || typeof (record as { toJSON?: unknown }).toJSON === 'function') return null;
  }
  const array = JSON.stringify(chunk);
  const lines = array.slice(1, -1).replaceAll('},{', '},\n{');
  return lines.length - (array.length - 2) === chunk.length - 1 ? lines : null;
}

/**
 * Replaces `path` with `text` (one string, or its chunks in turn) so that a reader sees the old file or the new one, never half of one:
 * the text goes to a temporary file in the same directory (rename() is atomic only within one
 * filesystem), is flushed to disk, and is renamed over `path`. node_exporter's textfile collector
 * reads `*.prom`, and the temporary name (`.NAME.<pid>.<random>.tmp`) does not end so. The file is
 * created exclusively (O_EXCL, which also refuses a symlink planted under that name) and keeps the
 * mode of the file it replaces, else 0644, so that the collector's user can read it whatever the
 * umask. On failure the temporary file is removed and `path` is left as it was.
 */
export function writeFileAtomically(path: string, text: string | Iterable<string>): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | null = null;
  try {
    const mode = existingMode(path) ?? 0o644;
    fd = openSync(temporary, 'wx', mode);
    fchmodSync(fd, mode);
    if (typeof text === 'string') writeFileSync(fd, text);
    else for (const chunk of text) writeFileSync(fd, chunk);
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
