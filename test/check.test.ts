// `portclash check` and assertPortsFree as scripts and servers use them: verdicts, exit codes, JSON.
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { assertPortsFree, listSockets, PortclashError, PortNotFreeError, predictBind, type Prediction } from '../lib/index.js';
import { createChildCgroup, hasCgroup2 } from './helpers/cgroup.js';
import { CLI, runCli } from './helpers/cli.js';
import { compileHelper, createNetns, holdSockets, runCommand, runNodeInCgroup } from './helpers/holders.js';
import { portOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

const isRoot = process.getuid?.() === 0;
const cgroup2 = hasCgroup2();
// As root nothing skips: without a cgroup v2 hierarchy the cgroup-BPF tests fail, naming what is missing.
if (!isRoot) console.warn('check.test: tests with cgroup-BPF programs and namespaces need root and are skipped');

describe.runIf(process.platform === 'linux')('portclash check', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('says free, exit 0, with one JSON object for one port', async () => {
    const port = await unusedPort();
    const result = await runCli(['check', String(port), '--json']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const prediction = JSON.parse(result.stdout) as Prediction;
    expect(Object.keys(prediction)).toEqual(['port', 'host', 'protocol', 'verdict', 'errno', 'reason', 'conflicts', 'assumptions', 'warnings', 'source']);
    expect(prediction).toMatchObject({ port, host: '::', protocol: 'tcp', verdict: 'free', errno: null, conflicts: [] });
    // without CAP_NET_ADMIN (or cgroup v2) the cgroup-BPF programs cannot be counted, and the answer says so
    expect(prediction.assumptions).toEqual(isRoot && cgroup2 ? [] : [expect.stringMatching(/cgroup-BPF programs .* could not be counted/)]);
  });

  it('names who is in the way, exit 1', async () => {
    // alone on its port: a ::1 or UDP socket of another test sharing the number would be in the way too
    const server = await pool.listenAlone('0.0.0.0');
    const port = portOf(server);
    const human = await runCli(['check', String(port)]);
    expect(human.code).toBe(1);
    expect(human.stdout.split('\n')[0]).toMatch(new RegExp(`^${port}/tcp in use — .+ \\(pid ${process.pid}, user \\S+\\) listens on \\*:${port}$`));
    // the rest are warnings, at least that this port lies in the ephemeral range (the kernel chose it)
    const warnings = human.stdout.trimEnd().split('\n').slice(1);
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.every((line) => line.startsWith('  warning: '))).toBe(true);
    expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`^ {2}warning: ${port} lies inside the ephemeral range `)));

    const json = JSON.parse((await runCli(['check', String(port), '--json'])).stdout) as Prediction;
    expect(json).toMatchObject({
      verdict: 'in-use',
      errno: 'EADDRINUSE',
      conflicts: [expect.objectContaining({ localPort: port, state: 'LISTEN', owner: expect.objectContaining({ pid: process.pid }) })],
    });
    expect(json.reason).toMatch(/`::` without IPV6_V6ONLY also receives IPv4/);

    // options change the question: an IPv6-only socket does not meet an IPv4 listener
    expect((await runCli(['check', String(port), '--ipv6-only'])).code).toBe(0);
    expect((await runCli(['check', String(port), '--udp'])).code).toBe(0);
  });

  it('says unknown, exit 3, when a TIME_WAIT decides and its SO_REUSEADDR cannot be seen', async () => {
    const server = await pool.listen('127.0.0.1');
    // alone on its port: another connection from that port would decide the answer instead
    const clientPort = await pool.leaveTimeWaitAlone(server, '127.0.0.1');
    await waitFor(
      async () => (await listSockets({ port: clientPort })).find((socket) => socket.state === 'TIME_WAIT' && socket.remotePort === portOf(server)),
      'TIME_WAIT',
    );
    const result = await runCli(['check', String(clientPort), '--json']);
    expect(result.code).toBe(3);
    const prediction = JSON.parse(result.stdout) as Prediction;
    expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
    expect(prediction.assumptions[0]).toMatch(/TIME_WAIT socket keeps the options of the socket it came from/);
    const human = await runCli(['check', String(clientPort)]);
    expect(human.stdout.split('\n')[1]).toMatch(/^ {2}depends on: the SO_REUSEADDR of 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ \(TIME_WAIT\) cannot be seen/);
    // without SO_REUSEADDR the TIME_WAIT blocks whatever its options: a confident answer
    expect((await runCli(['check', String(clientPort), '--no-reuse-addr'])).code).toBe(1);
  });

  it('checks several ports and ranges, prints an array, and exits with the worst verdict', async () => {
    // three free ports in a row, the middle one then held by the test: every port asked about is the test's
    const free = await unusedPort({ run: 3 });
    const server = await pool.listen('0.0.0.0', { port: free + 1 });
    const result = await runCli(['check', String(free), `${free + 1}-${free + 2}`, '--json']);
    const predictions = JSON.parse(result.stdout) as Prediction[];
    expect(predictions.map((prediction) => [prediction.port, prediction.verdict])).toEqual([
      [free, 'free'],
      [free + 1, 'in-use'],
      [free + 2, 'free'],
    ]);
    expect(predictions[1]!.conflicts).toEqual([expect.objectContaining({ localPort: free + 1, owner: expect.objectContaining({ pid: process.pid }) })]);
    expect(result.code).toBe(1);
    const human = await runCli(['check', String(free), String(portOf(server))]);
    expect(
      human.stdout
        .trim()
        .split('\n')
        .filter((line) => !line.startsWith('  ')),
    ).toHaveLength(2);
  });

  it.each([
    [['check']],
    [['check', '70000']],
    [['check', 'abc']],
    [['check', '9-3']],
    [['check', '80', '--host', 'not-an-address!']],
    [['check', '80', '--reuse-addr', '--no-reuse-addr']],
    [['check', '80', '--bogus']],
    [['check', '1-65535']],
  ])('%j is a usage error, exit 2', async (args) => {
    const result = await runCli(args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(/^portclash: ERR_[A-Z_]+: .+\n$/);
  });
});

