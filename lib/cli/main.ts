#!/usr/bin/env node
// The `portclash` executable: wires the command line to this process's streams and exit code.
import { createInterface } from 'node:readline/promises';

import { EXIT } from './io.js';
import { runCli } from './run.js';

// `portclash list | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
  throw error;
});

/** y or yes, asked on the terminal; anything else (or end of input) is no. */
async function confirm(question: string): Promise<boolean> {
  const terminal = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await terminal.question(question)).trim());
  } finally {
    terminal.close();
  }
}

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  drained: () => (process.stdout.writableNeedDrain ? new Promise((resolve) => process.stdout.once('drain', resolve)) : Promise.resolve()),
  // stdout first: reading process.stdin makes its stream (some ms), which a pipe's reader never needs
  ...(process.stdout.isTTY && process.stdin.isTTY ? { confirm } : {}),
  ...(process.stdout.isTTY ? { terminal: process.stdout } : {}),
});
