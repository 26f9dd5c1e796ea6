// `npm run bench`: every measurement in one run, medians and ratios, on this machine.
// As root it re-runs itself in a network namespace of its own, so that the load it makes is
// the only thing in the tables and no other socket on the machine is touched.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { listSockets, listSocketsSync } from '../dist/index.js';
import { benchCrossing } from './crossing.js';
import { listSocketsJs } from './js-parser.js';
import { startLoad } from './load.js';
import { medianMs, medianMsAsync, printTable } from './stats.js';

const self = fileURLToPath(import.meta.url);
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const rssChild = fileURLToPath(new URL('./rss-child.js', import.meta.url));

if (process.getuid?.() === 0 && process.env.PORTCLASH_BENCH_NETNS === undefined) {
  const result = spawnSync('unshare', ['--net', '--', process.execPath, self, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, PORTCLASH_BENCH_NETNS: '1' },
  });
  process.exit(result.status ?? 1);
}

if (process.env.PORTCLASH_BENCH_NETNS === '1') {
  execFileSync('ip', ['link', 'set', 'lo', 'up']);
  // the load takes many ports; give it the whole unprivileged range in this namespace
  execFileSync('sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
}

const scales = (process.env.PORTCLASH_BENCH_SCALES ?? '1000,30000').split(',').map(Number);
console.log(`portclash bench — Node ${process.version}, ${process.platform}-${process.arch}, kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`);
console.log(process.env.PORTCLASH_BENCH_NETNS === '1' ? 'in a fresh network namespace' : 'in the current network namespace (not root)');

benchCrossing();

const spawnMs = (command, args) =>
  medianMs(() => {
    const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 30 });
    if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}`);
  }, { runs: 11 });

for (const scale of scales) {
  const load = await startLoad(scale);
  try {
    const counted = listSocketsSync().length;
    const jsCount = listSocketsJs().length;
    if (jsCount !== counted) throw new Error(`the JS parser saw ${jsCount} sockets, portclash ${counted}`);

    const rss = JSON.parse(execFileSync(process.execPath, [rssChild], { encoding: 'utf8' }));
    printTable(
      `~${scale} sockets (${load.held} held by the load, ${counted} in the tables)`,
      [
        ['cat /proc/net/tcp /proc/net/tcp6 (process)', spawnMs('cat', ['/proc/net/tcp', '/proc/net/tcp6'])],
        ['read() of tcp + tcp6 text, in-process', medianMs(() => (readFileSync('/proc/net/tcp'), readFileSync('/proc/net/tcp6')))],
        ['listSockets() in-process', await medianMsAsync(() => listSockets())],
        ['listSocketsSync() in-process', medianMs(() => listSocketsSync())],
        ['pure-JS parser in-process', medianMs(() => listSocketsJs())],
        ['portclash list --json (process)', spawnMs(process.execPath, [cli, 'list', '--json'])],
        ['ss -tuan (process)', spawnMs('ss', ['-tuan'])],
      ],
      'cat /proc/net/tcp /proc/net/tcp6 (process)',
    );
    console.log(`peak RSS growth of one listSockets() at ${rss.sockets} sockets: ${(rss.growthKb / 1024).toFixed(1)} MB (baseline ${(rss.baselineKb / 1024).toFixed(1)} MB)`);
  } finally {
    await load.stop();
  }
}
