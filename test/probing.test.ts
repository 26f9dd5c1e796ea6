// The probing backend (macOS, the BSDs), forced on Linux: check, findFreePort and waitForPort by trial binds; list and who refused.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import type { Prediction } from '../lib/index.js';
import { runCli } from './helpers/cli.js';
import { runCommand, type RunResult } from './helpers/holders.js';
import { portOf, SocketPool, unusedPort } from './helpers/sockets.js';

const PROBING = { PORTCLASH_BACKEND: 'probing' };
const probing = (args: string[], timeoutMs?: number) => runCli(args, timeoutMs, PROBING);
const INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));
const INSTALL = fileURLToPath(new URL('../scripts/install.js', import.meta.url));
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('probing.test: the low-port test runs as nobody through setpriv, which needs root, and is skipped');

/** Runs an ES module body in a child with the probing backend forced; `portclash` is the built library. */
function probingScript(body: string): Promise<RunResult> {
  return runCommand(
    'env',
    ['PORTCLASH_BACKEND=probing', process.execPath, '--input-type=module', '-e', `import * as portclash from ${JSON.stringify(INDEX)};\n${body}`],
    {
      timeoutMs: 15_000,
    },
  );
}

describe.runIf(process.platform === 'linux')('the probing backend, forced with PORTCLASH_BACKEND=probing', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('check: in use where a listener holds the port, free where nothing does, each a trial bind that says so', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const held = portOf(server);
    const result = await probing(['check', String(held), '--json']);
    expect(result).toMatchObject({ code: 1, stderr: '' });
    // Node's default host, ::, takes IPv4 too, so the 127.0.0.1 listener is in its way
    expect(JSON.parse(result.stdout) as Prediction).toMatchObject({ host: '::', verdict: 'in-use', errno: 'EADDRINUSE', source: 'probe', conflicts: [] });
    const human = await probing(['check', String(held), '--host', '127.0.0.1']);
    expect(human.code).toBe(1);
    expect(human.stdout.split('\n')[0]).toBe(
      `${held}/tcp in use — a trial bind() and listen() with these options failed with EADDRINUSE; portclash reads no socket tables on linux, so the holder of a port cannot be named there`,
    );

    const free = await unusedPort();
    const onFree = await probing(['check', String(free), '--json']);
    expect(onFree.code).toBe(0);
    expect(JSON.parse(onFree.stdout) as Prediction).toMatchObject({ verdict: 'free', source: 'probe' });
    // the probe let go of it: a real server gets the port
    await pool.listen('::', { port: free });
  });

  it.runIf(isRoot)('check: denied (EACCES) for a low port asked by a user without the privilege, as the kernel answers', async () => {
    const port = await unusedPort({ privileged: true });
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', 'PORTCLASH_BACKEND=probing', process.execPath];
    const checked = await runCommand('setpriv', [
      ...asNobody,
      fileURLToPath(new URL('../dist/cli/launcher.cjs', import.meta.url)),
      'check',
      String(port),
      '--json',
    ]);
    const prediction = JSON.parse(checked.stdout) as Prediction;
    const truth = await runCommand('setpriv', [
      ...asNobody,
      '-e',
      `require('node:net').createServer().on('error', (e) => { console.log(e.code); process.exit(1); }).listen(${port}, () => process.exit(0))`,
    ]);
    expect(truth).toMatchObject({ code: 1, stdout: 'EACCES\n' });
    expect(checked.code).toBe(1);
    expect(prediction).toMatchObject({ verdict: 'denied', errno: 'EACCES', source: 'probe' });
  });

  it('list, who, info and ephemeral fail with ERR_UNSUPPORTED_PLATFORM (exit 4), saying what works', async () => {
    for (const args of [['list'], ['who', '3000'], ['ephemeral']]) {
      const result = await probing(args);
      expect(result.code, args.join(' ')).toBe(4);
      expect(result.stderr).toMatch(
        /^portclash: ERR_UNSUPPORTED_PLATFORM: .+ needs the kernel's socket tables and process list, which the probing backend \(PORTCLASH_BACKEND=probing\) does not read; check, findFreePort and waitForPort work here by probing\n$/,
      );
    }
    const library = await probingScript(
      'for (const call of [() => portclash.listSockets(), () => portclash.findOwners([])]) await call().catch((error) => console.log(error.code));',
    );
    expect(library).toMatchObject({ code: 0, stdout: 'ERR_UNSUPPORTED_PLATFORM\nERR_UNSUPPORTED_PLATFORM\n' });
  });

  it('findFreePorts and reservePort: ports a real listen() then gets, outside the assumed ephemeral range', async () => {
    const found = await probingScript(`
      const ports = await portclash.findFreePorts(3, { range: [20000, 40000] });
      const reserved = await portclash.reservePort({ host: '127.0.0.1' });
      const facts = portclash.readSystemFacts();
      console.log(JSON.stringify({ ports, reserved: reserved.port, facts }));
      await reserved.close();`);
    expect(found).toMatchObject({ code: 0, stderr: '' });
    const { ports, reserved, facts } = JSON.parse(found.stdout) as { ports: number[]; reserved: number; facts: { kernel: string; ephemeralRange: number[] } };
    expect(facts).toMatchObject({ kernel: 'probing', ephemeralRange: [49152, 65535] });
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) expect(port >= 20000 && port <= 40000).toBe(true);
    expect(reserved < 49152).toBe(true);
    for (const port of [...ports, reserved]) await pool.listen('::', { port });
  });

  it('wait: a TCP listener counts once it accepts a connection; --free once a trial bind succeeds; UDP is refused', async () => {
    const port = await unusedPort();
    const waiting = probing(['wait', String(port), '--timeout', '10s', '--json'], 15_000);
    // the server comes while the waiter looks, or before its first look: either way it must see it
    const server = await pool.listen('127.0.0.1', { port });
    const waited = await waiting;
    expect(waited).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(waited.stdout)).toMatchObject({ until: 'listening', port, listeners: [], source: 'connect', connectedTo: '127.0.0.1' });

    const freeing = probing(['wait', String(port), '--free', '--timeout', '10s'], 15_000);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await freeing).toMatchObject({ code: 0, stdout: `${port}/tcp free\n` });

    const timedOut = await probing(['wait', String(port), '--timeout', '300ms']);
    expect(timedOut.code).toBe(5);
    expect(timedOut.stderr).toMatch(
      new RegExp(`^portclash: ERR_TIMEOUT: nothing accepted a connection to ${port}/tcp within 300 ms \\(127\\.0\\.0\\.1: ECONNREFUSED, ::1: ECONNREFUSED\\)`),
    );
    const udp = await probing(['wait', `${port}/udp`, '--timeout', '1s']);
    expect(udp.code).toBe(4);
    expect(udp.stderr).toMatch(/ERR_UNSUPPORTED_PLATFORM: waiting for a UDP socket to be bound/);
  });

  it('an unknown PORTCLASH_BACKEND is an error, not a silent choice', async () => {
    const result = await runCli(['check', '3000'], undefined, { PORTCLASH_BACKEND: 'darwin' });
    // a usage error, as a bad option is
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/ERR_INVALID_ARGUMENT: PORTCLASH_BACKEND may only be 'probing' \(or unset\), got "darwin"/);
  });

  it('npm install builds nothing where there is no backend, and says what works', async () => {
    // process.platform as macOS reports it, set before the install script runs
    const darwin = 'data:text/javascript,Object.defineProperty(process, "platform", { value: "darwin" })';
    const { code, stdout } = await runCommand(process.execPath, ['--import', darwin, INSTALL]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^portclash: no native backend for darwin; nothing to build\. check, findFreePort and waitForPort will work by probing/);
  });
});