describe.runIf(process.platform === 'linux')('predictBinds', () => {
  it.runIf(isRoot)('answers many ports from one reading exactly as predictBind answers each', async () => {
    // In a namespace of the test's own, holding every socket on every port asked about (port 80 included),
    // so the answers are exact and no other process's socket is read.
    const netns = await createNetns();
    try {
      const script = `
        const net = require('node:net');
        const dgram = require('node:dgram');
        const { once } = require('node:events');
        import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then(async (portclash) => {
          const listen = async (port, host) => { const server = net.createServer().listen(port, host); await once(server, 'listening'); return server; };
          await listen(5001, '0.0.0.0');
          await listen(5002, '::1');
          const udp = dgram.createSocket('udp4');
          udp.bind(5003, '127.0.0.1');
          await once(udp, 'listening');
          // a TIME_WAIT on 5004: a client bound there connects to 5001 and closes first
          const client = net.connect({ port: 5001, host: '127.0.0.1', localAddress: '127.0.0.1', localPort: 5004 });
          await once(client, 'connect');
          client.end();
          await once(client, 'close');
          for (let tries = 0; ; tries++) {
            if ((await portclash.listSockets({ port: 5004 })).some((socket) => socket.state === 'TIME_WAIT')) break;
            if (tries === 100) throw new Error('no TIME_WAIT on 5004');
            await new Promise((resolve) => setImmediate(resolve));
          }
          const requests = [5001, 5002, 5003, 5004, 5005, 80].flatMap((port) => [
            { port },
            { port, host: '127.0.0.1', reuseAddr: false },
            { port, protocol: 'udp' },
            { port, host: '::', ipv6Only: true, listen: false },
          ]);
          const summary = (prediction) => [prediction.port, prediction.protocol, prediction.host, prediction.verdict, prediction.errno];
          const batched = (await portclash.predictBinds(requests)).map(summary);
          const single = [];
          for (const request of requests) single.push(summary(await portclash.predictBind(request)));
          console.log(JSON.stringify({ count: requests.length, batched, single }));
          process.exit(0);
        });`;
      const result = await netns.runNode(['-e', script], { timeoutMs: 20_000 });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const { count, batched, single } = JSON.parse(result.stdout) as { count: number; batched: unknown[][]; single: unknown[][] };
      expect(count).toBeGreaterThan(8); // the batched path
      expect(batched).toEqual(single);
      const verdictOf = (port: number, index: number) => batched[[5001, 5002, 5003, 5004, 5005, 80].indexOf(port) * 4 + index]?.[3];
      // listen(port) over each: the IPv4 listener and the ::1 one are in the way, the UDP socket is not;
      // the TIME_WAIT of a client without SO_REUSEADDR is unknown (its options cannot be seen); 5005 and 80 are free
      expect([5001, 5002, 5003, 5004, 5005, 80].map((port) => verdictOf(port, 0))).toEqual(['in-use', 'in-use', 'free', 'unknown', 'free', 'free']);
      expect([5001, 5002, 5003, 5004, 5005, 80].map((port) => verdictOf(port, 2))).toEqual(['free', 'free', 'in-use', 'free', 'free', 'free']);
    } finally {
      await netns.close();
    }
  });
});

