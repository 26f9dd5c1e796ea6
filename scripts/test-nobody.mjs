// Runs the whole vitest suite (both projects) as nobody: uid and gid 65534, no supplementary groups, no capabilities.
//
// `npm run test:nobody`, as root (setpriv needs it). The suite runs from a copy of the tree in a
// fresh directory under os.tmpdir(), not from the clone: CI clones to a path nobody may not
// traverse (/root/...), a clone made with umask 077 has files only root may read, and the tests and
// vitest write (its results cache in node_modules/.vite, helpers' scratch files), which as nobody
// would fail in a root-owned tree or leave nobody's files in the clone. A bind mount would fix
// neither the files' own modes nor the writes; a copy, made readable to all and then left alone,
// fixes both and leaves the clone as it was. nobody gets a HOME and a TMPDIR of its own there.
// Before the suite, a child started the same way prints its ids and capabilities and the run stops
// unless they are nobody's and none. The suite has a deadline; when it ends, whatever is left in
// its process group is killed, and the copy is removed, whatever happened.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const NOBODY = 65534;
const asNobody = [
  `--reuid=${NOBODY}`,
  `--regid=${NOBODY}`,
  '--clear-groups',
  // Dropping uid 0 clears the effective and permitted sets already; these clear what an exec of a
  // setuid or file-capability binary could give back.
  '--inh-caps=-all',
  '--ambient-caps=-all',
  '--bounding-set=-all',
];
// The suite takes about a minute; this only stops a hung one.
const suiteTimeoutMs = 30 * 60_000;
// What the suite reads: everything but the git directory and .cache/ (the sanitizer and wine builds).
const skipped = new Set(['.git', '.cache']);

if (process.getuid?.() !== 0) {
  console.error('test:nobody: must run as root, to start the suite as nobody (uid 65534) with setpriv. Fix: sudo npm run test:nobody');
  process.exit(1);
}

/** @type {Record<string, number>} seconds each step took */
const timings = {};

/**
 * The copy of the tree: owned by root, every file readable and every directory traversable by all.
 * @param {string} tree
 */
function copyTree(tree) {
  const started = performance.now();
  fs.mkdirSync(tree, { mode: 0o755 });
  for (const name of fs.readdirSync(root)) {
    if (skipped.has(name)) continue;
    // cp -a keeps node_modules/.bin's relative symlinks and the files' modes; chmod then opens what umask closed.
    const copied = spawnSync('cp', ['-a', path.join(root, name), tree], { stdio: 'inherit' });
    if (copied.status !== 0) throw new Error(`cp -a ${name} failed (${copied.status ?? copied.signal})`);
  }
  const opened = spawnSync('chmod', ['-R', 'a+rX', tree], { stdio: 'inherit' });
  if (opened.status !== 0) throw new Error(`chmod -R a+rX ${tree} failed`);
  timings.copy = (performance.now() - started) / 1000;
}

/**
 * A directory nobody owns and only nobody may write.
 * @param {string} directory
 */
function nobodysDirectory(directory) {
  fs.mkdirSync(directory, { mode: 0o700 });
  fs.chownSync(directory, NOBODY, NOBODY);
}

/**
 * Sends `signal` to the process group `pid` leads; false when the group has no process left.
 * @param {number} pid
 * @param {NodeJS.Signals | 0} signal
 */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ESRCH') return false;
    throw error;
  }
}

/**
 * Kills the process group, then waits (5 s at most: an unreaped zombie would stay) for it to be
 * gone, so that no process of the suite still writes in the copy when it is removed.
 * @param {number | undefined} pid
 */
function killGroup(pid) {
  if (pid === undefined || !signalGroup(pid, 'SIGKILL')) return;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let turn = 0; turn < 250 && signalGroup(pid, 0); turn++) Atomics.wait(pause, 0, 0, 20);
}

/**
 * Checks, as the suite will run, that the child is nobody with no capability and can read the
 * tree and write its HOME and TMPDIR; prints what it found. Returns the directories of PATH that
 * nobody may search: root's PATH may hold some it may not (/root/.local/bin), and a command looked
 * up through one fails with EACCES, not ENOENT, where it is missing; nobody's own PATH would not
 * hold them.
 * @param {string} tree
 * @param {NodeJS.ProcessEnv} env
 * @returns {string[]}
 */
