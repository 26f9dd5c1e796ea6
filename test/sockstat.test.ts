// /proc/net/sockstat's counters: the hint that lets predictBind ask for every state at once where a namespace holds few sockets.
import { createServer, type Server } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';

import { counter, countSockets } from '../lib/linux/sockstat.js';

const SOCKSTAT = `sockets: used 8
TCP: inuse 3 orphan 0 tw 2 alloc 40 mem 1
UDP: inuse 1 mem 0
UDPLITE: inuse 0
`;

describe('counter', () => {
  it('reads the number after a field on the line of a protocol, and nothing from another line', () => {
    expect(counter(SOCKSTAT, 'TCP', 'inuse')).toBe(3);
    expect(counter(SOCKSTAT, 'TCP', 'tw')).toBe(2);
    expect(counter(SOCKSTAT, 'UDP', 'inuse')).toBe(1);
    expect(counter(SOCKSTAT, 'UDPLITE', 'inuse')).toBe(0);
    expect(counter(SOCKSTAT, 'UDP', 'tw')).toBeNull();
    expect(counter(SOCKSTAT, 'TCP6', 'inuse')).toBeNull();
    expect(counter('TCP: inuse many\n', 'TCP', 'inuse')).toBeNull();
    expect(counter('TCP: inuse -1\n', 'TCP', 'inuse')).toBeNull();
    expect(counter('', 'TCP', 'inuse')).toBeNull();
  });
});

describe.runIf(process.platform === 'linux')('countSockets', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('counts at least the listeners this process holds, and says nothing of another namespace', async () => {
    for (let index = 0; index < 3; index++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    expect(countSockets('tcp', null)).toBeGreaterThanOrEqual(3);
    expect(countSockets('udp', null)).toBeGreaterThanOrEqual(0);
    expect(countSockets('tcp', { path: '/proc/1/ns/net', identity: null, givenPid: 1 })).toBeNull();
  });
});
