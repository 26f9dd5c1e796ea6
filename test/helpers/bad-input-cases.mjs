// The bad input docs/bad-input.md lists: each API call and CLI run, and the code it must get. Shared by
// test/bad-input.test.ts, which checks them, and scripts/bad-input-table.mjs, which prints the table.

/**
 * Each call with what it gets, in the docs' order. Values a TypeScript caller cannot pass are passed
 * anyway: JavaScript callers can.
 * @param {any} p the library (lib/index.ts in the test, dist/index.js for the table)
 * @returns {[string, () => unknown, string][]}
 */
export function apiCases(p) {
  /* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return */
  return [
    ['predictBind(null)', () => p.predictBind(null), 'ERR_INVALID_ARGUMENT'],
    ['predictBind({ port: -1 })', () => p.predictBind({ port: -1 }), 'ERR_INVALID_PORT'],
    ['predictBind({ port: 1.5 })', () => p.predictBind({ port: 1.5 }), 'ERR_INVALID_PORT'],
    ['predictBind({ port: NaN })', () => p.predictBind({ port: NaN }), 'ERR_INVALID_PORT'],
    ['predictBind({ port: 70000 })', () => p.predictBind({ port: 70000 }), 'ERR_INVALID_PORT'],
    ["predictBind({ port: 'no-such-service' })", () => p.predictBind({ port: 'no-such-service' }), 'ERR_UNKNOWN_SERVICE'],
    ['predictBind({ port, host: 5 })', () => p.predictBind({ port: 3000, host: 5 }), 'ERR_INVALID_HOST'],
    ["predictBind({ port, host: '1.2.3.4.5' })", () => p.predictBind({ port: 3000, host: '1.2.3.4.5' }), 'ERR_INVALID_HOST'],
    ["predictBind({ port, host: 'fe80::1%lo' })", () => p.predictBind({ port: 3000, host: 'fe80::1%lo' }), 'ERR_INVALID_HOST'],
    ["predictBind({ port, host: 'no-such-host.invalid' })", () => p.predictBind({ port: 3000, host: 'no-such-host.invalid' }), 'ERR_INVALID_HOST'],
    ["predictBind({ port, protocol: 'sctp' })", () => p.predictBind({ port: 3000, protocol: 'sctp' }), 'ERR_INVALID_ARGUMENT'],
    ["predictBind({ port, reuseAddr: 'yes' })", () => p.predictBind({ port: 3000, reuseAddr: 'yes' }), 'ERR_INVALID_ARGUMENT'],
    ["predictBind({ port }, { probe: 'yes' })", () => p.predictBind({ port: 3000 }, { probe: 'yes' }), 'ERR_INVALID_ARGUMENT'],
    ['predictBind({ port }, null)', () => p.predictBind({ port: 3000 }, null), 'ERR_INVALID_ARGUMENT'],
    ['predictBinds(null)', () => p.predictBinds(null), 'ERR_INVALID_ARGUMENT'],
    ['predictBinds([1, 2])', () => p.predictBinds([1, 2]), 'ERR_INVALID_ARGUMENT'],
    ['assertPortsFree(null)', () => p.assertPortsFree(null), 'ERR_INVALID_ARGUMENT'],
    ['listSockets(null)', () => p.listSockets(null), 'ERR_INVALID_ARGUMENT'],
    ['listSockets({ port: 70000 })', () => p.listSockets({ port: 70000 }), 'ERR_INVALID_PORT'],
    ["listSockets({ protocol: 'x' })", () => p.listSockets({ protocol: 'x' }), 'ERR_INVALID_ARGUMENT'],
    ['listSockets({ pid: -1 })', () => p.listSockets({ pid: -1 }), 'ERR_INVALID_ARGUMENT'],
    ["listSockets({}, { netns: 'no-such-namespace' })", () => p.listSockets({}, { netns: 'no-such-namespace' }), 'ERR_NO_SUCH_NETNS'],
    ["listSockets({}, { netns: '/proc/self/ns/uts' })", () => p.listSockets({}, { netns: '/proc/self/ns/uts' }), 'ERR_NOT_A_NETNS'],
    ["listSockets({}, { netns: '/etc/services' })", () => p.listSockets({}, { netns: '/etc/services' }), 'ERR_NOT_A_NETNS'],
    ["listSockets({}, { netns: '' })", () => p.listSockets({}, { netns: '' }), 'ERR_INVALID_ARGUMENT'],
    ['predictBind({ port }, { netns: 5 })', () => p.predictBind({ port: 3000 }, { netns: 5 }), 'ERR_INVALID_ARGUMENT'],
    ["readSystemFacts({ netns: '..' })", () => p.readSystemFacts({ netns: '..' }), 'ERR_INVALID_ARGUMENT'],
    ['readEphemeralRange(null)', () => p.readEphemeralRange(null), 'ERR_INVALID_ARGUMENT'],
    ["waitForPort(3000, { until: 'free', netns: 'web' })", () => p.waitForPort(3000, { until: 'free', netns: 'web' }), 'ERR_INVALID_ARGUMENT'],
    ["findFreePort({ netns: 'web' })", () => p.findFreePort({ netns: 'web' }), 'ERR_INVALID_ARGUMENT'],
    ["freePort(3000, { netns: 'web' })", () => p.freePort(3000, { netns: 'web' }), 'ERR_INVALID_ARGUMENT'],
    ["watchSockets({}, { netns: 'web' }).next()", () => p.watchSockets({}, { netns: 'web' }).next(), 'ERR_INVALID_ARGUMENT'],
    ['findOwners(null)', () => p.findOwners(null), 'ERR_INVALID_ARGUMENT'],
    ['findOwners([{}])', () => p.findOwners([{}]), 'ERR_INVALID_ARGUMENT'],
    ["findOwners([], { scan: 'x' })", () => p.findOwners([], { scan: 'x' }), 'ERR_INVALID_ARGUMENT'],
    ['findForwards(null)', () => p.findForwards(null), 'ERR_INVALID_ARGUMENT'],
    ['findForwards({ port: 70000 })', () => p.findForwards({ port: 70000 }), 'ERR_INVALID_PORT'],
    ["findForwards({ protocol: 'sctp' })", () => p.findForwards({ protocol: 'sctp' }), 'ERR_INVALID_ARGUMENT'],
    ['findFreePort({ range: [5] })', () => p.findFreePort({ range: [5] }), 'ERR_INVALID_ARGUMENT'],
    ["findFreePort({ exclude: 'x' })", () => p.findFreePort({ exclude: 'x' }), 'ERR_INVALID_ARGUMENT'],
    ['findFreePorts(1e9)', () => p.findFreePorts(1e9), 'ERR_INVALID_ARGUMENT'],
    ['findFreePorts(Infinity)', () => p.findFreePorts(Infinity), 'ERR_INVALID_ARGUMENT'],
    ["reservePort({ protocol: 'x' })", () => p.reservePort({ protocol: 'x' }), 'ERR_INVALID_ARGUMENT'],
    ['waitForPort(3000)', () => p.waitForPort(3000, undefined), 'ERR_INVALID_ARGUMENT'],
    ["waitForPort(3000, { until: 'x' })", () => p.waitForPort(3000, { until: 'x' }), 'ERR_INVALID_ARGUMENT'],
    ["waitForPort(3000, { until: 'free', timeout: '1' })", () => p.waitForPort(3000, { until: 'free', timeout: '1' }), 'ERR_INVALID_ARGUMENT'],
    ["waitForPort(0, { until: 'free' })", () => p.waitForPort(0, { until: 'free' }), 'ERR_INVALID_PORT'],
    ['freePort(3000, { timeout: -1 })', () => p.freePort(3000, { timeout: -1 }), 'ERR_INVALID_ARGUMENT'],
    ["freePort(3000, { signal: 'SIG9' })", () => p.freePort(3000, { signal: 'SIG9' }), 'ERR_INVALID_ARGUMENT'],
    ['freePort(0)', () => p.freePort(0), 'ERR_INVALID_PORT'],
    ['readProcess(0)', () => p.readProcess(0), 'ERR_INVALID_ARGUMENT'],
    ['parentChain(null)', () => p.parentChain(null), 'ERR_INVALID_ARGUMENT'],
    ['getServiceByName(5)', () => p.getServiceByName(5), 'ERR_INVALID_ARGUMENT'],
    ["getServiceByPort('x')", () => p.getServiceByPort('x'), 'ERR_INVALID_PORT'],
    ['portClass(-1)', () => p.portClass(-1), 'ERR_INVALID_PORT'],
    ['watchSockets({ port: 70000 }).next()', () => p.watchSockets({ port: 70000 }).next(), 'ERR_INVALID_PORT'],
    ['watchSockets({}, { interval: 1 }).next()', () => p.watchSockets({}, { interval: 1 }).next(), 'ERR_INVALID_ARGUMENT'],
    ['describeBindError(null)', () => p.describeBindError(null), 'ERR_INVALID_ARGUMENT'],
  ];
  /* eslint-enable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return */
}

