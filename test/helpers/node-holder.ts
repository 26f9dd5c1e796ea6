// A Node child process holding a TCP listener or a bound UDP socket on 127.0.0.1, for tests that need a holder's pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

const HOLD = `
const protocol = process.argv[1];
const ready = (address) => process.stdout.write(address.port + '\\n');
if (protocol === 'udp') {
  const socket = require('node:dgram').createSocket('udp4');
  socket.bind(0, '127.0.0.1', () => ready(socket.address()));
} else {
  const server = require('node:net').createServer();
  server.listen(0, '127.0.0.1', () => ready(server.address()));
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

export interface NodeHolder {
  pid: number;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the holder and resolves once it reports its port; it exits when stop() closes its stdin. */
export async function holdPort(protocol: 'tcp' | 'udp', timeoutMs = 10_000): Promise<NodeHolder> {
  const child = spawn(process.execPath, ['-e', HOLD, protocol], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const [line] = (await Promise.race([once(lines, 'line', { signal }), once(child, 'exit', { signal }).then(() => [null])])) as [string | null];
    if (line === null) throw new Error('the holder exited before it reported its port');
    return {
      pid: child.pid!,
      port: Number(line),
      child,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = once(child, 'exit', { signal: AbortSignal.timeout(timeoutMs) });
        child.stdin.end();
        await exited;
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    lines.close();
  }
}
