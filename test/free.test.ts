// `portclash free` and freePort: end exactly the processes that hold a port, in a network namespace of the test's own, and nothing else.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';

import type { FreePlan, FreeResult } from '../lib/free.js';
import { createChildCgroup } from './helpers/cgroup.js';
import { CLI } from './helpers/cli.js';
import { createNetns, holdSockets, runCommand, type Holder, type Netns } from './helpers/holders.js';
import { waitFor } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('free.test: every test runs in a network namespace of its own, which needs root; skipped');

// A Node server that says 'ready' once listening; with `stubborn` it ignores SIGTERM.
const SERVER = `const stubborn = process.argv[2] === 'stubborn';
if (stubborn) process.on('SIGTERM', () => {});
require('node:net').createServer().listen(Number(process.argv[1]), '127.0.0.1', () => console.log('ready'));`;

/** Whether the process exists (and is not yet reaped: Node reaps its children as they exit). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.runIf(process.platform === 'linux' && isRoot)('portclash free', () => {
  let netns: Netns;
  const holders: Holder[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(holders.splice(0).map((holder) => holder.close()));
    await netns?.close();
  });

  async function hold(...specs: Parameters<typeof holdSockets>): Promise<Holder> {
    const holder = await holdSockets(specs[0], { netns: netns.path, ...specs[1] });
    holders.push(holder);
    return holder;
  }

  /** A Node server on 127.0.0.1:port inside the namespace, a child of this process. */
  async function serve(port: number, mode = ''): Promise<ChildProcess> {
    const wrapped = netns.wrap(process.execPath, ['-e', SERVER, String(port), mode]);
    const child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = (await once(createInterface({ input: child.stdout }), 'line', { signal: AbortSignal.timeout(10_000) })) as [string];
    expect(line).toBe('ready');
    return child;
  }

  const free = (args: string[]) => netns.runNode([CLI, 'free', ...args], { timeoutMs: 20_000 });

  it('ends exactly the listener of the port: not a client whose remote port it is, not 30001, and the port is released', async () => {
    netns = await createNetns();
    const listener = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 3000, listen: true }]);
    const neighbour = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 30001, listen: true }]);
    const client = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', connect: { address: '127.0.0.1', port: 3000 } }]);

    const result = await free(['3000', '--yes', '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const freed = JSON.parse(result.stdout) as FreeResult;
    expect(freed.holders.map((holder) => [holder.pid, holder.action])).toEqual([[listener.pid, 'end']]);
    expect(freed.outcomes).toEqual([{ pid: listener.pid, sent: ['SIGTERM'], result: 'exited' }]);
    expect(freed).toMatchObject({ freed: true, remaining: [], prediction: { verdict: expect.stringMatching(/^(free|unknown)$/) } });
    await waitFor(() => (alive(listener.pid) ? undefined : true), 'the listener to be reaped');
    expect(alive(neighbour.pid)).toBe(true);
    expect(alive(client.pid)).toBe(true);
    // the kernel agrees: a new server gets the port
    await serve(3000);
  });

  it('shows the holders and asks; without a terminal it refuses unless --yes, and signals nothing', async () => {
    netns = await createNetns();
    const listener = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 8080, listen: true }]);
    const refused = await free(['8080']);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toMatch(
      new RegExp(
        `^8080/tcp is held by:\\n  \\S*python3 \\S+hold_sockets\\.py .+ \\(pid ${listener.pid}, user root, since \\d\\d:\\d\\d\\)( ← [^\\n]+)?\\n    tcp 127\\.0\\.0\\.1:8080 LISTEN\\n    → will be sent SIGTERM\\n$`,
      ),
    );
    expect(refused.stderr).toBe('portclash: ERR_USAGE: refusing to end 1 process without a terminal to ask on: add --yes\n');
    const dry = await free(['8080', '--dry-run', '--json']);
    expect(dry.code).toBe(1);
    expect((JSON.parse(dry.stdout) as FreePlan).holders).toEqual([expect.objectContaining({ pid: listener.pid, action: 'end' })]);
    expect(alive(listener.pid)).toBe(true);
  });

  it('on a terminal, asks first: no signals nothing, yes ends it', async () => {
    netns = await createNetns();
    const listener = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 8081, listen: true }]);
    // script(1) gives the command a terminal; the answer is typed on its stdin
    const onTerminal = (answer: string) => {
      const command = [...netns.wrap(process.execPath, [CLI, 'free', '8081']).args].map((arg) => `'${arg}'`).join(' ');
      return runCommand('sh', ['-c', `printf '${answer}\\n' | script -qec "nsenter ${command}" /dev/null`], { timeoutMs: 20_000 });
    };
    const no = await onTerminal('n');
    expect(no.stdout).toMatch(/End 1 process with SIGTERM\? \[y\/N\] .*Nothing was signalled\./s);
    expect(alive(listener.pid)).toBe(true);
    const yes = await onTerminal('y');
    expect(yes.stdout).toMatch(new RegExp(`pid ${listener.pid}: sent SIGTERM; it exited\\.`));
    await waitFor(() => (alive(listener.pid) ? undefined : true), 'the listener to be reaped');
  });

  it('names the parents of a holder: this test process started the server', async () => {
    netns = await createNetns();
    const server = await serve(4000);
    const plan = JSON.parse((await free(['4000', '--dry-run', '--json'])).stdout) as FreePlan;
    expect(plan.holders[0]).toMatchObject({ pid: server.pid, action: 'end' });
    // nsenter execs node, so the server's parent is this vitest worker
    expect(plan.holders[0]!.parents[0]).toMatchObject({ pid: process.pid });
    const human = await free(['4000', '--dry-run']);
    expect(human.stdout.split('\n')[1]).toMatch(new RegExp(`\\(pid ${server.pid}, user root, since \\d\\d:\\d\\d\\) ← .+ \\(pid ${process.pid}\\)`));
  });

  it('leaves a systemd service to systemd: prints the command that stops it, and ends it only with --force', async () => {
    netns = await createNetns();
    const unit = `portclash-test-${process.pid}.service`;
    const cgroup = createChildCgroup(unit);
    try {
      const listener = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 9000, listen: true }], { cgroup: cgroup.directory });
      const left = await free(['9000', '--yes']);
      expect(left.code).toBe(1);
      expect(left.stdout).toContain(
        `→ not ended: it belongs to the systemd unit ${unit}, which may start it again (Restart=). To stop it for good: systemctl stop ${unit} (or --force)`,
      );
      expect(alive(listener.pid)).toBe(true);

      const forced = JSON.parse((await free(['9000', '--yes', '--force', '--json'])).stdout) as FreeResult;
      expect(forced).toMatchObject({ freed: true, outcomes: [{ pid: listener.pid, result: 'exited' }] });
      expect(forced.holders[0]!.reason).toBe(
        `will be sent SIGTERM, though it belongs to the systemd unit ${unit}, which may start it again (Restart=) (--force)`,
      );
      await holders.pop()!.close();
    } finally {
      cgroup.remove();
    }
  });

  it('leaves docker-proxy to Docker, naming the container address it forwards to', async () => {
    netns = await createNetns();
    // a Node server under docker-proxy's name (comm comes from the name exec'd), with its flags
    const directory = mkdtempSync(join(tmpdir(), 'portclash-proxy-'));
    try {
      const proxy = join(directory, 'docker-proxy');
      symlinkSync(process.execPath, proxy);
      const wrapped = netns.wrap(proxy, ['-e', SERVER, '8443', '', '-container-ip', '172.17.0.2', '-container-port', '443']);
      const child = spawn(wrapped.command, wrapped.args, { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      const [line] = (await once(createInterface({ input: child.stdout }), 'line', { signal: AbortSignal.timeout(10_000) })) as [string];
      expect(line).toBe('ready');
      const plan = JSON.parse((await free(['8443', '--yes', '--json'])).stdout) as FreePlan;
      expect(plan.holders).toEqual([
        expect.objectContaining({
          pid: child.pid,
          action: 'supervised',
          reason: 'docker-proxy forwards this port for a container (to 172.17.0.2:443): ending it frees nothing that matters, and Docker owns it',
          stopCommand: 'docker stop $(docker ps -q --filter publish=8443)',
        }),
      ]);
      expect(child.exitCode).toBe(null);
      // who names it for what it is
      const who = await netns.runNode([CLI, 'who', '8443', '--json']);
      expect(who.code, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout)).toMatchObject([
        { owner: { pid: child.pid, name: 'docker-proxy', role: "Docker's userland proxy for a published port: forwards to the container at 172.17.0.2:443" } },
      ]);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it("leaves another user's process alone unless --other-users, and never the kernel's own sockets", async () => {
    netns = await createNetns();
    const nobody = await hold([{ protocol: 'udp', family: 4, address: '127.0.0.1', port: 5353 }], { user: 'nobody' });
    const left = await free(['5353/udp', '--yes', '--json']);
    expect(left.code).toBe(1);
    const plan = JSON.parse(left.stdout) as FreePlan;
    expect(plan.holders).toEqual([
      expect.objectContaining({
        pid: nobody.pid,
        action: 'refused',
        reason: "it belongs to nobody: other users' processes are ended only when asked (--other-users)",
      }),
    ]);
    const ended = JSON.parse((await free(['5353/udp', '--yes', '--other-users', '--json'])).stdout) as FreeResult;
    expect(ended).toMatchObject({ freed: true, outcomes: [{ pid: nobody.pid, sent: ['SIGTERM'], result: 'exited' }] });

    // a TIME_WAIT is the kernel's: no process to end, and yet a bind may fail, so not exit 0
    await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 7000, selfConnect: 'serverTimeWait' }]);
    const timeWait = await free(['7000', '--yes']);
    expect(timeWait.code).toBe(1);
    expect(timeWait.stdout).toMatch(
      /^No process holds 7000\/tcp, but a new bind is not free: 7000\/tcp unknown — .+TIME_WAIT.+\n {2}a TIME_WAIT ends within 60 s .+: portclash wait 7000 --free\n$/,
    );
    // and nothing at all: exit 0
    expect(await free(['7001', '--yes'])).toMatchObject({ code: 0, stdout: 'Nothing holds 7001/tcp: no socket listens on it or is bound to it.\n' });
  });

  it('shows a client whose connection comes from the port, but does not end it: the port would stay taken', async () => {
    netns = await createNetns();
    const server = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 4000, listen: true }]);
    const client = await hold([{ protocol: 'tcp', family: 4, address: '127.0.0.1', port: 3000, connect: { address: '127.0.0.1', port: 4000 } }]);
    const result = await free(['3000', '--yes', '--json']);
    expect(result.code).toBe(1);
    const plan = JSON.parse(result.stdout) as FreePlan;
    expect(plan.holders).toEqual([
      expect.objectContaining({ pid: client.pid, action: 'refused', reason: expect.stringMatching(/^its sockets are connections from this port/) }),
    ]);
    expect(plan.prediction).toMatchObject({ verdict: 'in-use', errno: 'EADDRINUSE' });
    expect(alive(client.pid)).toBe(true);
    expect(alive(server.pid)).toBe(true);
  });

  it('waits for the port, then escalates to SIGKILL with --kill-after; without it, says the holder outlived the timeout', async () => {
    netns = await createNetns();
    const stubborn = await serve(6000, 'stubborn');
    const outlived = await free(['6000', '--yes', '--timeout', '300ms']);
    expect(outlived.code).toBe(1);
    expect(outlived.stdout).toMatch(
      new RegExp(`pid ${stubborn.pid}: sent SIGTERM; it is still running\\.\\n6000/tcp is still held: tcp 127\\.0\\.0\\.1:6000 LISTEN\\.\\n$`),
    );
    const killed = JSON.parse((await free(['6000', '--yes', '--timeout', '300ms', '--kill-after', '--json'])).stdout) as FreeResult;
    expect(killed).toMatchObject({ freed: true, outcomes: [{ pid: stubborn.pid, sent: ['SIGTERM', 'SIGKILL'], result: 'exited' }] });
    if (stubborn.exitCode === null && stubborn.signalCode === null) await once(stubborn, 'exit', { signal: AbortSignal.timeout(5000) });
    expect(stubborn.signalCode).toBe('SIGKILL');
  });

  it('refuses bad input with a usage error, before looking at any process', async () => {
    netns = await createNetns();
    expect(await free(['0', '--yes'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/ERR_INVALID_PORT: port 0 is no port to free/) });
    expect(await free(['70000'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/ERR_INVALID_PORT/) });
    expect(await free(['3000', '--signal', 'TERM!'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--signal must be a signal name/) });
    expect(await free(['3000', '--signal', 'STOP'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/signal must be a signal name that ends a process/),
    });
    expect(await free(['3000', '--signal', '9'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/a signal name that ends a process, .+ got "SIG9"/) });
    expect(await free(['3000', '3001'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/free takes one port/) });
  });
});
