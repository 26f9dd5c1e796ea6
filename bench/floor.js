// Runs bench/floor.c, the bare inet_diag dump, so that the tables can show the kernel's own floor.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = fileURLToPath(new URL('./floor.c', import.meta.url));
const outDir = fileURLToPath(new URL('./.out/', import.meta.url));
const program = `${outDir}floor`;

const portModes = new Set(['port-all', 'port-bound', 'port-connected', 'port-listen']);
const modes = new Set(['full-tcp', 'full-tcp-bound', 'full-udp', ...portModes]);

/** @param {string} path */
function modifiedMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch (error) {
    if (/** @type {NodeJS.ErrnoException} */ (error).code === 'ENOENT') return -Infinity;
    throw error;
  }
}

// Built here rather than by node-gyp: it is a plain C program, and the bench must not need the addon
// toolchain to say what the kernel alone costs.
function buildFloor() {
  if (modifiedMs(program) >= modifiedMs(source)) return;
  mkdirSync(outDir, { recursive: true });
  try {
    execFileSync('cc', ['-O2', '-o', program, source], { stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (error) {
    const { code, message } = /** @type {NodeJS.ErrnoException} */ (error);
    if (code === 'ENOENT')
      throw new Error('the floor benchmark needs a C compiler named cc; install one (e.g. apt-get install gcc linux-libc-dev)', { cause: error });
    throw new Error(`could not compile ${source} (its errors are above): ${message}`, { cause: error });
  }
}

/**
 * Times `runs` raw inet_diag dumps (after 3 warm-ups) in one C process and returns the median.
 * Modes: 'full-tcp', 'full-tcp-bound', 'full-udp' (both families, every state), and
 * 'port-all', 'port-connected' (all but bound-only), 'port-bound' (bound-only alone), 'port-listen' (TCP with the kernel filtering sport == port, as ss 'sport = :P' does).
 * `messages` is the number of sockets the last dump returned.
 * @param {string} mode
 * @param {{ port?: number, runs?: number }} [options]
 * @returns {{ medianMs: number, messages: number }}
 */
export function measureFloor(mode, { port, runs = 15 } = {}) {
  if (!modes.has(mode)) throw new Error(`unknown floor mode '${mode}'; expected one of ${[...modes].join(', ')}`);
  const portArgs = [];
  if (portModes.has(mode)) {
    if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`floor mode '${mode}' needs a port in 0..65535, got ${port}`);
    portArgs.push(String(port));
  }
  buildFloor();
  const output = execFileSync(program, [mode, ...portArgs, String(runs)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  /** @type {unknown} */
  const reading = JSON.parse(output);
  const { medianMs, messages } = /** @type {{ medianMs: number, messages: number }} */ (reading);
  return { medianMs, messages };
}
