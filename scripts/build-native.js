// The addon's build for the inner loop: node-gyp configure only when there is nothing configured yet or it is stale, then make,
// which recompiles only the sources whose own text, included headers or compiler flags changed.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

process.chdir(fileURLToPath(new URL('..', import.meta.url)));
const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

/** @param {string} path */
function modifiedMs(path) {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? null;
}

/** Why build/ must be configured again, or null when make alone can bring it up to date. */
function whyConfigure() {
  const configured = modifiedMs('build/config.gypi');
  if (configured === null || modifiedMs('build/Makefile') === null) return 'build/ is not configured';
  if ((modifiedMs('binding.gyp') ?? 0) > configured) return 'binding.gyp changed';
  // build/config.gypi names the Node whose headers it builds against: another Node needs its own
  const recorded = /"node_module_version": (\d+)/.exec(readFileSync('build/config.gypi', 'utf8'))?.[1];
  if (recorded !== process.versions.modules) return `build/ was configured for another Node (module version ${recorded ?? 'unknown'})`;
  return null;
}

/** @param {...string} args */
function nodeGypRun(...args) {
  const result = spawnSync(process.execPath, [nodeGyp, ...args], { stdio: 'inherit' });
  if (result.error !== undefined) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const reason = whyConfigure();
if (reason !== null) {
  console.log(`build-native: ${reason}: node-gyp configure`);
  nodeGypRun('configure');
}
nodeGypRun('build', '--jobs', 'max');
