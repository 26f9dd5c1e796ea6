// Bundles the command line: replaces tsc's dist/cli/main.js (the `bin`) with one file holding it and all it imports, which starts faster.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = resolve(root, 'dist/cli/main.js');
const outfile = entry;
// The first line after the hashbang; a dist/cli/main.js that has it is a bundle already, not tsc's output.
const MARK = '// portclash command line, bundled by scripts/build-cli.mjs from the modules of dist/';

if ((await readFile(entry, 'utf8')).includes(MARK)) {
  throw new Error(`${entry} is a bundle already: run \`npm run build:ts\`, which compiles dist/ afresh and then bundles it`);
}

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
  'node:worker_threads',
];

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
      const fromBundle = relative(dirname(outfile), path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(fromBundle.startsWith('.') ? fromBundle : `./${fromBundle}`)}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'js' };
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

await build({
  entryPoints: [entry],
  outfile,
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // node-gyp-build stays a dependency, required at run time from the package (binding.ts)
  packages: 'external',
  // the lazy modules' require(): the bundle is ESM, where Node defines none
  banner: { js: `${MARK}\nimport { createRequire as createBundleRequire } from 'node:module';\nconst require = createBundleRequire(import.meta.url);` },
  plugins: [keepModuleUrls, lazyBuiltins],
  logLevel: 'warning',
});
