// Cross-compiles the Windows addon on Linux with mingw-w64 into prebuilds/win32-x64/portclash.node.
//
// `npm run build:win32`. Sources, defines and libraries come from binding.gyp's portclash target
// and its OS=='win' block, so that this build and a real node-gyp (MSVC) build on Windows compile
// the same thing. Headers: node-api-headers (Node-API's C headers and .def files) and
// node-addon-api. node.exe's import libraries are made from the .def files with dlltool, in
// build-win32/ (git-ignored). The link is static, so the .node needs no mingw DLL on Windows.
//
// mingw-w64 missing: as root with apt-get, this installs g++-mingw-w64-x86-64-posix (which brings
// binutils-mingw-w64-x86-64 and mingw-w64-x86-64-dev); otherwise it says what to install and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
export const buildDir = path.join(root, 'build-win32');
// The name node-gyp-build accepts in prebuilds/<platform>-<arch>/ for a Node-API build without
// tags, and the one `prebuildify --napi` gives prebuilds/linux-x64/: the package's name.
export const prebuildPath = path.join(root, 'prebuilds', 'win32-x64', 'portclash.node');

// what require() returns is typed where it is called (scripts/addon-headers.d.ts)
const require = /** @type {(id: string) => unknown} */ (createRequire(import.meta.url));

// The posix thread model: node-addon-api's AsyncProgressQueueWorker needs std::mutex, which the
// win32 thread model of Debian's mingw-w64 lacks.
const compiler = 'x86_64-w64-mingw32-g++-posix';
const dlltool = 'x86_64-w64-mingw32-dlltool';
const objdump = 'x86_64-w64-mingw32-objdump';
const mingwPackage = 'g++-mingw-w64-x86-64-posix';

// What the .node may import: Windows itself, the C runtime, and node.exe for Node-API. Anything
// else (libstdc++-6.dll, libgcc_s_seh-1.dll, libwinpthread-1.dll) would be missing on Windows.
const allowedImports = [
  /^kernel32\.dll$/i,
  /^msvcrt\.dll$/i,
  /^ucrtbase\.dll$/i,
  /^api-ms-win-crt-[a-z0-9-]+\.dll$/i,
  /^iphlpapi\.dll$/i,
  /^ws2_32\.dll$/i,
  /^advapi32\.dll$/i,
  /^node\.exe$/i,
];

/**
 * Whether `command` is on PATH.
 * @param {string} command
 * @returns {boolean}
 */
export function haveCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore', timeout: 10_000 }).status === 0;
}

/**
 * Installs Debian packages when a command they provide is missing: as root with apt-get, else an
 * error that names the command to run. Returns the seconds spent installing, 0 when nothing was.
 * @param {readonly string[]} commands
 * @param {readonly string[]} packages
 * @returns {number}
 */
