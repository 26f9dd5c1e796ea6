// portclash/register: when a server's listen() or a socket's bind() fails, one stderr line naming who holds the port.
// CommonJS, so that `node -r` installs it before the app's first line runs; `node --import` loads it too.
import * as dgram from 'node:dgram';
import { writeSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';

// The lookup runs on a worker thread of this process, which this thread waits for synchronously
// (Atomics.wait): an unhandled 'error' throws the moment it is emitted, and the process exits
// before any promise of this thread could settle. The library is ESM, which CommonJS cannot load
// synchronously; the worker imports it.
const LOOKUP = join(__dirname, 'register-lookup.js');
const LOOKUP_TIMEOUT_MS = 2000;
const BIND_ERRNOS: ReadonlySet<unknown> = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);
const INSTALLED = Symbol.for('portclash.register');
const explained = new WeakSet<object>();

function explain(error: unknown, protocol: 'tcp' | 'udp'): void {
  if (typeof error !== 'object' || error === null || explained.has(error)) return;
  const { code, syscall, address, port } = error as Record<string, unknown>;
  // dgram's send() errors (EACCES for a broadcast) come through 'error' too: only bind() and listen() are asked about
  if (!BIND_ERRNOS.has(code) || (syscall !== 'bind' && syscall !== 'listen')) return;
  // Node leaves `port` out when it is 0; with a path for address it was listen(path), which no socket table knows
  if (typeof port !== 'number' && !(typeof address === 'string' && net.isIP(address) !== 0)) return;
  explained.add(error);
  try {
    const line = lookUp({ code, syscall, address, port, protocol });
    if (line !== '') writeSync(2, `portclash: ${line}\n`);
  } catch (_failure) {
    // explaining an error must never raise another one
  }
}

/** The worker's one line for the error, or '' when it has none within the timeout. */
function lookUp(fields: Record<string, unknown>): string {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const { port1, port2 } = new MessageChannel();
  // no execArgv: the worker must not load this hook (or anything else the app preloads) again
  const worker = new Worker(LOOKUP, { workerData: { fields, port: port2, done }, transferList: [port2], execArgv: [], stdout: true, stderr: true });
  worker.unref();
  try {
    if (Atomics.wait(done, 0, 0, LOOKUP_TIMEOUT_MS) === 'timed-out') return '';
    const reply = receiveMessageOnPort(port1) as { message: unknown } | undefined;
    return typeof reply?.message === 'string' ? reply.message.trim() : '';
  } finally {
    port1.close();
    void worker.terminate();
  }
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

// emit itself is wrapped, not an 'error' listener added: with no listener EventEmitter throws the
// error, and one more listener would turn an app's crash into a silently handled error.
function wrapEmit(prototype: { emit: Emit }, protocol: 'tcp' | 'udp'): void {
  const original = prototype.emit;
  // named, so that the one frame it adds to Node's "Emitted 'error' event" trace reads `Server.emit`
  prototype.emit = function emit(this: unknown, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error') explain(args[0], protocol);
    return original.call(this, event, ...args);
  };
}

const state = globalThis as { [INSTALLED]?: true };
if (state[INSTALLED] !== true) {
  state[INSTALLED] = true;
  wrapEmit(net.Server.prototype, 'tcp');
  wrapEmit(dgram.Socket.prototype, 'udp');
}
