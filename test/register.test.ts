// portclash/register in real Node processes: the extra stderr line, and nothing else changed.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

import { holdPort, type NodeHolder } from './helpers/node-holder.js';

// the package's own directory: `portclash/register` resolves there through the exports map (dist/, built by pretest)
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runNode(args: string[], timeoutMs = 15_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: timeoutMs }, (error: (Error & { code?: unknown; killed?: boolean }) | null, stdout, stderr) => {
      if (error !== null && (error.killed === true || typeof error.code !== 'number')) {
        reject(error);
        return;
      }
      resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

const HOOKS = {
  commonjs: (script: string) => ['-r', 'portclash/register', '-e', script],
  esm: (script: string) => ['--import', 'portclash/register', '--input-type=module', '-e', script],
  none: (script: string) => ['-e', script],
};

// each app takes the port as its first argument; `-e` code is CommonJS unless --input-type says otherwise
const LISTEN = {
  commonjs: `require('node:net').createServer().listen(Number(process.argv[1]), '127.0.0.1');`,
  esm: `import net from 'node:net'; net.createServer().listen(Number(process.argv[1]), '127.0.0.1');`,
};

/** stderr less the portclash line and the one frame the wrapped emit adds to Node's "Emitted 'error' event" trace. */
function withoutHook(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !line.startsWith('portclash: ') && !/^\s+at Server\.emit \(.*register\.cjs:\d+:\d+\)$/.test(line))
    .join('\n');
}

const holders: NodeHolder[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((holder) => holder.stop()));
});

async function hold(protocol: 'tcp' | 'udp'): Promise<NodeHolder> {
  const holder = await holdPort(protocol);
  holders.push(holder);
  return holder;
}

describe.runIf(process.platform === 'linux')('portclash/register', () => {
  for (const kind of ['commonjs', 'esm'] as const) {
    it(`${kind}: names the holder beside Node's own error, with Node's exit code`, async () => {
      const holder = await hold('tcp');
      const port = String(holder.port);
      const plain = await runNode([...HOOKS.none(LISTEN.commonjs), port]);
      const hooked = await runNode([...HOOKS[kind](LISTEN[kind]), port]);

      expect(plain.code).toBe(1);
      expect(hooked.code).toBe(plain.code);
      const nodeError = `Error: listen EADDRINUSE: address already in use 127.0.0.1:${port}`;
      expect(plain.stderr).toContain(nodeError);
      expect(hooked.stderr).toContain(nodeError);
      expect(hooked.stderr).toMatch(new RegExp(`^portclash: port ${port}/tcp is held by \\S*node .*\\(pid ${holder.pid}, `, 'm'));
      expect(plain.stderr).not.toContain('portclash');
      expect(hooked.stdout).toBe('');
      if (kind === 'commonjs') expect(withoutHook(hooked.stderr)).toBe(plain.stderr);
    });
  }

  it('explains an error the app handles, and keeps the exit code the handler chose', async () => {
    const holder = await hold('tcp');
    const app = `const server = require('node:net').createServer();
server.on('error', (error) => { console.log('handled', error.code); process.exit(7); });
server.listen(Number(process.argv[1]), '127.0.0.1');`;
    const plain = await runNode([...HOOKS.none(app), String(holder.port)]);
    const hooked = await runNode([...HOOKS.commonjs(app), String(holder.port)]);
    expect(plain).toEqual({ code: 7, stdout: 'handled EADDRINUSE\n', stderr: '' });
    expect(hooked.code).toBe(7);
    expect(hooked.stdout).toBe('handled EADDRINUSE\n');
    expect(hooked.stderr).toMatch(new RegExp(`^portclash: port ${holder.port}/tcp is held by .*\\(pid ${holder.pid}, .*\\n$`));
  });

  it('does not keep a process alive after a handled error', async () => {
    const holder = await hold('tcp');
    // nothing is left to run once the error is handled: the process must end by itself
    const app = `import net from 'node:net';
const server = net.createServer();
server.on('error', () => { process.exitCode = 7; });
server.listen(Number(process.argv[1]), '127.0.0.1');`;
    const hooked = await runNode([...HOOKS.esm(app), String(holder.port)], 10_000);
    expect(hooked.code).toBe(7);
    expect(hooked.stderr).toContain(`pid ${holder.pid}`);
  });

  it('explains a dgram bind error as UDP', async () => {
    const holder = await hold('udp');
    const app = `require('node:dgram').createSocket('udp4').bind(Number(process.argv[1]), '127.0.0.1');`;
    const plain = await runNode([...HOOKS.none(app), String(holder.port)]);
    const hooked = await runNode([...HOOKS.commonjs(app), String(holder.port)]);
    expect(plain.code).toBe(1);
    expect(hooked.code).toBe(1);
    expect(hooked.stderr).toContain(`Error: bind EADDRINUSE 127.0.0.1:${holder.port}`);
    expect(hooked.stderr).toMatch(new RegExp(`^portclash: port ${holder.port}/udp is held by .*\\(pid ${holder.pid}, `, 'm'));
  });

  it('says why an address is unavailable, and stays quiet for errors that are not about binding', async () => {
    const app = `const server = require('node:net').createServer();
server.on('error', (error) => { console.log(error.code); });
server.listen(0, '192.0.2.1');`;
    const hooked = await runNode(HOOKS.commonjs(app));
    expect(hooked.code).toBe(0);
    expect(hooked.stdout).toBe('EADDRNOTAVAIL\n');
    expect(hooked.stderr).toMatch(/^portclash: port 0\/tcp unavailable \(EADDRNOTAVAIL\) — 192\.0\.2\.1 is not an address of this host/);

    // an 'error' with a bind errno that no bind raised: emitted as always, explained never
    const other = `const server = require('node:net').createServer();
server.on('error', (error) => { console.log(error.code); });
server.emit('error', Object.assign(new Error('send EACCES'), { code: 'EACCES', syscall: 'send', address: '127.0.0.1', port: 9 }));`;
    expect(await runNode(HOOKS.commonjs(other))).toEqual({ code: 0, stdout: 'EACCES\n', stderr: '' });
  });

  for (const kind of ['commonjs', 'esm'] as const) {
    it(`${kind}: prints nothing when the bind succeeds, and the process ends as it would`, async () => {
      const app = `const server = require('node:net').createServer();
server.listen(0, '127.0.0.1', () => { console.log('listening'); server.close(); });`;
      const args = kind === 'commonjs' ? HOOKS.commonjs(app) : ['--import', 'portclash/register', '-e', app];
      expect(await runNode(args)).toEqual({ code: 0, stdout: 'listening\n', stderr: '' });
      // a script that binds nothing ends at once, as without the hook
      expect(await runNode(kind === 'commonjs' ? HOOKS.commonjs('') : ['--import', 'portclash/register', '-e', ''], 5000)).toEqual({
        code: 0,
        stdout: '',
        stderr: '',
      });
    });
  }
});
