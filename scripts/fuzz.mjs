// `npm run fuzz`: builds the libFuzzer targets with clang from native/*.cc, replays kept crashers and seeds, then fuzzes each target for a bounded time.
//
// FUZZ_SECONDS (default 60) is the time each target gets; FUZZ_TARGETS (comma-separated) picks
// some. Targets run one after another on one core (-jobs=1 -workers=1). A crash, a broken
// invariant or a leak is written to fuzz/crashers/<target>/ and the script exits 1. Binaries, the
// corpus the fuzzers grow and their logs live in .cache/fuzz/ (not committed); the seeds the
// corpus starts from are fuzz/corpus/<target>/.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cache = join(root, '.cache', 'fuzz');
const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
const clang = process.env.CLANGXX ?? 'clang++';

/** @type {{ name: string, sources: string[], kind: 'libfuzzer' | 'node' }[]} */
const targets = [
  // the /proc/net line parser and the read loop around it (native/linux_parsers.h)
  { name: 'proc_table', sources: ['fuzz/fuzz_proc_table.cc', 'native/linux_proc.cc'], kind: 'libfuzzer' },
  // ParseDiagDatagram, and through it ParseSocketMessage
  { name: 'diag_reply', sources: ['fuzz/fuzz_diag_reply.cc', 'native/linux_diag.cc', 'native/linux_netlink.cc'], kind: 'libfuzzer' },
  // parseServices (lib/services.ts), through dist/, with fast-check
  { name: 'services', sources: [], kind: 'node' },
];
const wanted = process.env.FUZZ_TARGETS?.split(',');
const chosen = targets.filter((target) => wanted === undefined || wanted.includes(target.name));

/**
 * @param {string} command
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [options]
 */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** @param {string} dir */
function files(dir) {
  return existsSync(dir) ? readdirSync(dir).map((name) => join(dir, name)) : [];
}

// The runtime comes with clang's compiler-rt (Debian: libclang-rt-14-dev), not with clang itself.
if (chosen.some((target) => target.kind === 'libfuzzer')) {
  if (spawnSync(clang, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.error(`fuzz: ${clang} not found. On Debian: apt-get install --no-install-recommends clang libclang-rt-14-dev`);
    process.exit(2);
  }
}
if (chosen.some((target) => target.kind === 'node') && !existsSync(join(root, 'dist', 'services.js'))) {
  run('npm', ['run', 'build:ts']);
}

let failed = false;
for (const target of chosen) {
  const crashers = join(root, 'fuzz', 'crashers', target.name);
  const seeds = join(root, 'fuzz', 'corpus', target.name);
  const grown = join(cache, 'corpus', target.name);
  const logs = join(cache, 'logs', target.name);
  for (const dir of [crashers, grown, logs]) mkdirSync(dir, { recursive: true });
  const before = new Set(readdirSync(crashers));

  let status;
  if (target.kind === 'node') {
    // fast-check replays nothing by itself: the replay is test/fuzz-replay.test.ts
    status = run('node', [join(root, 'fuzz', 'fuzz_services.mjs'), String(seconds), crashers, seeds]);
  } else {
    const binary = join(cache, 'bin', `fuzz_${target.name}`);
    mkdirSync(join(cache, 'bin'), { recursive: true });
    // the addon's own flags (binding.gyp), with the sanitizers and libFuzzer's main
    const flags = ['-std=c++17', '-g', '-O1', '-fno-omit-frame-pointer', '-pthread', '-Wall', '-Wextra'];
    const sanitizers = ['-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined'];
    if (run(clang, [...flags, ...sanitizers, ...target.sources, '-o', binary]) !== 0) {
      console.error(`fuzz: building ${target.name} failed (is libclang-rt-14-dev installed?)`);
      process.exit(2);
    }
    // every kept crasher and seed once: a crash fixed stays fixed
    const replay = [...files(crashers), ...files(seeds)];
    status = replay.length > 0 ? run(binary, ['-runs=0', ...replay]) : 0;
    if (status === 0) {
      status = run(
        binary,
        [
          '-jobs=1',
          '-workers=1',
          `-max_total_time=${seconds}`,
          '-max_len=8192',
          '-timeout=10',
          '-print_final_stats=1',
          `-artifact_prefix=${crashers}/`,
          grown,
          seeds,
        ],
        // with -jobs, libFuzzer writes the run's output to fuzz-0.log in its working directory
        { cwd: logs },
      );
      const log = join(logs, 'fuzz-0.log');
      if (existsSync(log)) {
        const lines = readFileSync(log, 'utf8').trimEnd().split('\n');
        // the final coverage line (DONE, or where it stopped) and the run's statistics
        const stats = lines.filter((line) => line.startsWith('stat::') || line.includes('DONE'));
        console.log(`fuzz_${target.name}:\n  ${(stats.length > 0 ? stats : lines.slice(-5)).join('\n  ')}`);
      }
    }
  }
  const found = readdirSync(crashers).filter((name) => !before.has(name));
  if (status !== 0 || found.length > 0) {
    failed = true;
    console.error(`fuzz: ${target.name} found ${found.length > 0 ? found.join(', ') : 'a failure'} (in ${crashers})`);
  }
}
process.exit(failed ? 1 : 0);