export function ensurePackages(commands, packages) {
  if (commands.every(haveCommand)) return 0;
  const install = `apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  if (process.getuid?.() !== 0 || !haveCommand('apt-get')) {
    throw new Error(`${commands.filter((command) => !haveCommand(command)).join(', ')} not found. Install it with: sudo ${install}`);
  }
  const started = performance.now();
  /** @param {string[]} args */
  const run = (args) =>
    spawnSync('apt-get', args, {
      stdio: 'inherit',
      timeout: 15 * 60_000,
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  const installArgs = ['install', '-y', '--no-install-recommends', ...packages];
  console.log(`installing ${packages.join(' ')} (${install})`);
  // a machine whose package lists are stale or absent cannot find the packages: update once, then retry
  if (run(installArgs).status !== 0) {
    if (run(['update']).status !== 0 || run(installArgs).status !== 0) {
      throw new Error(`${install} failed`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`installed ${packages.join(' ')} in ${seconds.toFixed(1)} s`);
  return seconds;
}

/**
 * The parts of a binding.gyp target, or of one of its condition blocks, read here.
 * @typedef {{ sources?: string[], defines?: string[], libraries?: string[] }} GypSettings
 * @typedef {GypSettings & { target_name: string, sources: string[], conditions?: [string, GypSettings, GypSettings?][] }} GypTarget
 */

/** The portclash target of binding.gyp with its Windows block merged in. */
export function readWindowsTarget() {
  const text = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(
      `scripts/build-win32.mjs reads binding.gyp as JSON and could not (${error instanceof Error ? error.message : String(error)}): ` +
        'keep binding.gyp free of comments, single quotes around keys and trailing commas',
      { cause: error },
    );
  }
  // what gyp reads; a missing target or condition is checked below
  const gyp = /** @type {{ targets?: GypTarget[] }} */ (parsed);
  const target = gyp.targets?.find((candidate) => candidate.target_name === 'portclash');
  const windows = target?.conditions?.find(([condition]) => condition === "OS=='win'")?.[1];
  if (target === undefined || windows === undefined) {
    throw new Error("binding.gyp has no portclash target with an OS=='win' condition");
  }
  return {
    name: target.target_name,
    sources: [...target.sources, ...(windows.sources ?? [])],
    defines: [...(target.defines ?? []), ...(windows.defines ?? [])],
    // gyp names MSVC import libraries (iphlpapi.lib); mingw links the same with -liphlpapi
    libraries: (windows.libraries ?? []).map((library) => `-l${path.basename(library, path.extname(library)).toLowerCase()}`),
  };
}

/** Every file the prebuild is made from: when one is newer than it, it is stale. */
export function prebuildInputs() {
  const native = fs.readdirSync(path.join(root, 'native')).map((name) => path.join(root, 'native', name));
  return [...native, path.join(root, 'binding.gyp'), fileURLToPath(import.meta.url)];
}

export function prebuildIsStale() {
  if (!fs.existsSync(prebuildPath)) return true;
  const built = fs.statSync(prebuildPath).mtimeMs;
  return prebuildInputs().some((input) => fs.statSync(input).mtimeMs > built);
}

/**
 * @param {string} command
 * @param {string[]} args
 */
function run(command, args) {
  execFileSync(command, args, { cwd: root, stdio: 'inherit', timeout: 10 * 60_000 });
}

/**
 * The DLLs a PE file imports, from objdump's "DLL Name:" lines.
 * @param {string} file
 * @returns {string[]}
 */
export function importedDlls(file) {
  const dump = execFileSync(objdump, ['-p', file], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 << 20 });
  // the group is not optional: every match has it
  return [...dump.matchAll(/DLL Name:\s*(\S+)/g)].map((match) => /** @type {string} */ (match[1]));
}

/** Builds prebuilds/win32-x64/portclash.node; returns the seconds the compile and link took. */
export function buildPrebuild() {
  ensurePackages([compiler, dlltool, objdump], [mingwPackage]);
  const target = readWindowsTarget();
  const headers = /** @type {typeof import('node-api-headers')} */ (require('node-api-headers'));
  const addonApi = path.resolve(root, /** @type {typeof import('node-addon-api')} */ (require('node-addon-api')).include_dir);
  fs.mkdirSync(buildDir, { recursive: true });

  const started = performance.now();
  // node.exe exports Node-API; these import libraries let the linker resolve it to node.exe
  const importLibraries = Object.values(headers.def_paths).map((def) => {
    const library = path.join(buildDir, `${path.basename(def, '.def')}.a`);
    run(dlltool, ['-d', def, '-l', library, '-D', 'node.exe']);
    return library;
  });
  const output = path.join(buildDir, `${target.name}.node`);
  run(compiler, [
    '-std=c++17',
    '-O2',
    '-Wall',
    '-Wextra',
    '-shared',
    '-static',
    '-s',
    // as node-gyp does on Windows: the module's name, and Node-API declared as imported
    `-DNODE_GYP_MODULE_NAME=${target.name}`,
    '-DBUILDING_NODE_EXTENSION',
    ...target.defines.map((define) => `-D${define}`),
    `-I${headers.include_dir}`,
    `-I${addonApi}`,
    '-o',
    output,
    ...target.sources.map((source) => path.join(root, source)),
    ...importLibraries,
    ...target.libraries,
  ]);
  const seconds = (performance.now() - started) / 1000;

  const imports = [...new Set(importedDlls(output))];
  const unexpected = imports.filter((dll) => !allowedImports.some((allowed) => allowed.test(dll)));
  if (unexpected.length > 0) {
    throw new Error(`${output} imports ${unexpected.join(', ')}, which Windows does not have: link it statically`);
  }
  fs.mkdirSync(path.dirname(prebuildPath), { recursive: true });
  fs.copyFileSync(output, prebuildPath);
  console.log(`${path.relative(root, prebuildPath)}: built in ${seconds.toFixed(1)} s, imports ${imports.join(', ')}`);
  return seconds;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    buildPrebuild();
  } catch (error) {
    console.error(`build:win32: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
