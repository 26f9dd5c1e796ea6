// A load process: holds N loopback listeners and M established pairs until its parent goes away.
import net from 'node:net';
import { once } from 'node:events';

const [listenerCount, pairCount] = process.argv.slice(2).map(Number);

const listeners = [];
for (let i = 0; i < listenerCount; i++) {
  // spread over 127.0.0.0/8 so that hash chains look like a busy host's, not one address
  const host = `127.0.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
  const server = net.createServer((socket) => socket.on('error', () => {}));
  server.listen({ port: 0, host, backlog: 1024 });
  listeners.push(server);
}
await Promise.all(listeners.map((server) => (server.listening ? null : once(server, 'listening'))));

// Connect in batches so that no listen queue overflows.
const clients = [];
const batch = 256;
for (let start = 0; start < pairCount; start += batch) {
  const connecting = [];
  for (let i = start; i < Math.min(pairCount, start + batch); i++) {
    const server = listeners[i % listeners.length];
    const { address, port } = server.address();
    const accepted = once(server, 'connection');
    const client = net.connect({ port, host: address });
    client.on('error', () => {});
    clients.push(client);
    connecting.push(Promise.all([once(client, 'connect'), accepted]));
  }
  await Promise.all(connecting);
}

process.send({ ready: true, listeners: listeners.length, pairs: clients.length });
process.on('disconnect', () => process.exit(0));
