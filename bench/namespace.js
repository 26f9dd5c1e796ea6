// As root, a benchmark runs in a network namespace of its own: the script starts itself again there, and sets it up once inside.
import { execFileSync, spawnSync } from 'node:child_process';

/** The variable that says the script already runs in its own namespace ('1'). */
const INSIDE = 'PORTCLASH_BENCH_NETNS';

/**
 * As root and not yet inside: runs the script at `self` again in a new network namespace, with the
 * same arguments, and exits with its status. Inside: brings `lo` up and gives the load the whole
 * unprivileged port range. Not root: nothing (the benchmark measures this namespace).
 * @param {string} self
 */
export function enterOwnNamespace(self) {
  if (process.getuid?.() === 0 && process.env[INSIDE] === undefined) {
    const result = spawnSync('unshare', ['--net', '--', process.execPath, self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, [INSIDE]: '1' },
    });
    process.exit(result.status ?? 1);
  }
  if (insideOwnNamespace()) {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    // the load takes many ports; give it the whole unprivileged range in this namespace
    execFileSync('sysctl', ['-q', '-w', 'net.ipv4.ip_local_port_range=1024 65535']);
  }
}

export function insideOwnNamespace() {
  return process.env[INSIDE] === '1';
}

/**
 * Runs the benchmark script at `path` to its end in a namespace of its own (as root; else here), away
 * from what the caller's namespace holds; throws when it fails.
 * @param {string} path
 */
export function runApart(path) {
  const { [INSIDE]: _inside, ...env } = process.env;
  const result = spawnSync(process.execPath, [path], { stdio: 'inherit', env });
  if (result.status !== 0) throw new Error(`${path} exited ${result.status ?? result.signal}`);
}