describe.runIf(process.platform === 'linux')('host names', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it("stand for the first address they resolve to, which is what Node's listen() binds", async () => {
    const { address } = await lookup('localhost');
    const server = await pool.listenAlone(address);
    const port = portOf(server);
    const prediction = await predictBind({ port, host: 'localhost' });
    expect(prediction).toMatchObject({ host: address, verdict: 'in-use', errno: 'EADDRINUSE' });
    const second = pool.track(net.createServer());
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => second.once('error', resolve).listen(port, 'localhost'));
    expect(error.code).toBe(prediction.errno);

    const cli = await runCli(['check', String(port), '--host', 'localhost', '--json']);
    expect(cli.code).toBe(1);
    expect(JSON.parse(cli.stdout)).toMatchObject({ host: address, verdict: 'in-use' });
  });

  it('take a protocol per port: 5353/udp beside a TCP port', async () => {
    const udp = await pool.udpOn(await unusedPort(), '0.0.0.0');
    const held = (udp.address() as { port: number }).port;
    const result = await runCli(['check', `${held}/udp`, String(held), '--json']);
    const [onUdp, onTcp] = JSON.parse(result.stdout) as Prediction[];
    expect(onUdp).toMatchObject({ port: held, protocol: 'udp', verdict: 'in-use' });
    expect(onTcp).toMatchObject({ port: held, protocol: 'tcp', verdict: 'free' });
    expect(result.code).toBe(1);
  });

  it("read inet_aton's short IPv4 forms as getaddrinfo, and so Node's listen(), does", async () => {
    const port = await unusedPort();
    // Node's own reading: the address it listened on, or the one its bind failed on
    const NODE = `const s = require('node:net').createServer();
      s.on('error', (e) => console.log(e.address ?? e.code)).listen(Number(process.argv[1]), process.argv[2], () => { console.log(s.address().address); s.close(); })`;
    for (const host of ['0', '127.1', '0x7f.1', '0177.0.0.1', '1.2.3', '4294967295']) {
      const node = (await runCommand(process.execPath, ['-e', NODE, String(port), host])).stdout.trim();
      const prediction = await predictBind({ port, host });
      expect(prediction.host, host).toBe(node);
      expect(prediction.verdict, host).toBe(node === '1.2.0.3' ? 'unavailable' : 'free');
    }
  });

  it('are refused without a lookup when they are not host names, saying what they look like', async () => {
    await expect(predictBind({ port: 3000, host: 'not a host!' })).rejects.toMatchObject({ code: 'ERR_INVALID_HOST' });
    // what getaddrinfo would send to DNS as a name: digits are never a typo of a name
    await expect(predictBind({ port: 3000, host: '1.2.3.4.5' })).rejects.toMatchObject({
      code: 'ERR_INVALID_HOST',
      message: expect.stringContaining("inet_aton's short forms"),
    });
    await expect(predictBind({ port: 3000, host: '[::1]' })).rejects.toMatchObject({ message: expect.stringContaining('give it without them (::1)') });
    await expect(predictBind({ port: 3000, host: 'fe80::1%lo' })).rejects.toMatchObject({ message: expect.stringContaining('scoped IPv6 address') });
    const cli = await runCli(['check', '3000', '--host', 'ex ample']);
    expect(cli).toMatchObject({ code: 2, stdout: '' });
    expect(cli.stderr).toMatch(/^portclash: ERR_INVALID_HOST: "ex ample" is not an IPv4 or IPv6 address/);
  });
});

