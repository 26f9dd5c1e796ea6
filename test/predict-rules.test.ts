// The bind rules as pure functions, row by row from docs/bind-rules.md (kernel 6.18 results).
import { describe, expect, it } from 'vitest';

import type { LinuxFacts } from '../lib/linux/facts.js';
import type { OwnedSocket } from '../lib/owners.js';
import type { Existing } from '../lib/platform.js';
import { LINUX_RULES, predictLinux } from '../lib/predict/linux.js';
import { resolveRequest } from '../lib/predict/request.js';
import type { BindRequest } from '../lib/predict/types.js';

const P = 8080;

const FACTS: LinuxFacts = {
  kernel: 'linux',
  unprivilegedPortStart: 1024,
  canBindPrivileged: false,
  nonlocalBindIPv4: false,
  nonlocalBindIPv6: false,
  ipv6Enabled: true,
  ipv4Local: [{ address: 0x7f000000, length: 8 }],
  ipv4Broadcast: [{ address: 0x7fffffff, length: 32 }],
  ipv4LocalTablePresent: true,
  ipv6Addresses: [
    { address: '::1', interfaceIndex: 1, tentative: false },
    { address: '2001:db8::5', interfaceIndex: 2, tentative: true },
  ],
  ephemeralRange: [32768, 60999],
  reservedPorts: [],
  boundSocketsVisible: true,
  uid: 1000,
  confinement: null,
  bindHooks: { cgroup: '/', ipv4: 0, ipv6: 0 },
  netns: null,
  sysctlsUnread: null,
};

interface Spec {
  protocol?: 'tcp' | 'udp';
  address: string;
  state?: OwnedSocket['state'];
  ra?: boolean;
  rp?: boolean;
  v6only?: boolean;
  uid?: number;
  remote?: boolean;
}

/** An existing socket as sock_diag + findOwners would report it. */
function socket({ protocol = 'tcp', address, state = 'LISTEN', ra, rp, v6only, uid = 1000, remote = false }: Spec): Existing {
  const ipv6 = address.includes(':');
  const record: OwnedSocket = {
    protocol,
    family: ipv6 ? 'IPv6' : 'IPv4',
    localAddress: address,
    localPort: P,
    remoteAddress: remote ? (ipv6 ? '::1' : '127.0.0.1') : ipv6 ? '::' : '0.0.0.0',
    remotePort: remote ? 40000 : 0,
    state,
    uid: state === 'TIME_WAIT' ? 0 : uid,
    inode: state === 'TIME_WAIT' ? 0 : 1,
    kernelOnly: state === 'TIME_WAIT',
    source: 'sock_diag',
    owner: null,
    owners: [],
  };
  if (v6only !== undefined) record.ipv6Only = v6only;
  if (ra !== undefined) record.reuseAddr = ra;
  if (rp !== undefined) record.reusePort = rp;
  return record;
}

function predict(request: Omit<BindRequest, 'port'> & { port?: number }, sockets: Existing[], facts: Partial<LinuxFacts> = {}) {
  const merged = { ...FACTS, ...facts };
  return predictLinux(resolveRequest({ port: P, ...request }, merged, LINUX_RULES), sockets, merged);
}

const L = (spec: Spec) => socket(spec);

