// A load process: holds N loopback listeners, M established pairs and U UDP sockets until its parent goes away.
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';

/** @import { AddressInfo } from 'node:net' */

if (process.send === undefined) throw new Error('load-child.js reports to the process that forked it: start it with fork() (bench/load.js)');

const [listenerCount, pairCount, udpCount = 0] = process.argv.slice(2, 5).map(Number);
// 'sources': each client connects from an address of its own in 127.64.0.0/10, as clients of a busy server come from many
const manySources = process.argv[5] === 'sources';

const listeners = [];
for (let i = 0; i < listenerCount; i++) {
  // spread over 127.0.0.0/8 so that hash chains look like a busy host's, not one address
  const host = `127.0.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
  const server = net.createServer((socket) => socket.on('error', () => {}));
  server.listen({ port: 0, host, backlog: 1024 });
  listeners.push(server);
}
await Promise.all(listeners.filter((server) => !server.listening).map((server) => once(server, 'listening')));

// Connect in batches so that no listen queue overflows.
const clients = [];
const batch = 256;
for (let start = 0; start < pairCount; start += batch) {
  const connecting = [];
  for (let i = start; i < Math.min(pairCount, start + batch); i++) {
    const server = listeners[i % listeners.length];
    // a TCP server listening on a host and port has an AddressInfo, not a pipe name
    const { address, port } = /** @type {AddressInfo} */ (server.address());
    const accepted = once(server, 'connection');
    const client = net.connect({
      port,
      host: address,
      ...(manySources ? { localAddress: `127.${64 + ((i >> 16) & 63)}.${(i >> 8) & 255}.${i & 255 || 1}` } : {}),
    });
    client.on('error', () => {});
    clients.push(client);
    connecting.push(Promise.all([once(client, 'connect'), accepted]));
  }
  await Promise.all(connecting);
}

// UDP: half bound and unconnected (servers), half connected to one of those (clients).
const udpSockets = [];
for (let i = 0; i < udpCount; i++) {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, `127.0.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`);
  udpSockets.push(socket);
}
await Promise.all(udpSockets.map((socket) => once(socket, 'listening')));
const connecting = [];
for (let i = 1; i < udpSockets.length; i += 2) {
  const peer = udpSockets[i - 1].address();
  udpSockets[i].connect(peer.port, peer.address);
  connecting.push(once(udpSockets[i], 'connect'));
}
await Promise.all(connecting);

process.send({ ready: true, listeners: listeners.length, pairs: clients.length, udp: udpSockets.length });
process.on('disconnect', () => process.exit(0));