describe.runIf(process.platform === 'linux')('assertPortsFree', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('resolves for free ports and throws ERR_PORT_IN_USE with the prediction for taken ones', async () => {
    const free = await unusedPort();
    expect((await assertPortsFree([free, { port: free, protocol: 'udp' }])).map((prediction) => prediction.verdict)).toEqual(['free', 'free']);
    // alone on its port, so that the options read are of the test's own sockets only
    const server = await pool.listenAlone('::');
    await expect(assertPortsFree([free, portOf(server)])).rejects.toMatchObject({
      name: 'PortclashError',
      code: 'ERR_PORT_IN_USE',
      prediction: { port: portOf(server), verdict: 'in-use', errno: 'EADDRINUSE' },
    });
    const error = await assertPortsFree([portOf(server)]).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PortNotFreeError);
    expect(error).toBeInstanceOf(PortclashError);
  });

  it('predicts what server.listen(port) then really does', async () => {
    const server = await pool.listenAlone('::');
    const taken = await predictBind({ port: portOf(server) });
    expect(taken.verdict).toBe('in-use');
    const second = pool.track((await import('node:net')).createServer());
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => second.once('error', resolve).listen(portOf(server)));
    expect(error.code).toBe(taken.errno);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('portclash check under cgroup-BPF programs', () => {
  // listen() on the port in argv[1]; prints "listening" or the error's code
  const LISTEN = `require('node:net').createServer().on('error', (e) => { console.log(e.code); process.exit(1); })
    .listen(Number(process.argv[1]), '127.0.0.1', () => { console.log('listening'); process.exit(0); })`;

  it('says unknown, exit 3, where a program judges binds, which there do fail with EPERM', async () => {
    const cgroup = createChildCgroup();
    try {
      const port = await unusedPort();
      expect(await runCommand(compileHelper('bind_hook'), [cgroup.directory, String(port), 'refuse'])).toMatchObject({ code: 0, stderr: '' });
      const inside = (args: string[]) => runNodeInCgroup(cgroup.directory, args);

      const checked = await inside([CLI, 'check', String(port), '--host', '127.0.0.1', '--json']);
      expect(checked.code).toBe(3);
      const prediction = JSON.parse(checked.stdout) as Prediction;
      expect(prediction).toMatchObject({ verdict: 'unknown', errno: null, conflicts: [] });
      expect(prediction.reason).toMatch(/1 cgroup-BPF program judges socket\(\) and bind\(\) in cgroup \/(.+\/)?portclash-test-/);
      expect(prediction.assumptions).toEqual([expect.stringMatching(/may refuse the bind with EPERM/)]);
      // free would have been wrong: the kernel refuses the bind in that cgroup…
      expect(await inside(['-e', LISTEN, String(port)])).toMatchObject({ code: 1, stdout: 'EPERM\n' });
      // …and nowhere else, where nothing judges
      expect((await runCli(['check', String(port), '--host', '127.0.0.1'])).code).toBe(0);
      expect(await runCommand(process.execPath, ['-e', LISTEN, String(port)])).toMatchObject({ code: 0, stdout: 'listening\n' });
    } finally {
      cgroup.remove();
    }
  });

  it('says unknown, not denied, for a low port where a program may waive the privilege check', async () => {
    const cgroup = createChildCgroup();
    try {
      // a low port that really binds: nothing of anyone else's is on it to be read
      const port = await unusedPort({ privileged: true });
      expect(await runCommand(compileHelper('bind_hook'), [cgroup.directory, String(port), 'waive'])).toMatchObject({ code: 0, stderr: '' });
      // nobody, with CAP_NET_ADMIN (to count the programs) but not CAP_NET_BIND_SERVICE, in that cgroup
      const inside = (args: string[]) => {
        const caps = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=+net_admin', '--ambient-caps=+net_admin'];
        const wrapped = cgroup.wrap('setpriv', [...caps, process.execPath, ...args]);
        return runCommand(wrapped.command, wrapped.args);
      };

      const checked = await inside([CLI, 'check', String(port), '--host', '127.0.0.1', '--json']);
      expect(checked.code).toBe(3);
      const prediction = JSON.parse(checked.stdout) as Prediction;
      expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
      expect(prediction.reason).toMatch(/lacks CAP_NET_BIND_SERVICE .*, but 1 cgroup-BPF program judges socket\(\) and bind\(\)/);
      expect(prediction.assumptions).toEqual([expect.stringMatching(/may waive the privilege check .*: if none does, EACCES$/)]);
      // denied would have been wrong: the program lets this caller bind the low port
      expect(await inside(['-e', LISTEN, String(port)])).toMatchObject({ code: 0, stdout: 'listening\n' });
    } finally {
      cgroup.remove();
    }
  });

  it('keeps free for a caller who cannot count them, and says what it assumed', async () => {
    const port = await unusedPort();
    const asNobody = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'check', String(port), '--json']);
    expect(asNobody).toMatchObject({ code: 0, stderr: '' });
    const prediction = JSON.parse(asNobody.stdout) as Prediction;
    expect(prediction.verdict).toBe('free');
    expect(prediction.assumptions).toEqual([
      expect.stringMatching(/could not be counted \(counting them needs CAP_NET_ADMIN.*\): assumed that none refuses the bind$/),
    ]);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('the default host where disable_ipv6 took every IPv6 address away', () => {
  // server.listen(port) on the port in argv[1], as a server does; prints "listening" or the error's code
  const LISTEN_DEFAULT = `require('node:net').createServer().on('error', (e) => { console.log(e.code); process.exit(1); })
    .listen(Number(process.argv[1]), () => { console.log('listening'); process.exit(0); })`;

  it('is still ::, which Node binds there too, and so an IPv6-only listener is in the way', async () => {
    const netns = await createNetns();
    try {
      for (const scope of ['all', 'default', 'lo']) {
        expect(await netns.run('sysctl', ['-q', '-w', `net.ipv6.conf.${scope}.disable_ipv6=1`])).toMatchObject({ code: 0 });
      }
      const holder = await holdSockets([{ protocol: 'tcp', family: 6, address: '::', ipv6Only: true, listen: true }], { netns: netns.path });
      try {
        const port = holder.socket(0).localPort;
        const checked = await netns.runNode([CLI, 'check', String(port), '--json']);
        expect(checked.code).toBe(1);
        expect(JSON.parse(checked.stdout)).toMatchObject({ host: '::', verdict: 'in-use', errno: 'EADDRINUSE' });
        expect(await netns.runNode(['-e', LISTEN_DEFAULT, String(port)])).toMatchObject({ code: 1, stdout: 'EADDRINUSE\n' });
      } finally {
        await holder.close();
      }
    } finally {
      await netns.close();
    }
  });
});