describe('predictLinux: TCP, the table of bind-rules.md', () => {
  it.each([
    ['0.0.0.0 LISTEN vs 127.0.0.1 RA', [L({ address: '0.0.0.0', ra: true })], { host: '127.0.0.1' }, 'in-use'],
    ['127.0.0.1 LISTEN vs 0.0.0.0', [L({ address: '127.0.0.1', ra: true })], { host: '0.0.0.0' }, 'in-use'],
    ['127.0.0.1 LISTEN vs 127.0.0.2', [L({ address: '127.0.0.1', ra: true })], { host: '127.0.0.2' }, 'free'],
    [':: dual LISTEN vs 0.0.0.0', [L({ address: '::', v6only: false, ra: true })], { host: '0.0.0.0' }, 'in-use'],
    [':: V6ONLY LISTEN vs 0.0.0.0', [L({ address: '::', v6only: true, ra: true })], { host: '0.0.0.0' }, 'free'],
    ['0.0.0.0 LISTEN vs :: dual', [L({ address: '0.0.0.0', ra: true })], { host: '::' }, 'in-use'],
    ['0.0.0.0 LISTEN vs :: V6ONLY', [L({ address: '0.0.0.0', ra: true })], { host: '::', ipv6Only: true }, 'free'],
    ['::1 LISTEN vs 127.0.0.1', [L({ address: '::1', v6only: true, ra: true })], { host: '127.0.0.1' }, 'free'],
    ['::1 LISTEN vs :: V6ONLY', [L({ address: '::1', v6only: true, ra: true })], { host: '::', ipv6Only: true }, 'in-use'],
    ['::ffff:127.0.0.1 LISTEN vs 127.0.0.1', [L({ address: '::ffff:127.0.0.1', v6only: false, ra: true })], { host: '127.0.0.1' }, 'in-use'],
    [':: V6ONLY LISTEN vs ::ffff:127.0.0.1', [L({ address: '::', v6only: true, ra: true })], { host: '::ffff:127.0.0.1' }, 'free'],
    [':: dual LISTEN vs ::ffff:127.0.0.1', [L({ address: '::', v6only: false, ra: true })], { host: '::ffff:127.0.0.1' }, 'in-use'],
    ['0.0.0.0 LISTEN RA vs 0.0.0.0 RA', [L({ address: '0.0.0.0', ra: true })], { host: '0.0.0.0', reuseAddr: true }, 'in-use'],
    ['0.0.0.0 bound RA vs 0.0.0.0 RA', [L({ address: '0.0.0.0', state: 'BOUND', ra: true })], { host: '0.0.0.0', reuseAddr: true }, 'free'],
    ['0.0.0.0 bound no RA vs 0.0.0.0 RA', [L({ address: '0.0.0.0', state: 'BOUND', ra: false })], { host: '0.0.0.0', reuseAddr: true }, 'in-use'],
    ['0.0.0.0 LISTEN RP vs RP same uid', [L({ address: '0.0.0.0', rp: true, ra: false })], { host: '0.0.0.0', reusePort: true }, 'free'],
    ['0.0.0.0 LISTEN RP vs RP other uid', [L({ address: '0.0.0.0', rp: true, ra: false, uid: 65534 })], { host: '0.0.0.0', reusePort: true }, 'in-use'],
    ['0.0.0.0 LISTEN RP vs no RP', [L({ address: '0.0.0.0', rp: true, ra: false })], { host: '0.0.0.0' }, 'in-use'],
    ['0.0.0.0 LISTEN no RP vs RP', [L({ address: '0.0.0.0', rp: false, ra: true })], { host: '0.0.0.0', reusePort: true }, 'in-use'],
    [
      'accepted 127.0.0.1 RA vs 0.0.0.0 RA',
      [L({ address: '127.0.0.1', state: 'ESTABLISHED', ra: true, remote: true })],
      { host: '0.0.0.0', reuseAddr: true },
      'free',
    ],
    [
      'accepted 127.0.0.1 vs 127.0.0.2 no RA',
      [L({ address: '127.0.0.1', state: 'ESTABLISHED', ra: true, remote: true })],
      { host: '127.0.0.2', reuseAddr: false },
      'free',
    ],
    ['TIME_WAIT vs 0.0.0.0 no RA', [L({ address: '127.0.0.1', state: 'TIME_WAIT', remote: true })], { host: '0.0.0.0', reuseAddr: false }, 'in-use'],
    [
      'TIME_WAIT vs 0.0.0.0 RA: its RA cannot be seen',
      [L({ address: '127.0.0.1', state: 'TIME_WAIT', remote: true })],
      { host: '0.0.0.0', reuseAddr: true },
      'unknown',
    ],
    [
      'outgoing 127.0.0.1:EPH no RA vs 127.0.0.1 RA',
      [L({ address: '127.0.0.1', state: 'ESTABLISHED', ra: false, remote: true })],
      { host: '127.0.0.1', reuseAddr: true },
      'in-use',
    ],
    ['outgoing 127.0.0.1:EPH vs 127.0.0.2', [L({ address: '127.0.0.1', state: 'ESTABLISHED', ra: false, remote: true })], { host: '127.0.0.2' }, 'free'],
    ['UDP vs TCP on the same port', [L({ protocol: 'udp', address: '0.0.0.0', state: 'UNCONNECTED', ra: false })], { host: '0.0.0.0' }, 'free'],
    [
      'a request socket (NEW_SYN_RECV) is not bound',
      [L({ address: '127.0.0.1', state: 'NEW_SYN_RECV', remote: true })],
      { host: '127.0.0.1', reuseAddr: false },
      'free',
    ],
  ] as const)('%s → %s', (_name, sockets, request, verdict) => {
    expect(predict(request, [...sockets]).verdict).toBe(verdict);
  });

  it('says unknown when another socket options could not be read and they decide', () => {
    const bound = L({ address: '0.0.0.0', state: 'BOUND' }); // no reuseAddr: not read
    const prediction = predict({ host: '0.0.0.0', reuseAddr: true }, [bound]);
    expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
    expect(prediction.assumptions.join(' ')).toMatch(/SO_REUSEADDR of 0\.0\.0\.0:8080 \(BOUND\) cannot be seen/);
    // …but not when they cannot decide: a listener blocks whatever its options
    expect(predict({ host: '0.0.0.0' }, [L({ address: '0.0.0.0' })]).verdict).toBe('in-use');
  });

  it('says unknown for the order-dependent SO_REUSEPORT cases', () => {
    // E 0.0.0.0 LISTEN, S :: V6ONLY+RP, N :: dual+RP: free or in use depending on bind order
    const e = L({ address: '0.0.0.0', ra: true, rp: false });
    const s = L({ address: '::', v6only: true, ra: false, rp: true });
    expect(predict({ host: '::', reusePort: true, reuseAddr: false }, [e, s]).verdict).toBe('unknown');
    // without S, in use
    expect(predict({ host: '::', reusePort: true, reuseAddr: false }, [e]).verdict).toBe('in-use');
    // E 127.0.0.1 RA bound, S 0.0.0.0 RA+RP, N 0.0.0.0 RP only
    const bound = L({ address: '127.0.0.1', state: 'BOUND', ra: true, rp: false });
    const shared = L({ address: '0.0.0.0', state: 'BOUND', ra: true, rp: true });
    const prediction = predict({ host: '0.0.0.0', reusePort: true, reuseAddr: false }, [bound, shared]);
    expect(prediction.verdict).toBe('unknown');
    expect(prediction.assumptions[0]).toMatch(/order/);
  });

  it('cannot promise free when bound-only sockets are invisible', () => {
    expect(predict({}, [], { boundSocketsVisible: false }).verdict).toBe('unknown');
    expect(predict({ protocol: 'udp' }, [], { boundSocketsVisible: false }).verdict).toBe('free');
  });

  it('cannot tell whether a :: socket from /proc takes IPv4', () => {
    expect(predict({ host: '0.0.0.0' }, [L({ address: '::', ra: true })]).verdict).toBe('unknown');
  });
});

