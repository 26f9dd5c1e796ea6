// `portclash preflight` as a CI job runs it: ports from arguments or the project's config, three formats, exit codes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format } from 'prettier';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { escapeData, escapeProperty } from '../lib/cli/preflight.js';
import { listSockets } from '../lib/index.js';
import { CLI, type CliResult } from './helpers/cli.js';
import { portOf, SocketPool, unusedPort } from './helpers/sockets.js';
import { waitFor } from './helpers/wait.js';

let project: string;
beforeEach(() => {
  project = mkdtempSync(join(tmpdir(), 'portclash-preflight-'));
});
afterEach(() => rmSync(project, { recursive: true, force: true }));

/** The built CLI, run with the project directory as its cwd, as `npm run prestart` would. */
function preflight(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, 'preflight', ...args], { cwd: project, timeout: 15_000 }, (error: (Error & { code?: unknown }) | null, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

function write(name: string, content: unknown): void {
  writeFileSync(join(project, name), typeof content === 'string' ? content : JSON.stringify(content));
}

interface PreflightJson {
  ok: boolean;
  ports: { label: string | null; port: number; protocol: string; host: string; verdict: string; holder?: { pid: number }; assumptions: string[] }[];
}

describe.runIf(process.platform === 'linux')('portclash preflight: where the ports come from', () => {
  it('takes ports from arguments, with /udp and service names', async () => {
    const port = await unusedPort();
    // http is port 80: free for root, denied (exit 1) for a user without CAP_NET_BIND_SERVICE unless ip_unprivileged_port_start allows it
    const lowPortDenied = process.getuid?.() !== 0 && 80 < Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
    const result = await preflight([String(port), `${port}/udp`, 'http', '--format', 'json']);
    expect(result).toMatchObject({ code: lowPortDenied ? 1 : 0, stderr: '' });
    const json = JSON.parse(result.stdout) as PreflightJson;
    expect(json.ok).toBe(!lowPortDenied);
    expect(json.ports.map(({ label, port, protocol, verdict }) => ({ label, port, protocol, verdict }))).toEqual([
      { label: null, port, protocol: 'tcp', verdict: 'free' },
      { label: null, port, protocol: 'udp', verdict: 'free' },
      { label: 'http', port: 80, protocol: 'tcp', verdict: lowPortDenied ? 'denied' : 'free' },
    ]);
  });

  it('reads the "portclash" field of package.json, then portclash.json, then --config; arguments win', async () => {
    const [first, second, third, fourth] = [await unusedPort(), await unusedPort(), await unusedPort(), await unusedPort()];
    const ports = async (args: string[]) =>
      (JSON.parse((await preflight([...args, '--format', 'json'])).stdout) as PreflightJson).ports.map((entry) => entry.port);

    write('portclash.json', { ports: [second] });
    expect(await ports([])).toEqual([second]);
    write('package.json', { name: 'app', portclash: { ports: [{ port: first, label: 'api' }] } });
    expect(await ports([])).toEqual([first]);
    write('other.json', { ports: [third] });
    expect(await ports(['--config', 'other.json'])).toEqual([third]);
    expect(await ports([String(fourth), '--config', 'other.json'])).toEqual([fourth]);
    // a package.json without the field leaves portclash.json in charge
    write('package.json', { name: 'app' });
    expect(await ports([])).toEqual([second]);
  });

  it('is a usage error, saying where it looked, when no ports are given anywhere', async () => {
    write('package.json', { name: 'app' });
    const result = await preflight([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /^portclash: ERR_USAGE: preflight found no ports: none given as arguments, no "portclash" field in .*package\.json, and no .*portclash\.json/,
    );
  });

  it.each([
    ['not JSON', '{ "ports": [3000', /^portclash: ERR_USAGE: portclash\.json is not valid JSON: /],
    ['ports not an array', { ports: 3000 }, /^portclash: ERR_INVALID_ARGUMENT: portclash\.json: "ports" must be an array/],
    [
      'a port out of range',
      { ports: [3000, { port: 70000 }] },
      /^portclash: ERR_INVALID_PORT: portclash\.json: ports\[1\]: port must be an integer from 0 to 65535, got 70000/,
    ],
    [
      'an unknown key',
      { ports: [3000, 3001, { port: 3002, hots: '::1' }] },
      /^portclash: ERR_INVALID_ARGUMENT: portclash\.json: ports\[2\]: unknown key "hots"/,
    ],
    [
      'a bad protocol',
      { ports: [{ port: 3000, protocol: 'sctp' }] },
      /^portclash: ERR_INVALID_ARGUMENT: portclash\.json: ports\[0\]: "protocol" must be "tcp" or "udp"/,
    ],
    ['an unknown service', { ports: ['no-such-service'] }, /^portclash: ERR_UNKNOWN_SERVICE: portclash\.json: ports\[0\]: no service named 'no-such-service'/],
  ])('a config with %s is exit 2, naming the file and the entry', async (_, content, message) => {
    write('portclash.json', content);
    const result = await preflight([]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.split('\n')).toHaveLength(2);
  });

  it("names package.json's field and a missing --config file", async () => {
    write('package.json', { portclash: { ports: [], extra: 1 } });
    expect((await preflight([])).stderr).toMatch(/^portclash: ERR_INVALID_ARGUMENT: package\.json "portclash": unknown key "extra"/);
    const missing = await preflight(['--config', 'nope.json']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^portclash: ERR_USAGE: --config nope\.json: no such file/);
    expect((await preflight(['3000', '--format', 'yaml'])).code).toBe(2);
  });
});

describe.runIf(process.platform === 'linux')('portclash preflight: verdicts and formats', () => {
  const pool = new SocketPool();
  afterEach(() => pool.closeAll());

  it('says free, exit 0, in all three formats', async () => {
    const port = await unusedPort();
    write('portclash.json', { ports: [{ port, label: 'api' }] });
    const text = await preflight([]);
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout.split('\n')[0]).toBe(`${port}/tcp (api) free — no socket uses tcp port ${port}`);
    const json = JSON.parse((await preflight(['--format', 'json'])).stdout) as PreflightJson;
    expect(json).toMatchObject({ ok: true, ports: [{ label: 'api', port, protocol: 'tcp', host: '::', verdict: 'free' }] });
    const github = await preflight(['--format', 'github']);
    expect(github.code).toBe(0);
    expect(github.stdout).toMatch(new RegExp(`^::notice title=portclash ${port}/tcp \\(api\\)::${port}/tcp \\(api\\) free — `));
  });

  it('names the holder, exit 1, and escapes a label for GitHub', async () => {
    const server = await pool.listenAlone('127.0.0.1');
    const port = portOf(server);
    write('portclash.json', { ports: [{ port, label: 'api, 100%\nready: yes', host: '127.0.0.1' }] });

    const text = await preflight([]);
    expect(text.code).toBe(1);
    // a newline in a label would break the one-line-per-port output: it reads as a space there
    expect(text.stdout.split('\n')[0]).toMatch(
      new RegExp(`^${port}/tcp \\(api, 100% ready: yes\\) in use — .+ \\(pid ${process.pid}, user \\S+\\) listens on 127\\.0\\.0\\.1:${port}$`),
    );

    const json = await preflight(['--format', 'json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      ports: [{ label: 'api, 100%\nready: yes', port, host: '127.0.0.1', verdict: 'in-use', errno: 'EADDRINUSE', holder: { pid: process.pid } }],
    });

    const github = await preflight(['--format', 'github']);
    expect(github.code).toBe(1);
    const lines = github.stdout.trimEnd().split('\n');
    // one workflow command per port, whatever the label holds
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^::error title=portclash ${port}/tcp \\(api%2C 100%25%0Aready%3A yes\\)::${port}/tcp \\(api, 100%25%0Aready: yes\\) in use — .+ \\(pid ${process.pid}, user \\S+\\) listens on 127\\.0\\.0\\.1:${port}\\. Fix: stop it or choose another port`,
      ),
    );
  });

  it('warns about an unknown, exit 0, and fails on it with --strict, exit 3', async () => {
    const server = await pool.listen('127.0.0.1');
    // a TIME_WAIT whose SO_REUSEADDR no interface shows: a bind with SO_REUSEADDR (Node's default) may or may not succeed
    const clientPort = await pool.leaveTimeWaitAlone(server, '127.0.0.1');
    await waitFor(
      async () => (await listSockets({ port: clientPort })).find((socket) => socket.state === 'TIME_WAIT' && socket.remotePort === portOf(server)),
      'TIME_WAIT',
    );
    write('package.json', { portclash: { ports: [{ port: clientPort, label: 'worker' }] } });

    const github = await preflight(['--format', 'github']);
    expect(github.code).toBe(0);
    expect(github.stdout).toMatch(
      new RegExp(`^::warning title=portclash ${clientPort}/tcp \\(worker\\)::${clientPort}/tcp \\(worker\\) unknown — .*%0Adepends on: the SO_REUSEADDR of `),
    );
    const strict = await preflight(['--format', 'github', '--strict']);
    expect(strict.code).toBe(3);
    expect(strict.stdout).toMatch(/^::error title=portclash /);

    const text = await preflight(['--strict']);
    expect(text.code).toBe(3);
    expect(text.stdout.split('\n')[1]).toMatch(/^ {2}depends on: the SO_REUSEADDR of 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+ \(TIME_WAIT\) cannot be seen/);
    const json = JSON.parse((await preflight(['--format', 'json'])).stdout) as PreflightJson;
    expect(json.ok).toBe(true);
    expect(json.ports[0]).toMatchObject({ verdict: 'unknown', assumptions: [expect.stringMatching(/TIME_WAIT socket keeps the options/)] });
    expect((JSON.parse((await preflight(['--format', 'json', '--strict'])).stdout) as PreflightJson).ok).toBe(false);
  });
});

describe('GitHub workflow command escapes', () => {
  it('escape % first, then CR and LF; properties also : and ,', () => {
    // % first, or the %0A of a newline would become %250A
    expect(escapeData('50%\r\nnext: a, b')).toBe('50%25%0D%0Anext: a, b');
    expect(escapeProperty('50%\r\nnext: a, b')).toBe('50%25%0D%0Anext%3A a%2C b');
    expect(escapeData('%0A')).toBe('%250A');
  });
});

describe('action.yml', () => {
  // no YAML library is installed: prettier's YAML parser says whether it parses, and a line-based look checks the keys
  const action = readFileSync(new URL('../action.yml', import.meta.url), 'utf8');
  const topLevel = action
    .split('\n')
    .filter((line) => /^[a-z]/.test(line))
    .map((line) => line.split(':')[0]);

  it('parses as YAML', async () => {
    await expect(format(action, { parser: 'yaml' })).resolves.toBeTypeOf('string');
  });

  it('is a composite action with the documented inputs that runs preflight --format github', () => {
    expect(topLevel).toEqual(expect.arrayContaining(['name', 'description', 'inputs', 'runs']));
    expect(action).toMatch(/^ {2}using: composite$/m);
    for (const input of ['ports', 'config', 'strict', 'working-directory', 'version']) expect(action).toMatch(new RegExp(`^ {2}${input}:$`, 'm'));
    expect(action).toMatch(/npx --yes "portclash@\$version" preflight --format github/);
    // inputs reach the shell through env, never spliced into the script
    const script = action.slice(action.indexOf('run: |'));
    expect(script).not.toMatch(/\$\{\{/);
    expect(action).not.toMatch(/\t/);
  });
});
