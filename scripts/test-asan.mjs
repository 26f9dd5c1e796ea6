// Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer and runs the tests that reach its native code against it.
//
// `npm run test:asan`. The same sources and binding.gyp are built into .cache/asan/build (git-ignored;
// binding.gyp and native/ are symlinked there, so build/Release stays the normal build), with the
// sanitizer flags given to make as CXXFLAGS and LDFLAGS, which gyp's Makefile appends after the
// target's own (-O1 wins over -O2) and records per object, so a change of flags recompiles. Node is
// not built with ASan, so its runtime is preloaded (LD_PRELOAD) into vitest and every process it
// starts; PORTCLASH_ADDON (lib/binding.ts) makes each of them load the sanitizer build. Reports go to
// files in .cache/asan/reports/ as well as ending the process that made them (halt on the first
// error, UB included): the run fails when vitest does or when any report was written, even by a
// child process whose exit a test did not look at.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const vitest = path.join(root, 'node_modules', 'vitest', 'vitest.mjs');

const asanDir = path.join(root, '.cache', 'asan');
const buildDir = path.join(asanDir, 'build');
const addon = path.join(buildDir, 'Release', 'portclash.node');
const reportsDir = path.join(asanDir, 'reports');

const sanitizerFlags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1';

// The files whose tests run the addon's code: /proc/net parsing (captured and hostile text),
// sock_diag dumps and the reply parser (crafted datagrams), nf_tables dumps (large and refused
// ones), the /proc/<pid>/fd owner scans and their cancelling, socket options read through
// pidfd_getfd, cgroup and namespace helpers, readings inside other network namespaces (threads that
// enter them), the async readers' queue and sinks, worker threads ended mid-work, and the unload
// guard. The CLI suites are left out: they reach the same code through a child process each, at
// ASan's cost.
const nativeFacingFiles = [
  'addon-unload',
  'binding',
  'cgroups',
  'netns',
  'nftables-reader',
  'owner-query',
  'owners',
  'owners-cancel',
  'owners-deep',
  'owners-dups',
  'owners-exit',
  'owners-failures',
  'proc-dedup',
  'proc-parser',
  'row-owner-pid',
  'sock-diag',
  'sock-diag-classid',
  'sock-diag-parser',
  'socket-options-close',
  'sockets',
  'sockopt-hooks',
  'table-queue',
  'table-reader-safety',
  'worker-teardown',
].map((name) => `test/${name}.test.ts`);
// `npm run test:asan -- test/<file>.test.ts …` runs those files instead.
const testFiles = process.argv.length > 2 ? process.argv.slice(2) : nativeFacingFiles;

/** @type {Record<string, number>} seconds each step took */
const timings = {};

/**
 * Runs a command with inherited output, and ends this script with its status when it fails.
 * @param {string} step
 * @param {[string, ...string[]]} command
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, allowFailure?: boolean }} [options]
 */
function run(step, command, { cwd = root, env = process.env, allowFailure = false } = {}) {
  const started = performance.now();
  const result = spawnSync(command[0], command.slice(1), { cwd, env, stdio: 'inherit' });
  timings[step] = (timings[step] ?? 0) + (performance.now() - started) / 1000;
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0 && !allowFailure) {
    console.error(`test:asan: ${step} failed (${result.status ?? result.signal})`);
    process.exit(result.status ?? 1);
  }
  return result.status ?? 1;
}

/**
 * The sanitizer runtime's path as gcc knows it; gcc answers with the bare name when it has none.
 * @param {string} name
 */
function runtime(name) {
  const result = spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const found = result.status === 0 ? result.stdout.trim() : '';
  if (!path.isAbsolute(found) || !fs.existsSync(found)) {
    console.error(`test:asan: gcc has no ${name}. Fix: install gcc's sanitizer runtimes (Debian: apt-get install libasan8 libubsan1).`);
    process.exit(1);
  }
  return fs.realpathSync(found);
}

/** @param {string} file */
function modifiedMs(file) {
  return fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? null;
}

/**
 * The latest modification time of the files under `dir`, or null when there are none.
 * @param {string} dir
 */
function newestMs(dir) {
  /** @type {number | null} */
  let newest = null;
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const mtime = modifiedMs(path.join(entry.parentPath, entry.name));
    if (mtime !== null && (newest === null || mtime > newest)) newest = mtime;
  }
  return newest;
}