describe('predictLinux: policy that no table shows', () => {
  it('says unknown, not free, for a confined process', () => {
    const prediction = predict({}, [], { confinement: 'docker-default (enforce)' });
    expect(prediction).toMatchObject({ verdict: 'unknown', errno: null });
    expect(prediction.assumptions.join(' ')).toMatch(/confined by a security module \(docker-default \(enforce\)\)/);
    expect(predict({ port: 0 }, [], { confinement: 'docker-default (enforce)' }).verdict).toBe('unknown');
  });

  it('says unknown where cgroup-BPF programs judge binds of the family asked about', () => {
    const hooks = { cgroup: '/system.slice/api.service', ipv4: 2, ipv6: 0 };
    const v4 = predict({ host: '127.0.0.1' }, [], { bindHooks: hooks });
    expect(v4).toMatchObject({
      verdict: 'unknown',
      reason: expect.stringMatching(/2 cgroup-BPF programs judge socket\(\) and bind\(\) in cgroup \/system\.slice\/api\.service/),
    });
    expect(v4.assumptions.join(' ')).toMatch(/may refuse the bind with EPERM or rewrite its address or port/);
    expect(predict({ host: '::1' }, [], { bindHooks: hooks }).verdict).toBe('free');
    expect(predict({ host: '127.0.0.1', port: 0 }, [], { bindHooks: hooks }).verdict).toBe('unknown');
    // a socket in the way fails the bind, unless a program moves it elsewhere: said as an assumption
    const taken = predict({ host: '127.0.0.1' }, [L({ address: '127.0.0.1' })], { bindHooks: hooks });
    expect(taken.verdict).toBe('in-use');
    expect(taken.assumptions).toEqual([expect.stringMatching(/may rewrite the bind's address or port: assumed that they do not/)]);
    // a program may waive the privilege check, so EACCES is not certain either
    const low = predict({ host: '127.0.0.1', port: 80 }, [], { bindHooks: hooks, canBindPrivileged: false });
    expect(low).toMatchObject({ verdict: 'unknown', errno: null });
    expect(low.assumptions.join(' ')).toMatch(/may waive the privilege check .*: if none does, EACCES/);
  });

  it('keeps free on a stated assumption when the programs cannot be counted', () => {
    const prediction = predict({}, [], { bindHooks: { cgroup: '/user.slice', ipv4: null, ipv6: null, unseen: 'counting them needs CAP_NET_ADMIN' } });
    expect(prediction.verdict).toBe('free');
    expect(prediction.assumptions).toEqual([
      expect.stringMatching(/could not be counted \(counting them needs CAP_NET_ADMIN\): assumed that none refuses the bind/),
    ]);
    const low = predict({ port: 80 }, [], {
      bindHooks: { cgroup: '/user.slice', ipv4: null, ipv6: null, unseen: 'counting them needs CAP_NET_ADMIN' },
      canBindPrivileged: false,
    });
    expect(low).toMatchObject({ verdict: 'denied', errno: 'EACCES', assumptions: [expect.stringMatching(/assumed that none waives the privilege check/)] });
  });
});

describe('predictLinux: UDP', () => {
  const U = (spec: Spec) => socket({ protocol: 'udp', state: 'UNCONNECTED', ...spec });
  it.each([
    ['0.0.0.0 without RA vs 127.0.0.1 RA', [U({ address: '0.0.0.0', ra: false, rp: false })], { host: '127.0.0.1', reuseAddr: true }, 'in-use'],
    ['0.0.0.0 RA vs 127.0.0.1 RA', [U({ address: '0.0.0.0', ra: true, rp: false })], { host: '127.0.0.1', reuseAddr: true }, 'free'],
    ['0.0.0.0 RP vs RP same uid', [U({ address: '0.0.0.0', ra: false, rp: true })], { host: '0.0.0.0', reusePort: true }, 'free'],
    ['0.0.0.0 RP vs RP other uid', [U({ address: '0.0.0.0', ra: false, rp: true, uid: 0 })], { host: '0.0.0.0', reusePort: true }, 'in-use'],
    [
      'connected from 127.0.0.1 vs 127.0.0.2',
      [U({ address: '127.0.0.1', state: 'ESTABLISHED', ra: false, rp: false, remote: true })],
      { host: '127.0.0.2' },
      'free',
    ],
    [
      'connected from 127.0.0.1 vs 0.0.0.0',
      [U({ address: '127.0.0.1', state: 'ESTABLISHED', ra: false, rp: false, remote: true })],
      { host: '0.0.0.0' },
      'in-use',
    ],
    [':: dual vs 0.0.0.0', [U({ address: '::', v6only: false, ra: false, rp: false })], { host: '0.0.0.0' }, 'in-use'],
    [':: V6ONLY vs 0.0.0.0', [U({ address: '::', v6only: true, ra: false, rp: false })], { host: '0.0.0.0' }, 'free'],
  ] as const)('%s → %s', (_name, sockets, request, verdict) => {
    expect(predict({ protocol: 'udp', ...request }, [...sockets]).verdict).toBe(verdict);
  });
});

describe('predictLinux: privilege and address, in the kernel order', () => {
  it('refuses a low port without CAP_NET_BIND_SERVICE, and allows it with', () => {
    expect(predict({ port: 80, host: '0.0.0.0' }, [])).toMatchObject({ verdict: 'denied', errno: 'EACCES' });
    expect(predict({ port: 80, host: '0.0.0.0' }, [], { canBindPrivileged: true }).verdict).toBe('free');
    expect(predict({ port: 80, host: '0.0.0.0' }, [], { unprivilegedPortStart: 0 }).verdict).toBe('free');
    expect(predict({ port: 80, host: '0.0.0.0' }, [], { canBindPrivileged: null }).verdict).toBe('unknown');
  });

  it('checks the address before the port for IPv4 and after it for IPv6', () => {
    expect(predict({ port: 80, host: '192.0.2.1' }, [])).toMatchObject({ verdict: 'unavailable', errno: 'EADDRNOTAVAIL' });
    expect(predict({ port: 80, host: '2001:db8::1' }, [])).toMatchObject({ verdict: 'denied', errno: 'EACCES' });
    expect(predict({ host: '2001:db8::1' }, [])).toMatchObject({ verdict: 'unavailable', errno: 'EADDRNOTAVAIL' });
  });

  it('knows local, broadcast, multicast, tentative and nonlocal-bind addresses', () => {
    expect(predict({ host: '127.9.9.9' }, []).verdict).toBe('free');
    expect(predict({ host: '127.255.255.255', protocol: 'udp' }, []).verdict).toBe('free');
    expect(predict({ host: '224.0.0.251', protocol: 'udp' }, []).verdict).toBe('free');
    expect(predict({ host: '2001:db8::5' }, [])).toMatchObject({ verdict: 'unavailable', reason: expect.stringMatching(/tentative/) });
    expect(predict({ host: '192.0.2.1' }, [], { nonlocalBindIPv4: true }).verdict).toBe('free');
    expect(predict({ host: '2001:db8::1' }, [], { nonlocalBindIPv4: true }).verdict).toBe('unavailable');
    expect(predict({ host: '2001:db8::1' }, [], { nonlocalBindIPv6: true }).verdict).toBe('free');
    expect(predict({ host: '192.0.2.1' }, [], { ipv4LocalTablePresent: false }).verdict).toBe('free');
  });

  it('treats port 0 as any free port', () => {
    expect(predict({ port: 0 }, [L({ address: '0.0.0.0' })]).verdict).toBe('free');
  });

  it('defaults to what Node server.listen(port) does', () => {
    expect(resolveRequest({ port: 3000 }, FACTS, LINUX_RULES)).toEqual({
      port: 3000,
      host: '::',
      family: 'IPv6',
      protocol: 'tcp',
      reuseAddr: true,
      reusePort: false,
      ipv6Only: false,
      listen: true,
      uid: 1000,
      hostDefaulted: true,
    });
    expect(resolveRequest({ port: 3000 }, { ...FACTS, ipv6Enabled: false }, LINUX_RULES).host).toBe('0.0.0.0');
    expect(resolveRequest({ port: 3000, protocol: 'udp' }, FACTS, LINUX_RULES)).toMatchObject({ reuseAddr: false, listen: false });
    expect(resolveRequest({ port: 3000, host: '::1' }, FACTS, LINUX_RULES).ipv6Only).toBe(true);
  });

  it.each([
    [{ port: 70000 }, 'ERR_INVALID_PORT'],
    [{ port: 80, host: 'localhost' }, 'ERR_INVALID_HOST'],
    [{ port: 80, host: '::ffff:127.0.0.1', ipv6Only: true }, 'ERR_INVALID_HOST'],
    [{ port: 80, host: 'fe80::1' }, 'ERR_INVALID_HOST'],
    [{ port: 80, protocol: 'sctp' as 'tcp' }, 'ERR_INVALID_ARGUMENT'],
    [{ port: 80, reuseAddr: 'yes' as unknown as boolean }, 'ERR_INVALID_ARGUMENT'],
  ])('rejects %j with %s', (request, code) => {
    expect(() => resolveRequest(request, FACTS, LINUX_RULES)).toThrow(expect.objectContaining({ code }));
  });
});

describe('predictLinux: the reason names the fact that decided', () => {
  it.each([
    [
      'a listener without SO_REUSEPORT',
      [{ address: '0.0.0.0', ra: true, rp: false }],
      { host: '0.0.0.0', reusePort: true },
      /it does not set SO_REUSEPORT, and a listening socket shares only through SO_REUSEPORT/,
    ],
    [
      'SO_REUSEPORT of another uid',
      [{ address: '0.0.0.0', ra: false, rp: true, uid: 65534 }],
      { host: '0.0.0.0', reusePort: true },
      /same uid \(it has uid 65534, this bind 1000\)/,
    ],
    ['a listener, Node defaults', [{ address: '0.0.0.0', ra: true }], {}, /`::` without IPV6_V6ONLY also receives IPv4.*never shared through SO_REUSEADDR/],
    [
      'no SO_REUSEADDR here',
      [{ address: '127.0.0.1', state: 'BOUND', ra: true }],
      { host: '127.0.0.1', reuseAddr: false },
      /this bind sets neither SO_REUSEADDR nor SO_REUSEPORT/,
    ],
    ['no SO_REUSEADDR there', [{ address: '127.0.0.1', state: 'BOUND', ra: false }], { host: '127.0.0.1' }, /it does not set SO_REUSEADDR/],
  ] as const)('%s', (_name, sockets, request, reason) => {
    expect(
      predict(
        request,
        sockets.map((spec) => socket(spec as Spec)),
      ).reason,
    ).toMatch(reason);
  });
});