/**
 * One run of the CLI each: its arguments, the exit status and the code on stderr.
 * @type {[string[], number, string][]}
 */
export const CLI_CASES = [
  [['check', '70000'], 2, 'ERR_INVALID_PORT'],
  [['check', '3000-1'], 2, 'ERR_INVALID_PORT'],
  [['check', '1e3'], 2, 'ERR_UNKNOWN_SERVICE'],
  [['check', '3000', '--host', '[::1]'], 2, 'ERR_INVALID_HOST'],
  [['check', '3000', '--bogus'], 2, 'ERR_USAGE'],
  [['who', '3000/sctp'], 2, 'ERR_INVALID_PORT'],
  [['list', '--port', ''], 2, 'ERR_INVALID_PORT'],
  [['wait', '3000', '--timeout', '1e9'], 2, 'ERR_USAGE'],
  [['pick', '0'], 2, 'ERR_USAGE'],
  [['pick', '--range', '0-10'], 2, 'ERR_INVALID_PORT'],
  [['free', '3000', '--signal', '9'], 2, 'ERR_INVALID_ARGUMENT'],
  [['ports', ''], 2, 'ERR_USAGE'],
  [['forwards', '--tcp', '--udp'], 2, 'ERR_USAGE'],
  [['forwards', '--port', '70000'], 2, 'ERR_INVALID_PORT'],
  [['preflight', '--format', 'xml'], 2, 'ERR_USAGE'],
  [['list', '--watch', '--interval', '1ms'], 2, 'ERR_USAGE'],
  [['list', '--netns', 'no-such-namespace'], 2, 'ERR_NO_SUCH_NETNS'],
  [['check', '3000', '--netns', '/proc/self/ns/pid'], 2, 'ERR_NOT_A_NETNS'],
  [['list', '--watch', '--netns', '/proc/self/ns/net'], 2, 'ERR_USAGE'],
  [['check', '3000', '--format', 'prometheus', '--json'], 2, 'ERR_USAGE'],
];