function checkIdentity(tree, env) {
  const script = `
    const fs = require('node:fs');
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const field = (name) => new RegExp('^' + name + ':[ \\t]*(.*)$', 'm').exec(status)?.[1].trim();
    const found = { Uid: field('Uid'), Gid: field('Gid'), Groups: field('Groups'), CapEff: field('CapEff'), CapPrm: field('CapPrm'), CapBnd: field('CapBnd'), CapAmb: field('CapAmb') };
    fs.accessSync(${JSON.stringify(path.join(tree, 'package.json'))}, fs.constants.R_OK);
    fs.accessSync(process.env.HOME, fs.constants.W_OK);
    fs.accessSync(process.env.TMPDIR, fs.constants.W_OK);
    const searchable = (process.env.PATH ?? '').split(':').filter((directory) => {
      try {
        fs.accessSync(directory, fs.constants.X_OK);
        return directory !== '';
      } catch {
        return false;
      }
    });
    console.log(JSON.stringify({ found, searchable }));
  `;
  const child = spawnSync('setpriv', [...asNobody, process.execPath, '-e', script], { cwd: tree, env, encoding: 'utf8', timeout: 30_000 });
  if (child.status !== 0) throw new Error(`the check run as nobody failed (${child.status ?? child.signal}): ${child.stderr.trim()}`);
  /** @type {unknown} */
  const parsed = JSON.parse(child.stdout);
  const { found, searchable } = /** @type {{ found: Record<string, string | undefined>, searchable: string[] }} */ (parsed);
  console.log(
    `test:nobody: the suite runs as ${Object.entries(found)
      .map(([name, value]) => `${name} ${value === undefined ? '?' : value === '' ? '(none)' : value.replace(/\s+/g, ' ')}`)
      .join(', ')}`,
  );
  const nobody = `${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`;
  const none = '0000000000000000';
  if (
    found.Uid !== nobody ||
    found.Gid !== nobody ||
    found.Groups !== '' ||
    [found.CapEff, found.CapPrm, found.CapBnd, found.CapAmb].some((caps) => caps !== none)
  ) {
    throw new Error('the child is not nobody without groups and capabilities; not running the suite');
  }
  const dropped = (env.PATH ?? '').split(':').filter((directory) => directory !== '' && !searchable.includes(directory));
  if (dropped.length > 0) console.log(`test:nobody: PATH without the directories nobody cannot search (or that do not exist): ${dropped.join(', ')}`);
  return searchable;
}

/**
 * Runs vitest in the copy as nobody, in a process group of its own; resolves with its exit code.
 * @param {string} tree
 * @param {NodeJS.ProcessEnv} env
 * @returns {Promise<number>}
 */
function runSuite(tree, env) {
  const started = performance.now();
  const vitest = path.join(tree, 'node_modules', 'vitest', 'vitest.mjs');
  const child = spawn('setpriv', [...asNobody, process.execPath, vitest, 'run', ...process.argv.slice(2)], {
    cwd: tree,
    env,
    stdio: 'inherit',
    detached: true, // a process group of its own, to be killed as one
  });
  const stop = () => killGroup(child.pid);
  /** @type {NodeJS.Signals | null} */
  let interrupted = null;
  /** @param {NodeJS.Signals} signal */
  const interrupt = (signal) => {
    interrupted = signal;
    stop();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  return new Promise((resolve) => {
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      stop();
    }, suiteTimeoutMs);
    /**
     * @param {number | null} code
     * @param {NodeJS.Signals | null} signal
     */
    const finish = (code, signal) => {
      clearTimeout(deadline);
      stop(); // whatever the suite left behind in its group
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', interrupt);
      timings.suite = (performance.now() - started) / 1000;
      if (timedOut) console.error(`test:nobody: the suite did not end within ${suiteTimeoutMs / 1000} s and was killed`);
      else if (interrupted !== null) console.error(`test:nobody: ${interrupted}: the suite was killed`);
      else if (signal !== null) console.error(`test:nobody: vitest ended by ${signal}`);
      resolve(timedOut || code === null ? 1 : code);
    };
    child.once('error', (error) => {
      console.error(`test:nobody: could not start setpriv: ${error.message}`);
      finish(null, null);
    });
    child.once('exit', finish);
  });
}

/** @returns {Promise<number>} the exit code: vitest's */
async function main() {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'portclash-nobody-'));
  try {
    // mkdtemp makes it 0700; nobody must traverse it to reach the copy.
    fs.chmodSync(scratch, 0o755);
    const tree = path.join(scratch, 'tree');
    copyTree(tree);
    const home = path.join(scratch, 'home');
    const tmp = path.join(scratch, 'tmp');
    nobodysDirectory(home);
    nobodysDirectory(tmp);
    // Where vitest writes in the tree is nobody's, the rest stays root's: Vite bundles vitest.config.ts
    // into node_modules/.vite-temp, and vitest keeps its results cache in node_modules/.vite.
    for (const name of ['.vite', '.vite-temp']) {
      fs.rmSync(path.join(tree, 'node_modules', name), { recursive: true, force: true });
      nobodysDirectory(path.join(tree, 'node_modules', name));
    }
    // npm run puts the clone's node_modules/.bin on PATH: the copy's instead.
    const paths = (process.env.PATH ?? '').split(':').map((directory) => {
      const inClone = path.relative(root, directory);
      return directory !== '' && !inClone.startsWith('..') && !path.isAbsolute(inClone) ? path.join(tree, inClone) : directory;
    });
    /** @type {NodeJS.ProcessEnv} */
    const env = {
      ...process.env,
      PATH: paths.join(':'),
      HOME: home,
      TMPDIR: tmp,
      USER: 'nobody',
      LOGNAME: 'nobody',
      XDG_CACHE_HOME: path.join(home, '.cache'),
    };
    // npm's, pointing into root's HOME; nothing in the suite runs npm.
    for (const name of Object.keys(env)) if (name.startsWith('npm_config_')) delete env[name];
    env.PATH = checkIdentity(tree, env).join(':');
    const status = await runSuite(tree, env);
    console.log(
      `\ntest:nobody: vitest as uid ${NOBODY} in ${tree}; ${Object.entries(timings)
        .map(([step, seconds]) => `${step} ${seconds.toFixed(1)} s`)
        .join(', ')}; vitest ${status === 0 ? 'passed' : `failed (${status})`}`,
    );
    return status;
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`test:nobody: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
