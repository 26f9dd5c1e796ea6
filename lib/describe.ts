// One-line descriptions of owners, predictions and forwards, shared by the CLI and the library (describeBindError, a prediction's warnings).
import { formatEndpoint } from './address.js';
import type { NatForward } from './forwards.js';
import type { OwnedSocket, SocketOwner } from './owners.js';
import type { Prediction } from './predict/types.js';

/** One line describing a process. */
export function describeOwner(owner: SocketOwner): string {
  const facts = [`pid ${owner.pid}`];
  if (owner.user !== null) facts.push(`user ${owner.user}`);
  else if (owner.uid !== null) facts.push(`uid ${owner.uid}`);
  if (owner.startTime !== null) facts.push(`since ${formatSince(owner.startTime)}`);
  const service =
    owner.service?.container !== undefined
      ? describeContainer(owner)
      : owner.service?.windowsServices !== undefined
        ? `service ${owner.service.windowsServices.join(', ')}`
        : owner.service?.unit;
  if (service !== undefined) facts.push(service);
  if (owner.role !== undefined) facts.push(owner.role);
  return `${shorten(owner.command)} (${facts.join(', ')})`;
}

// A command line can be long and can hold newlines (node -e '…'): one readable line of it.
const COMMAND_WIDTH = 100;

export function shorten(command: string, width = COMMAND_WIDTH): string {
  const line = command.replace(/\p{Cc}+/gu, ' ').trim();
  return line.length <= width ? line : `${line.slice(0, width - 1)}…`;
}

function describeContainer(owner: SocketOwner): string {
  const container = owner.service!.container!;
  const id = container.id === undefined ? '' : ` ${container.id.slice(0, 12)}`;
  const pod = container.podUid === undefined ? '' : ` pod ${container.podUid}`;
  return `${container.runtime} container${id}${pod}`;
}

/** Today's start times as HH:MM, older ones with their date, in local time as ps prints them. */
function formatSince(start: Date, now = new Date()): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  const time = `${pad(start.getHours())}:${pad(start.getMinutes())}`;
  const sameDay = start.toDateString() === now.toDateString();
  return sameDay ? time : `${start.getFullYear()}-${pad(start.getMonth() + 1)}-${pad(start.getDate())} ${time}`;
}

const VERDICT_WORDS = { free: 'free', 'in-use': 'in use', denied: 'denied', unavailable: 'unavailable', unknown: 'unknown' } as const;

/** `3000/tcp in use — node server.js (pid 4121, user deploy) listens on *:3000` */
export function describePrediction(prediction: Prediction): string {
  const label = `${prediction.port}/${prediction.protocol}`;
  const errno = prediction.errno === null || prediction.verdict === 'in-use' ? '' : ` (${prediction.errno})`;
  const first = prediction.conflicts[0];
  if (prediction.verdict === 'in-use' && first !== undefined && 'owner' in first && first.owner !== null) {
    return `${label} in use — ${holder(first)}`;
  }
  return `${label} ${VERDICT_WORDS[prediction.verdict]}${errno} — ${prediction.reason}`;
}

function holder(socket: OwnedSocket): string {
  const owner = socket.owner!;
  const facts = [`pid ${owner.pid}`, ...(owner.user === null ? [] : [`user ${owner.user}`])];
  const wildcard = socket.localAddress === '0.0.0.0' || socket.localAddress === '::';
  const endpoint = wildcard ? `*:${socket.localPort}` : formatEndpoint(socket.family, socket.localAddress, socket.localPort);
  const verb =
    socket.state === 'LISTEN' ? 'listens on' : socket.protocol === 'udp' && socket.state === 'UNCONNECTED' ? 'is bound to' : `holds (${socket.state})`;
  return `${shorten(owner.command)} (${facts.join(', ')}) ${verb} ${endpoint}`;
}

/** A host as it stands before `:port`: an IPv6 address in brackets. */
export function bracketHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Where a DNAT or redirect sends packets: `192.0.2.10:80`, `this host:9091`, `[2001:db8::1] (same port)`. */
export function describeNatTarget(forward: NatForward): string {
  const { address, addressEnd, port, portEnd } = forward.target;
  const host =
    address === undefined ? (forward.kind === 'redirect' ? 'this host' : 'same address') : addressEnd === undefined ? address : `${address}-${addressEnd}`;
  const shown = address !== undefined ? bracketHost(host) : host;
  return port === undefined ? `${shown} (same port)` : `${shown}:${portEnd === undefined ? port : `${port}-${portEnd}`}`;
}
