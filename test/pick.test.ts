// `portclash pick` through the built CLI: ports a real listen() or bind() then gets, never a held or excluded one, exit 1 when none is free.
import dgram from 'node:dgram';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { runCli } from './helpers/cli.js';
import { SocketPool, unusedPort } from './helpers/sockets.js';

const pool = new SocketPool();
afterEach(() => pool.closeAll());

/** The ports `pick` printed, one per line, as `PORT=$(portclash pick)` reads them. */
function printedPorts(stdout: string): number[] {
  expect(stdout).toMatch(/^(\d+\n)+$/);
  return stdout.trimEnd().split('\n').map(Number);
}

/** net.ipv4.ip_local_port_range: where connect() and bind(0) take ports, which pick leaves out by default. */
function ephemeralRange(): [number, number] {
  return readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number, number];
}

describe('portclash pick: usage errors', () => {
  it.each([
    [['pick', '0'], 'ERR_USAGE', 'the count must be a whole number from 1 to 1024, got "0"'],
    [['pick', 'abc'], 'ERR_USAGE', 'the count must be a whole number from 1 to 1024, got "abc"'],
    [['pick', '1025'], 'ERR_USAGE', 'the count must be a whole number from 1 to 1024, got "1025"'],
    [['pick', '1', '2'], 'ERR_USAGE', 'pick takes at most one count (like 3), got 2 arguments'],
    [['pick', '--range', '4000-3000'], 'ERR_INVALID_PORT', 'the range 4000-3000 runs backwards'],
    [['pick', '--range', '0-10'], 'ERR_INVALID_PORT', '--range must start at 1 or more, got "0-10": port 0 is no port'],
    [['pick', '--range', '3000'], 'ERR_USAGE', '--range must be low-high, like 3000-3999, got "3000"'],
    [['pick', '--range', '1-70000'], 'ERR_INVALID_PORT', '--range high must be an integer from 0 to 65535, got "70000"'],
    [['pick', '3', '--range', '3000-3001'], 'ERR_USAGE', '--range 3000-3001 has 2 ports, fewer than the 3 asked for'],
    [['pick', '--exclude', '3000,x'], 'ERR_INVALID_PORT', 'each port of --exclude must be an integer from 0 to 65535, got "x"'],
    [['pick', '--host', 'not an address!'], 'ERR_INVALID_HOST', undefined],
    [['pick', '--bogus'], 'ERR_USAGE', undefined],
  ])('%j → exit 2 with %s on one line of stderr', async (args, code, message) => {
    const result = await runCli(args);
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(new RegExp(`^portclash: ${code}: .+\\n$`));
    if (message !== undefined) expect(result.stderr).toBe(`portclash: ${code}: ${message}\n`);
  });

  it('has help that says the ports are not bound, and is listed in the main help', async () => {
    const help = await runCli(['pick', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: portclash pick \[count\] /);
    expect(help.stdout).toMatch(/checked against\s+the kernel's tables, never bound/);
    expect(help.stdout).toContain('reservePort()');
    expect((await runCli(['help', 'pick'])).stdout).toBe(help.stdout);
    expect((await runCli(['--help'])).stdout).toMatch(/^ {2}pick {6}print free ports /m);
  });
});

describe.runIf(process.platform === 'linux')('portclash pick on real sockets', () => {
  it('prints one port that Node can listen on right after', async () => {
    const result = await runCli(['pick']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [port] = printedPorts(result.stdout);
    // Node's listen(port): what the prediction was for
    const server = pool.track(net.createServer());
    const failed = new Promise<never>((_, reject) => server.once('error', reject));
    server.listen(port);
    await Promise.race([once(server, 'listening'), failed]);
  });

  it('prints count distinct ports, and with --json one array of the numbers', async () => {
    const lines = await runCli(['pick', '5']);
    expect(lines).toMatchObject({ code: 0, stderr: '' });
    expect(new Set(printedPorts(lines.stdout)).size).toBe(5);

    const json = await runCli(['pick', '5', '--json']);
    expect(json).toMatchObject({ code: 0, stderr: '' });
    const ports = JSON.parse(json.stdout) as unknown;
    expect(Array.isArray(ports)).toBe(true);
    expect((ports as unknown[]).every((port) => Number.isInteger(port))).toBe(true);
    expect(new Set(ports as number[]).size).toBe(5);
    expect(JSON.parse((await runCli(['pick', '--json'])).stdout)).toEqual([expect.any(Number)]);
  });

  it('picks within --range, never a port the test holds or one of --exclude, given as a list or repeated', async () => {
    // eight ports nothing used a moment ago: three held here, three excluded, two left to pick
    const low = await unusedPort({ run: 8 });
    const held = [low, low + 3, low + 6];
    for (const port of held) await pool.listen('::', { port });
    const excluded = [low + 1, low + 4, low + 7];
    const range = `${low}-${low + 7}`;
    for (let round = 0; round < 3; round++) {
      const result = await runCli(['pick', '2', '--range', range, '--exclude', `${excluded[0]},${excluded[1]}`, '--exclude', String(excluded[2])]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
      const ports = printedPorts(result.stdout);
      expect(ports).toHaveLength(2);
      for (const port of ports) {
        expect(port).toBeGreaterThanOrEqual(low);
        expect(port).toBeLessThanOrEqual(low + 7);
        expect(held).not.toContain(port);
        expect(excluded).not.toContain(port);
      }
    }
  });

  it('exits 1 with ERR_NO_FREE_PORT naming the range when the test holds every port of it', async () => {
    const low = await unusedPort({ run: 2 });
    await pool.listen('::', { port: low });
    // on 127.0.0.1 alone, in the way of Node's default :: dual-stack bind too
    await pool.listen('127.0.0.1', { port: low + 1 });
    // unusedPort's run lies outside the ephemeral range, but may end at its edge: then both are only checked with the flag
    const [ephemeralLow, ephemeralHigh] = ephemeralRange();
    const clear = low + 1 < ephemeralLow || low > ephemeralHigh;
    const result = await runCli(['pick', '--range', `${low}-${low + 1}`, ...(clear ? [] : ['--include-ephemeral'])]);
    expect(result).toMatchObject({ code: 1, stdout: '' });
    // and nothing about the ephemeral range, which took no candidate away
    expect(result.stderr).toMatch(
      new RegExp(`^portclash: ERR_NO_FREE_PORT: no free port in ${low}–${low + 1}/tcp: 2 checked; refused: in-use 2 \\((${low}|${low + 1}): .+\\n$`),
    );
  });

  it('says --include-ephemeral when the range lies inside the ephemeral range, and picks there with it', async () => {
    const [low] = ephemeralRange();
    const left = await runCli(['pick', '--range', `${low}-${low + 3}`]);
    expect(left).toMatchObject({ code: 1, stdout: '' });
    expect(left.stderr).toContain('(--include-ephemeral allows it)');
    expect(left.stderr).not.toContain('avoidEphemeral');
    const included = await runCli(['pick', '--range', `${low}-${low + 50}`, '--include-ephemeral']);
    expect(included).toMatchObject({ code: 0, stderr: '' });
    const [port] = printedPorts(included.stdout);
    expect(port).toBeGreaterThanOrEqual(low);
    expect(port).toBeLessThanOrEqual(low + 50);
  });

  it('picks with --udp a port that a dgram socket can bind', async () => {
    const result = await runCli(['pick', '--udp']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const [port] = printedPorts(result.stdout);
    // dgram's udp6 on ::, dual stack: the default host the prediction was for
    const socket = pool.track(dgram.createSocket('udp6'));
    const failed = new Promise<never>((_, reject) => socket.once('error', reject));
    socket.bind(port);
    await Promise.race([once(socket, 'listening'), failed]);
  });
});
