// `check --probe` / `{ probe: true }`: an unknown settled by a trial bind with the asked options, and never anything else.
import { afterEach, describe, expect, it } from 'vitest';

import { listSockets, predictBind, predictBinds, type Prediction } from '../lib/index.js';
import { PROBE_CAVEAT } from '../lib/predict/probe.js';
import { createChildCgroup } from './helpers/cgroup.js';
import { CLI, runCli } from './helpers/cli.js';
import { compileHelper, runCommand, runNodeInCgroup } from './helpers/holders.js';
import { portOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('probe.test: the cgroup-BPF test needs root and is skipped');

// Node's listen() on a port, as a server would: prints 'listening' or the error's code
const LISTEN = `require('node:net').createServer().on('error', (e) => { console.log(e.code); process.exit(1); })
  .listen({ port: Number(process.argv[1]), host: process.argv[2] }, () => { console.log('listening'); process.exit(0); })`;

describe.runIf(process.platform === 'linux')('settling unknown with a trial bind', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  /** A port whose only socket is a TIME_WAIT left by a Node client: its SO_REUSEADDR cannot be seen, so the tables say unknown. */
  async function timeWaitPort(): Promise<number> {
    const server = await pool.listen('127.0.0.1');
    const port = await pool.leaveTimeWaitAlone(server, '127.0.0.1');
    await waitFor(
      async () => (await listSockets({ port })).find((socket) => socket.state === 'TIME_WAIT' && socket.remotePort === portOf(server)),
      'TIME_WAIT',
    );
    return port;
  }

  it('settles a TIME_WAIT unknown as the real listen() then finds it, and labels it a probe', async () => {
    const port = await timeWaitPort();
    const judged = await predictBind({ port });
    expect(judged).toMatchObject({ verdict: 'unknown', source: 'tables' });

    const probed = await predictBind({ port }, { probe: true });
    // the truth, asked right after: Node's own listen() on the same port and host
    const truth = await runCommand(process.execPath, ['-e', LISTEN, String(port), '::']);
    const failed = truth.stdout.trim() !== 'listening';
    expect(probed).toMatchObject({
      verdict: failed ? 'in-use' : 'free',
      errno: failed ? truth.stdout.trim() : null,
      source: 'probe',
      assumptions: [],
    });
    // the client that left it set no SO_REUSEADDR (libuv sets it on listeners only), so Linux refuses
    expect(truth.stdout.trim()).toBe('EADDRINUSE');
    expect(probed.reason).toMatch(/^a trial bind\(\) and listen\(\) with these options failed with EADDRINUSE; the tables alone could not tell: /);
    expect(probed.warnings).toContain(PROBE_CAVEAT);
    // the TIME_WAIT the tables saw is still named
    expect(probed.conflicts).toEqual([expect.objectContaining({ state: 'TIME_WAIT', localPort: port })]);
  });

  it('leaves a confident answer alone: a free port, and a held one, are not bound', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const held = portOf(server);
    const free = await unusedPort();
    const [onHeld, onFree] = await predictBinds([{ port: held }, { port: free }], { probe: true });
    expect(onHeld).toMatchObject({ verdict: 'in-use', source: 'tables' });
    expect(onFree).toMatchObject({ verdict: 'free', source: 'tables' });
    expect(onFree!.warnings).not.toContain(PROBE_CAVEAT);
  });

  it('declines, and says why, where Node cannot ask with the same options', async () => {
    const port = await timeWaitPort();
    const judged = await predictBind({ port, reusePort: true }, { probe: true });
    expect(judged).toMatchObject({ verdict: 'unknown', source: 'tables' });
    expect(judged.assumptions).toContain('not probed: a trial bind from Node 20 cannot set SO_REUSEPORT, so it cannot ask with these options');
  });

  it('check --probe prints the settled verdict, its exit code and the caveat; without it, unknown (exit 3)', async () => {
    const port = await timeWaitPort();
    expect((await runCli(['check', String(port)])).code).toBe(3);
    const json = await runCli(['check', String(port), '--probe', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout) as Prediction).toMatchObject({ verdict: 'in-use', errno: 'EADDRINUSE', source: 'probe' });
    const human = await runCli(['check', String(port), '--probe']);
    expect(human.code).toBe(1);
    const lines = human.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${port}/tcp in use — a trial bind\\(\\) and listen\\(\\) with these options failed with EADDRINUSE; `));
    expect(lines).toContain(`  warning: ${PROBE_CAVEAT}`);
  });

  it.runIf(isRoot)('settles a cgroup-BPF unknown as denied with EPERM, where the kernel refuses the bind', async () => {
    const cgroup = createChildCgroup();
    try {
      const port = await unusedPort();
      expect(await runCommand(compileHelper('bind_hook'), [cgroup.directory, String(port), 'refuse'])).toMatchObject({ code: 0, stderr: '' });
      const inside = (args: string[]) => runNodeInCgroup(cgroup.directory, args);
      const unknown = await inside([CLI, 'check', String(port), '--host', '127.0.0.1', '--json']);
      expect(unknown.code).toBe(3);
      const probed = await inside([CLI, 'check', String(port), '--host', '127.0.0.1', '--probe', '--json']);
      expect(probed.code).toBe(1);
      expect(JSON.parse(probed.stdout) as Prediction).toMatchObject({ verdict: 'denied', errno: 'EPERM', source: 'probe' });
      // the truth in that cgroup, and the port free again after the probe: outside it, a real listen succeeds
      expect(await inside(['-e', LISTEN, String(port), '127.0.0.1'])).toMatchObject({ code: 1, stdout: 'EPERM\n' });
      expect(await runCommand(process.execPath, ['-e', LISTEN, String(port), '127.0.0.1'])).toMatchObject({ code: 0, stdout: 'listening\n' });
    } finally {
      cgroup.remove();
    }
  });
});
