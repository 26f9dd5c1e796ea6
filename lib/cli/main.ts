#!/usr/bin/env node
// The `portclash` executable: wires the command line to this process's streams and exit code.
import { EXIT } from './io.js';
import { runCli } from './run.js';

// `portclash list | head` closes the pipe early; that is the reader's choice, not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
  throw error;
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  ...(process.stdout.isTTY ? { terminal: process.stdout } : {}),
});
