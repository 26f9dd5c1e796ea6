// The command line's entry: wires runCli to this process's streams and exit code. The `portclash`
// executable (launcher.cts) runs it bundled; `node dist/cli/main.js` runs it unbundled.
import { writeSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { isatty } from 'node:tty';

import { EXIT, type CommandIO } from './io.js';
import { runCli } from './run.js';

/** `portclash list | head` closes the pipe early; that is the reader's choice, not an error. */
function endOnBrokenPipe(error: NodeJS.ErrnoException): void {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
  throw error;
}

/**
 * What writes to fd 1 or 2. Outside Windows, with writeSync while the fd takes it: Node makes a
 * stream for process.stdout on first use, which costs a command several ms (node:net's for a
 * pipe), and on Linux and macOS it writes files, pipes and terminals synchronously anyway, so the
 * order and the blocking are the same. A non-blocking fd's EAGAIN hands the rest, and every later
 * write, to the stream, which waits for the fd. On Windows the stream always writes (a console
 * takes UTF-16 through it, not the bytes writeSync would give it).
 */
function writerTo(fd: 1 | 2, stream: () => NodeJS.WriteStream): { write: (text: string) => void; streaming: () => boolean } {
  let streaming = process.platform === 'win32';
  return {
    write: (text) => {
      if (streaming) {
        stream().write(text);
        return;
      }
      const bytes = Buffer.from(text, 'utf8');
      let written = 0;
      try {
        // each pass writes at least one byte, or throws
        while (written < bytes.length) written += writeSync(fd, bytes, written);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') return endOnBrokenPipe(error as NodeJS.ErrnoException);
        streaming = true;
        // the rest as bytes: a write may have stopped inside a character
        stream().write(bytes.subarray(written));
      }
    },
    streaming: () => streaming,
  };
}

let stdoutStream: NodeJS.WriteStream | undefined;
function stdoutStreamOnce(): NodeJS.WriteStream {
  if (stdoutStream === undefined) {
    stdoutStream = process.stdout;
    stdoutStream.on('error', endOnBrokenPipe);
  }
  return stdoutStream;
}

const stdout = writerTo(1, stdoutStreamOnce);
const stderr = writerTo(2, () => process.stderr);

/** y or yes, asked on the terminal; anything else (or end of input) is no. */
async function confirm(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: stdoutStreamOnce() });
  try {
    return /^y(es)?$/i.test((await terminal.question(question)).trim());
  } finally {
    terminal.close();
  }
}

/** The terminal stdout writes to, if it is one; asked once, when a command first wants to know. */
let terminal: { readonly columns: number; readonly rows: number } | null | undefined;
function terminalOf(): { readonly columns: number; readonly rows: number } | undefined {
  // isatty(), not process.stdout.isTTY, which would make the stream
  terminal ??= isatty(1)
    ? {
        // its size as it is when read: it follows the window
        get columns() {
          return stdoutStreamOnce().columns;
        },
        get rows() {
          return stdoutStreamOnce().rows;
        },
      }
    : null;
  return terminal ?? undefined;
}

const io: CommandIO = {
  stdout: stdout.write,
  stderr: stderr.write,
  drained: () =>
    stdout.streaming() && stdoutStreamOnce().writableNeedDrain ? new Promise((resolve) => stdoutStreamOnce().once('drain', resolve)) : Promise.resolve(),
  // Asked only by the commands that want them: node:tty, and the streams, cost a command several ms.
  get terminal() {
    return terminalOf();
  },
  get confirm() {
    return terminalOf() !== undefined && isatty(0) ? confirm : undefined;
  },
};

void runCli(process.argv.slice(2), io).then((code) => {
  process.exitCode = code;
});
