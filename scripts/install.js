// npm's install step: where portclash has a backend (Linux, Windows), load a prebuilt addon or build one
// (node-gyp-build); elsewhere (macOS, the BSDs) build nothing, since check, findFreePort and waitForPort work there by probing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const BACKENDS = ['linux', 'win32'];

if (BACKENDS.includes(process.platform)) {
  const require = createRequire(import.meta.url);
  const result = spawnSync(process.execPath, [require.resolve('node-gyp-build/bin.js')], { stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
} else {
  console.log(
    `portclash: no native backend for ${process.platform}; nothing to build. check, findFreePort and waitForPort will work by probing (trial binds); list and who need a backend.`,
  );
}
