// check / predictBind / info warn when a NAT rule sends the port's packets elsewhere, naming the rule; in a network namespace of the test's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Prediction } from '../lib/index.js';
import { CLI } from './helpers/cli.js';
import { createNetns, holdSockets, loadRuleset, runCommand, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const hasNft = isRoot && (await runCommand('sh', ['-c', 'command -v nft && command -v setpriv'])).code === 0;
if (!isRoot) console.warn('predict-forwards.test: the rules are set in a network namespace, which needs root: skipped');
else if (!hasNft) console.warn('predict-forwards.test: nft or setpriv is missing (apt-get install nftables util-linux): skipped');

// Docker's shape: PREROUTING jumps to DOCKER, which DNATs; and a redirect of what this host sends
const RULESET = `table ip nat {
  chain PREROUTING { type nat hook prerouting priority dstnat; fib daddr type local jump DOCKER; }
  chain DOCKER { tcp dport 8080 dnat to 192.0.2.10:80 comment "web"; }
  chain OUTPUT { type nat hook output priority -100; tcp dport 9090 redirect to :9091; }
}`;

describe.runIf(isRoot && hasNft)('a prediction names the NAT rules that send its port elsewhere', () => {
  let netns: Netns;

  beforeAll(async () => {
    netns = await createNetns();
    const applied = await loadRuleset(netns, RULESET);
    expect(applied.stderr).toBe('');
  });
  afterAll(async () => {
    await netns?.close();
  });

  async function check(args: string[], expectedCode: number): Promise<Prediction | Prediction[]> {
    const result = await netns.runNode([CLI, 'check', ...args, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(expectedCode);
    return JSON.parse(result.stdout) as Prediction | Prediction[];
  }

  it('free, but what arrives for 8080 is DNATed: the warning names the rule, and `forwards` holds it', async () => {
    const prediction = (await check(['8080'], 0)) as Prediction;
    expect(prediction.verdict).toBe('free');
    expect(prediction.warnings).toContainEqual(
      expect.stringMatching(
        /^the bind succeeds, but tcp\/8080 arriving from the network is DNATed to 192\.0\.2\.10:80 by table ip nat chain PREROUTING > DOCKER, rule #\d+ \(docker, "web"\), when [^:]+: a server here never sees those packets$/,
      ),
    );
    expect(prediction.forwards).toMatchObject([
      { kind: 'dnat', hook: 'prerouting', target: { address: '192.0.2.10', port: 80 }, chain: 'DOCKER', owner: 'docker' },
    ]);
  });

  it('what this host sends to 9090 is redirected to 9091; 7000 has no rule and no warning of one', async () => {
    const redirected = (await check(['9090'], 0)) as Prediction;
    expect(redirected.warnings.join('\n')).toMatch(
      /tcp\/9090 sent by this host \(to itself too\) is redirected to this host:9091 by table ip nat chain OUTPUT/,
    );
    const plain = (await check(['7000'], 0)) as Prediction;
    expect(plain.forwards).toBeUndefined();
    expect(plain.warnings.some((warning) => warning.includes('NAT'))).toBe(false);
  });

  it('a range shares one reading of the rules and warns for the ports they cover only', async () => {
    const predictions = (await check(['8075-8085'], 0)) as Prediction[];
    expect(predictions).toHaveLength(11);
    for (const prediction of predictions) {
      expect(prediction.forwards !== undefined, String(prediction.port)).toBe(prediction.port === 8080);
    }
  });

  it('in use as well: the warning says so without "the bind succeeds"', async () => {
    const holder = await holdSockets([{ protocol: 'tcp', family: 4, address: '0.0.0.0', port: 8080, listen: true }], { netns: netns.path });
    try {
      const prediction = (await check(['8080'], 1)) as Prediction;
      expect(prediction.verdict).toBe('in-use');
      expect(prediction.warnings).toContainEqual(expect.stringMatching(/^tcp\/8080 arriving from the network is DNATed to 192\.0\.2\.10:80/));
    } finally {
      await holder.close();
    }
  });

  it('from outside, with --netns: forwards and check read the rules inside the namespace, as root', async () => {
    const listed = await runCommand(process.execPath, [CLI, 'forwards', '--netns', netns.path, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject({ complete: true, forwards: [{ chain: 'DOCKER' }, { chain: 'OUTPUT' }] });
    const checked = await runCommand(process.execPath, [CLI, 'check', '8080', '--netns', netns.path, '--json']);
    expect(checked.code, checked.stderr).toBe(0);
    expect((JSON.parse(checked.stdout) as Prediction).forwards).toMatchObject([{ chain: 'DOCKER', target: { address: '192.0.2.10', port: 80 } }]);
    // this namespace has no such rule
    const here = await runCommand(process.execPath, [CLI, 'check', '8080', '--json']);
    expect((JSON.parse(here.stdout) as Prediction).forwards).toBeUndefined();

    // nobody cannot enter it: the warning says why, and the verdict stands
    const unprivileged = await runCommand('setpriv', [...NOBODY, process.execPath, CLI, 'check', '8080', '--netns', netns.path, '--json']);
    const prediction = JSON.parse(unprivileged.stdout) as Prediction;
    expect(prediction.forwards).toBeUndefined();
    expect(prediction.warnings).toContainEqual(
      expect.stringMatching(
        /^the NAT rules that could send tcp\/8080 elsewhere were not read: the nftables ruleset of the network namespace .* could not be read: /,
      ),
    );
  });

  it('info shows it; without CAP_NET_ADMIN check says the rules were not read', async () => {
    const info = await netns.runNode([CLI, 'info', '8080']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toMatch(/warning: {4}the bind succeeds, but tcp\/8080 arriving from the network is DNATed to 192\.0\.2\.10:80/);

    const wrapped = netns.wrap('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'check', '8080', '--json']);
    const unprivileged = await runCommand(wrapped.command, wrapped.args);
    expect(unprivileged.code, unprivileged.stderr).toBe(0);
    const prediction = JSON.parse(unprivileged.stdout) as Prediction;
    expect(prediction.forwards).toBeUndefined();
    expect(prediction.warnings).toContainEqual(
      expect.stringMatching(/^the NAT rules that could send tcp\/8080 elsewhere were not read: .*EPERM.*CAP_NET_ADMIN/),
    );
  });
});
