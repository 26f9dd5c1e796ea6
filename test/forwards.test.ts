// findForwards and `portclash forwards` against real rulesets (nft, iptables-nft, iptables-legacy), each in a network namespace of the test's own.
import { afterEach, describe, expect, it } from 'vitest';

import type { ForwardsReport, NatForward } from '../lib/forwards.js';
import { CLI } from './helpers/cli.js';
import { createNetns, loadRuleset, runCommand, type Netns } from './helpers/holders.js';

const isRoot = process.getuid?.() === 0;
const hasTools = async (): Promise<boolean> => {
  const found = await Promise.all(
    ['nft', 'iptables-nft', 'iptables-legacy', 'setpriv'].map((tool) => runCommand('sh', ['-c', `command -v ${tool}`]).then((result) => result.code === 0)),
  );
  return found.every(Boolean);
};
const toolsPresent = process.platform === 'linux' && isRoot ? await hasTools() : false;
if (!isRoot) console.warn('forwards.test: the rulesets are made in network namespaces, which needs root: skipped');
else if (!toolsPresent)
  console.warn('forwards.test: nft, iptables-nft, iptables-legacy or setpriv is missing (apt-get install nftables iptables util-linux): skipped');

describe.runIf(process.platform === 'linux' && isRoot && toolsPresent)('forwards in a namespace of the test', () => {
  let netns: Netns | undefined;
  afterEach(async () => {
    await netns?.close();
    netns = undefined;
  });

  async function namespaceWith(ruleset: string): Promise<Netns> {
    netns = await createNetns();
    if (ruleset !== '') {
      const applied = await loadRuleset(netns, ruleset);
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
    }
    return netns;
  }

  async function forwards(inside: Netns, args: string[] = [], expectedCode = 0): Promise<ForwardsReport<NatForward>> {
    const result = await inside.runNode([CLI, 'forwards', '--json', ...args]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(expectedCode);
    return JSON.parse(result.stdout) as ForwardsReport<NatForward>;
  }

  const only = (report: ForwardsReport<NatForward>): NatForward => {
    expect(report).toMatchObject({ unknown: [], complete: true });
    expect(report.forwards).toHaveLength(1);
    return report.forwards[0]!;
  };

  it('finds a DNAT on a literal port, with its comment, and filters by port and protocol', async () => {
    const inside = await namespaceWith(`table ip edge {
      chain pre { type nat hook prerouting priority dstnat; tcp dport 8080 dnat to 192.0.2.10:80 comment "to the backend"; }
    }
    table inet filter {
      set blocked { type ipv4_addr; elements = { 192.0.2.99 }; }
      chain input { type filter hook input priority 0; ip saddr @blocked drop; tcp dport 8080 accept; }
    }`);
    expect(only(await forwards(inside))).toEqual({
      kind: 'dnat',
      protocol: 'tcp',
      family: 'IPv4',
      ports: [[8080, 8080]],
      hook: 'prerouting',
      target: { address: '192.0.2.10', port: 80 },
      tableFamily: 'ip',
      table: 'edge',
      chain: 'pre',
      path: ['pre'],
      handle: expect.any(Number) as number,
      comment: 'to the backend',
      owner: null,
      conditions: [],
    });
    expect(only(await forwards(inside, ['--port', '8080', '--tcp']))).toMatchObject({ ports: [[8080, 8080]] });
    expect(await forwards(inside, ['--port', '8081'], 1)).toEqual({ forwards: [], unknown: [], complete: true });
    expect(await forwards(inside, ['--port', '8080', '--udp'], 1)).toEqual({ forwards: [], unknown: [], complete: true });

    const human = await inside.runNode([CLI, 'forwards', '--port', '8080']);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toMatch(/^tcp +8080 +prerouting +dnat +192\.0\.2\.10:80 +ip edge pre #\d+ +"to the backend"$/m);
  });

  it('finds a DNAT on a port range, and on the complement of one', async () => {
    const inside = await namespaceWith(`table ip edge {
      chain pre {
        type nat hook prerouting priority dstnat;
        udp dport 9000-9010 dnat to 192.0.2.20;
        tcp dport != 1-60000 dnat to 192.0.2.21:443;
      }
    }`);
    const report = await forwards(inside);
    expect(report).toMatchObject({ unknown: [], complete: true });
    expect(report.forwards.map(({ protocol, ports, target }) => ({ protocol, ports, target }))).toEqual([
      { protocol: 'udp', ports: [[9000, 9010]], target: { address: '192.0.2.20' } },
      {
        protocol: 'tcp',
        ports: [
          [0, 0],
          [60001, 65535],
        ],
        target: { address: '192.0.2.21', port: 443 },
      },
    ]);
    expect((await forwards(inside, ['--port', '9005', '--udp'])).forwards).toHaveLength(1);
    expect((await forwards(inside, ['--port', '9011'], 1)).forwards).toEqual([]);
  });

  it('finds DNATs on a named set, an interval set and an anonymous set', async () => {
    const inside = await namespaceWith(`table ip edge {
      set web { type inet_service; elements = { 8081, 8082 }; }
      set high { type inet_service; flags interval; elements = { 30000-30100, 31000 }; }
      chain pre {
        type nat hook prerouting priority dstnat;
        tcp dport @web dnat to 192.0.2.30:80;
        tcp dport @high dnat to 192.0.2.31;
        tcp dport { 7001, 7003 } dnat to 192.0.2.32;
      }
    }`);
    const report = await forwards(inside);
    expect(report).toMatchObject({ unknown: [], complete: true });
    expect(report.forwards.map(({ ports, target }) => ({ ports, address: target.address }))).toEqual([
      { ports: [[8081, 8082]], address: '192.0.2.30' },
      {
        ports: [
          [30000, 30100],
          [31000, 31000],
        ],
        address: '192.0.2.31',
      },
      {
        ports: [
          [7001, 7001],
          [7003, 7003],
        ],
        address: '192.0.2.32',
      },
    ]);
    expect((await forwards(inside, ['--port', '7002'], 1)).forwards).toEqual([]);
    expect((await forwards(inside, ['--port', '30050'])).forwards.map((forward) => forward.target.address)).toEqual(['192.0.2.31']);
  });

  it('finds a redirect in output, of both families in an inet table', async () => {
    const inside = await namespaceWith(`table inet local {
      chain out { type nat hook output priority -100; tcp dport 5432 redirect to :6432; }
    }`);
    const report = await forwards(inside, ['--port', '5432']);
    expect(report).toMatchObject({ unknown: [], complete: true });
    expect(report.forwards.map(({ kind, family, hook, target, tableFamily }) => ({ kind, family, hook, target, tableFamily }))).toEqual([
      { kind: 'redirect', family: 'IPv4', hook: 'output', target: { port: 6432 }, tableFamily: 'inet' },
      { kind: 'redirect', family: 'IPv6', hook: 'output', target: { port: 6432 }, tableFamily: 'inet' },
    ]);
  });

  it('follows jumps (PREROUTING to DOCKER, as Docker without userland-proxy), keeps their conditions and names the owner', async () => {
    const inside = await namespaceWith(`table ip nat {
      chain PREROUTING { type nat hook prerouting priority dstnat; fib daddr type local jump DOCKER; }
      chain OUTPUT { type nat hook output priority -100; ip daddr != 127.0.0.0/8 fib daddr type local jump DOCKER; }
      chain DOCKER {
        iifname "docker0" return;
        iifname != "docker0" tcp dport 8080 dnat to 192.0.2.40:80;
      }
    }`);
    const report = await forwards(inside);
    expect(report).toMatchObject({ unknown: [], complete: true });
    expect(report.forwards.map(({ hook, path, chain, owner, target }) => ({ hook, path, chain, owner, target }))).toEqual([
      { hook: 'prerouting', path: ['PREROUTING', 'DOCKER'], chain: 'DOCKER', owner: 'docker', target: { address: '192.0.2.40', port: 80 } },
      { hook: 'output', path: ['OUTPUT', 'DOCKER'], chain: 'DOCKER', owner: 'docker', target: { address: '192.0.2.40', port: 80 } },
    ]);
    expect(report.forwards[0]!.conditions).toEqual(['fib daddr type == local', 'meta iifname != "docker0"']);
  });

  it('decodes an iptables-nft DNAT rule, whose target is an xt compat expression', async () => {
    const inside = await namespaceWith('');
    const added = await inside.run('iptables-nft', [
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-p',
      'tcp',
      '--dport',
      '8090',
      '-m',
      'comment',
      '--comment',
      'legacy app',
      '-j',
      'DNAT',
      '--to-destination',
      '192.0.2.50:80',
    ]);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    expect(only(await forwards(inside, ['--port', '8090']))).toMatchObject({
      kind: 'dnat',
      protocol: 'tcp',
      ports: [[8090, 8090]],
      target: { address: '192.0.2.50', port: 80 },
      tableFamily: 'ip',
      table: 'nat',
      chain: 'PREROUTING',
      comment: 'legacy app',
    });
  });

  it('reports a rule it cannot interpret (a dnat from a map) as one that may redirect, not as nothing, and only where its matches allow', async () => {
    const inside = await namespaceWith(`table ip edge {
      chain pre { type nat hook prerouting priority dstnat; dnat to tcp dport map { 8443 : 192.0.2.60 }; }
    }`);
    const report = await forwards(inside, [], 3);
    expect(report.forwards).toEqual([]);
    expect(report.complete).toBe(false);
    expect(report.unknown).toEqual([
      expect.objectContaining({
        source: 'rule',
        table: 'edge',
        chain: 'pre',
        path: ['pre'],
        reason: expect.stringMatching(/its address comes from map @__map0/) as string,
      }),
    ]);
    // `tcp dport map`: the rule matches TCP only, so a UDP question is answered in full
    expect(await forwards(inside, ['--udp'], 1)).toEqual({ forwards: [], unknown: [], complete: true });
    const human = await inside.runNode([CLI, 'forwards']);
    expect(human.code).toBe(3);
    expect(human.stdout).toMatch(/May also forward/);
  });

  it('follows verdict maps, concatenated keys included (kube-proxy in nftables mode)', async () => {
    const inside = await namespaceWith(`table ip kube-proxy {
      map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; elements = { 192.0.2.200 . tcp . 80 : goto service-web }; }
      map service-nodeports { type inet_proto . inet_service : verdict; elements = { tcp . 30080 : goto external-web, udp . 30053 : drop }; }
      chain nat-prerouting { type nat hook prerouting priority dstnat; jump services; }
      chain services {
        ip daddr . meta l4proto . th dport vmap @service-ips;
        fib daddr type local jump nodeports;
      }
      chain nodeports { meta l4proto . th dport vmap @service-nodeports; }
      chain mark-for-masquerade { meta mark set meta mark or 0x4000; }
      chain external-web { jump mark-for-masquerade; goto service-web; }
      chain service-web { numgen random mod 2 vmap { 0 : goto endpoint-a, 1 : goto endpoint-b }; }
      chain endpoint-a { meta l4proto tcp dnat to 192.0.2.11:8080; }
      chain endpoint-b { meta l4proto tcp dnat to 192.0.2.12:8080; }
    }`);
    const report = await forwards(inside);
    expect(report).toMatchObject({ unknown: [], complete: true });
    // a hash map's elements come in the kernel's order: sorted here by path
    const summary = report.forwards
      .map(({ protocol, ports, target, path, owner, conditions }) => ({ protocol, ports, address: target.address, path: path.join('>'), owner, conditions }))
      .sort((a, b) => a.path.localeCompare(b.path));
    // numgen's value is the register's bytes, in the host's order
    expect(summary).toEqual([
      {
        protocol: 'tcp',
        ports: [[30080, 30080]],
        address: '192.0.2.11',
        path: 'nat-prerouting>services>nodeports>external-web>service-web>endpoint-a',
        owner: 'kubernetes',
        conditions: ['fib daddr type == local', 'numgen == 0x00000000 (@__map0)'],
      },
      {
        protocol: 'tcp',
        ports: [[30080, 30080]],
        address: '192.0.2.12',
        path: 'nat-prerouting>services>nodeports>external-web>service-web>endpoint-b',
        owner: 'kubernetes',
        conditions: ['fib daddr type == local', 'numgen == 0x01000000 (@__map0)'],
      },
      {
        protocol: 'tcp',
        ports: [[80, 80]],
        address: '192.0.2.11',
        path: 'nat-prerouting>services>service-web>endpoint-a',
        owner: 'kubernetes',
        conditions: ['ip daddr == 192.0.2.200 (@service-ips)', 'numgen == 0x00000000 (@__map0)'],
      },
      {
        protocol: 'tcp',
        ports: [[80, 80]],
        address: '192.0.2.12',
        path: 'nat-prerouting>services>service-web>endpoint-b',
        owner: 'kubernetes',
        conditions: ['ip daddr == 192.0.2.200 (@service-ips)', 'numgen == 0x01000000 (@__map0)'],
      },
    ]);
    expect(await forwards(inside, ['--port', '30053'], 1)).toEqual({ forwards: [], unknown: [], complete: true });
  });

  it('follows a verdict map on intervals of ports, and leaves out elements that only accept or drop', async () => {
    const inside = await namespaceWith(`table ip edge {
      chain web { meta l4proto tcp dnat to 192.0.2.61:80; }
      chain pre { type nat hook prerouting priority dstnat; tcp dport vmap { 8000-8100 : jump web, 9000 : accept, 22 : drop }; }
    }`);
    expect(only(await forwards(inside))).toMatchObject({ ports: [[8000, 8100]], path: ['pre', 'web'], target: { address: '192.0.2.61', port: 80 } });
    expect(await forwards(inside, ['--port', '9000'], 1)).toEqual({ forwards: [], unknown: [], complete: true });
  });

  it('answers an empty ruleset with no forwards and nothing unknown', async () => {
    const inside = await namespaceWith('');
    expect(await forwards(inside, [], 1)).toEqual({ forwards: [], unknown: [], complete: true });
    expect(await forwards(inside, ['--port', '80'], 1)).toEqual({ forwards: [], unknown: [], complete: true });
  });

  it('reports legacy iptables tables as unknown', async () => {
    const inside = await namespaceWith('');
    const added = await inside.run('iptables-legacy', [
      '-t',
      'nat',
      '-A',
      'PREROUTING',
      '-p',
      'tcp',
      '--dport',
      '8080',
      '-j',
      'DNAT',
      '--to-destination',
      '192.0.2.70:80',
    ]);
    expect(added).toMatchObject({ code: 0, stderr: '' });
    const report = await forwards(inside, ['--port', '8080'], 3);
    expect(report.forwards).toEqual([]);
    expect(report.unknown).toEqual([{ source: 'iptables-legacy', reason: expect.stringMatching(/legacy iptables-legacy tables exist .*\(nat\)/) as string }]);
  });

  it('reports a ruleset it may not read (no CAP_NET_ADMIN) as unknown with EPERM, never as empty', async () => {
    const inside = await namespaceWith(`table ip edge {
      chain pre { type nat hook prerouting priority dstnat; tcp dport 8080 dnat to 192.0.2.80:80; }
    }`);
    const result = await inside.run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'forwards', '--json']);
    expect(result).toMatchObject({ code: 3, stderr: '' });
    const report = JSON.parse(result.stdout) as ForwardsReport;
    expect(report.forwards).toEqual([]);
    expect(report.complete).toBe(false);
    expect(report.unknown).toContainEqual({ source: 'ruleset', error: 'EPERM', reason: expect.stringMatching(/CAP_NET_ADMIN/) as string });
  });
});