/** Why .cache/asan/build must be configured again (as scripts/build-native.js asks of build/), or null. */
function whyConfigure() {
  const configured = modifiedMs(path.join(buildDir, 'config.gypi'));
  if (configured === null || modifiedMs(path.join(buildDir, 'Makefile')) === null) return 'not configured';
  if ((modifiedMs(path.join(root, 'binding.gyp')) ?? 0) > configured) return 'binding.gyp changed';
  const recorded = /"node_module_version": (\d+)/.exec(fs.readFileSync(path.join(buildDir, 'config.gypi'), 'utf8'))?.[1];
  if (recorded !== process.versions.modules) return `configured for another Node (module version ${recorded ?? 'unknown'})`;
  return null;
}

const asanRuntime = runtime('libasan.so');
runtime('libubsan.so');

// A tree of the package's build inputs only: node-gyp builds into ./build of the directory it runs in.
fs.mkdirSync(asanDir, { recursive: true });
for (const input of ['binding.gyp', 'native']) {
  const link = path.join(asanDir, input);
  if (fs.lstatSync(link, { throwIfNoEntry: false }) === undefined) fs.symlinkSync(path.join('..', '..', input), link);
}

const buildEnv = { ...process.env, CXXFLAGS: sanitizerFlags, LDFLAGS: '-fsanitize=address,undefined' };
const reason = whyConfigure();
if (reason !== null) {
  console.log(`test:asan: .cache/asan/build ${reason}: node-gyp configure`);
  run('build', [process.execPath, nodeGyp, 'configure', '--nodedir=/usr'], { cwd: asanDir, env: buildEnv });
}
run('build', [process.execPath, nodeGyp, 'build', '--jobs', 'max'], { cwd: asanDir, env: buildEnv });
// The tests' child processes import dist/, which must hold the lib/ under test (PORTCLASH_ADDON's
// reader included, or they would load build/Release without a word).
if ((newestMs(path.join(root, 'lib')) ?? 0) > (modifiedMs(path.join(root, 'dist', 'binding.js')) ?? 0)) {
  run('build', ['npm', 'run', 'build:ts', '--silent']);
}

fs.rmSync(reportsDir, { recursive: true, force: true });
fs.mkdirSync(reportsDir, { recursive: true });
const testEnv = {
  ...process.env,
  LD_PRELOAD: asanRuntime,
  // Leak checking is off: the processes the tests start (bash, python3, ip, unshare) and V8 in
  // every ended worker thread leak at exit, and Node frees a promise's napi_deferred only when it
  // settles, never in a torn-down environment (docs/development.md, Sanitizers). Options given in
  // the environment come after these and win: ASAN_OPTIONS=detect_leaks=1 to look anyway.
  ASAN_OPTIONS: [`detect_leaks=0:log_path=${path.join(reportsDir, 'asan')}`, process.env.ASAN_OPTIONS].filter(Boolean).join(':'),
  UBSAN_OPTIONS: [`print_stacktrace=1:halt_on_error=1:log_path=${path.join(reportsDir, 'ubsan')}`, process.env.UBSAN_OPTIONS].filter(Boolean).join(':'),
  PORTCLASH_ADDON: addon,
};
const vitestStatus = run('tests', [process.execPath, vitest, 'run', '--project', 'sockets', ...testFiles], { env: testEnv, allowFailure: true });

const reports = fs.readdirSync(reportsDir).sort();
for (const report of reports) {
  console.error(`\n===== sanitizer report ${path.join('.cache', 'asan', 'reports', report)} =====`);
  console.error(fs.readFileSync(path.join(reportsDir, report), 'utf8'));
}
const took = Object.entries(timings)
  .map(([step, seconds]) => `${step} ${seconds.toFixed(1)} s`)
  .join(', ');
console.log(
  `\ntest:asan: ${testFiles.length} test files against ${path.relative(root, addon)}; ${took}; ` +
    `vitest ${vitestStatus === 0 ? 'passed' : `failed (${vitestStatus})`}; ${reports.length} sanitizer report(s)`,
);
process.exit(vitestStatus !== 0 ? vitestStatus : reports.length > 0 ? 1 : 0);
