// Bundles the command line: dist/cli/main.js and all it imports into one CommonJS file,
// dist/cli/bundle.cjs, which the `bin` (dist/cli/launcher.cjs, from lib/cli/launcher.cts) compiles
// with a V8 code cache; then runs it once, which writes that cache. One file starts faster than ~30
// ES modules, and only a CommonJS script can be given a code cache on Node 20.
import { createHash } from 'node:crypto';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = resolve(root, 'dist');
const entry = resolve(dist, 'cli/main.js');
const outfile = resolve(dist, 'cli/bundle.cjs');
const launcher = resolve(dist, 'cli/launcher.cjs');

// Node's own modules that a bare `node` has not loaded yet, and that some command never uses:
// each costs start-up time (node:net, node:worker_threads and node:crypto several ms) when loaded.
const LAZY_BUILTINS = [
  'node:child_process',
  'node:crypto',
  'node:dgram',
  'node:dns/promises',
  'node:net',
  'node:os',
  'node:readline/promises',
  'node:timers/promises',
  'node:tty',
  'node:worker_threads',
];

// The banner's function that gives each module the URL it had in dist/ (keepModuleUrls)
const MODULE_URL = '__portclashModuleUrl';

/**
 * Every module keeps the import.meta.url it had in dist/: binding.ts finds the package root (and so
 * the addon) from it, run.ts the package.json. In one file they would all share the bundle's.
 * @type {import('esbuild').Plugin}
 */
const keepModuleUrls = {
  name: 'keep-module-urls',
  setup(context) {
    context.onLoad({ filter: /[\\/]dist[\\/].*\.js$/ }, async ({ path }) => {
      const source = await readFile(path, 'utf8');
      const inDist = relative(dist, path).split('\\').join('/');
      return { contents: source.replaceAll('import.meta.url', `${MODULE_URL}(${JSON.stringify(inDist)})`), loader: 'js' };
    });
  },
};

/**
 * An import of a LAZY_BUILTINS module becomes an object whose properties load it on first use: the
 * bundle reads an imported name at each use (`import_node_net.createServer(…)`), so `check` never
 * loads node:dgram unless it probes, nor `list` node:crypto unless it writes --output.
 * @type {import('esbuild').Plugin}
 */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(context) {
    const load = /** @type {(id: string) => object} */ (createRequire(import.meta.url));
    context.onResolve({ filter: /^node:/ }, ({ path, namespace }) =>
      LAZY_BUILTINS.includes(path) && namespace !== 'lazy-builtin' ? { path, namespace: 'lazy-builtin' } : undefined,
    );
    context.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, ({ path }) => {
      const names = Object.keys(load(path)).filter((name) => name !== 'default');
      const getters = names.map((name) => `  get ${JSON.stringify(name)}() { return real()[${JSON.stringify(name)}]; },`);
      return {
        contents: [
          `let loaded;`,
          `const real = () => (loaded ??= require(${JSON.stringify(path)}));`,
          `module.exports = {`,
          ...getters,
          `  get default() { return real(); },`,
          `};`,
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

/**
 * esbuild wraps each import of a CommonJS module in __toESM(), which copies the module's every
 * export onto a new object, at each importing module's start (node:os alone is imported by nine).
 * A lazy builtin's object has every export and `default` as getters already: it is used as it is.
 * @param {string} text
 */
function withoutInterop(text) {
  const lazy = [...text.matchAll(/var (require_[A-Za-z0-9_$]+) = __commonJS\(\{\n\s*"lazy-builtin:/g)].map((match) => match[1] ?? '');
  return lazy.reduce((bundle, name) => bundle.replaceAll(`__toESM(${name}(), 1)`, `${name}()`), text);
}

/**
 * The bundle in ASCII: esbuild escapes what strings hold, but the comments it keeps inside functions
 * keep their `…` and `≥`, and a single one makes the whole source a two-byte string, which V8 reads
 * and hashes at twice the size (reading the file took 1.1 ms instead of 0.7). A `\uXXXX` means the
 * same in a string, template or regular expression, and is only text in a comment.
 * @param {string} text
 */
function asciiOnly(text) {
  return text.replace(/[^\t\n\r\x20-\x7e]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const { outputFiles } = await build({
  entryPoints: [entry],
  outfile,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // No `packages: 'external'`: node-gyp-build, the one package lib/ imports, goes in too. Required
  // from node_modules it cost ~2 ms of each start-up (resolving the package, compiling its two files
  // outside the code cache).
  // dist/'s URL is made once (pathToFileURL escapes what the install path needs); the file names after it are plain
  banner: {
    js: `let ${MODULE_URL}Dist; const ${MODULE_URL} = (path) => (${MODULE_URL}Dist ??= require('node:url').pathToFileURL(require('node:path').join(__dirname, '..')).href + '/') + path;`,
  },
  plugins: [keepModuleUrls, lazyBuiltins],
  logLevel: 'warning',
});

// The file is the bundle inside CommonJS' own wrapper, a function the launcher compiles and calls
// as Node's loader would (the launcher reads it as it is: a wrapper added there would copy all of
// it, and the copies cost a garbage collection at start-up). main.ts' hashbang goes, since it cannot
// stand inside a function, and the first line names the content, which the launcher checks a cache against.
const body = asciiOnly(withoutInterop((outputFiles?.[0]?.text ?? '').replace(/^#!.*\n/, '')));
// ("use strict" first: esbuild's own comes after the banner, where it is no directive)
const content = `(function (exports, require, module, __filename, __dirname) {\n"use strict";\n${body}\n})\n`;
const id = createHash('sha256').update(content).digest('hex');
await writeFile(outfile, `// portclash command line (scripts/build-cli.mjs), content ${id}\n${content}`);

// tsc writes the launcher without the mode a `bin` has; npm sets it on install, tests run it as it is
await chmod(launcher, 0o755);

// Caches of the bundle made before are for other content: the launcher would not use them.
const folder = dirname(outfile);
/** @param {string} name a file of dist/cli/ */
const isCodeCache = (name) => name.startsWith('bundle.cjs.') && name.endsWith('.cache');
for (const name of await readdir(folder)) {
  if (isCodeCache(name)) await rm(join(folder, name));
}
// The first run writes the code cache; then each everyday command adds the functions it compiled
// (check, who and info read this machine's tables for the port, and change nothing).
const TRAINING = [['--help'], ['check', '3000'], ['who', '3000'], ['info', '3000'], ['list', '--listening']];
for (const [index, args] of TRAINING.entries()) {
  const run = spawnSync(process.execPath, [launcher, ...args], {
    stdio: ['ignore', 'ignore', index === 0 ? 'inherit' : 'ignore'],
    env: { ...process.env, NODE_OPTIONS: '', PORTCLASH_TRAIN_CODE_CACHE: '1' },
    timeout: 30_000,
  });
  // the first must run; the others may fail where the tables cannot be read, and still add what they compiled
  if (index === 0 && run.status !== 0) throw new Error(`${launcher} --help exited ${run.status ?? run.signal}: the bundle does not run`);
}
const cache = (await readdir(folder)).filter(isCodeCache);
if (cache.length !== 1) throw new Error(`the runs of ${launcher} left ${cache.length} code caches, not one`);
