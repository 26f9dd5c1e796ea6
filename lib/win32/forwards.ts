// findForwards on Windows: the `netsh interface portproxy` rules, read from the registry keys netsh keeps them in, and what each value means.
import { parseIPv4, parseIPv6 } from '../address.js';
import { getBinding, type NativeBinding, type RegistryKeyReading, type RegistryValue } from '../binding.js';
import { fromAddonSync, PortclashError } from '../errors.js';
import type { ForwardsOptions, ForwardsReport, ForwardsUnknown, PortProxyType, ProxyForward } from '../forwards.js';
import type { Family } from '../records.js';
import { win32ErrorName } from './errors.js';

/**
 * The four kinds of proxy and the key of each. portproxy proxies TCP alone (`protocol=tcp` is the
 * only value netsh takes), so only the `tcp` keys hold rules.
 */
export const PORTPROXY_KEYS: readonly { type: PortProxyType; path: string; listen: Family; connect: Family }[] = (
  [
    ['v4tov4', 'IPv4', 'IPv4'],
    ['v4tov6', 'IPv4', 'IPv6'],
    ['v6tov4', 'IPv6', 'IPv4'],
    ['v6tov6', 'IPv6', 'IPv6'],
  ] as const
).map(([type, listen, connect]) => ({ type, path: `SYSTEM\\CurrentControlSet\\Services\\PortProxy\\${type}\\tcp`, listen, connect }));

const ERROR_FILE_NOT_FOUND = 2;
const REG_SZ = 1;

/** Registry types by number (winnt.h), to say what a value that is not REG_SZ is. */
const REGISTRY_TYPES: ReadonlyMap<number, string> = new Map([
  [0, 'REG_NONE'],
  [1, 'REG_SZ'],
  [2, 'REG_EXPAND_SZ'],
  [3, 'REG_BINARY'],
  [4, 'REG_DWORD'],
  [5, 'REG_DWORD_BIG_ENDIAN'],
  [6, 'REG_LINK'],
  [7, 'REG_MULTI_SZ'],
  [11, 'REG_QWORD'],
]);

/** A host name as RFC 1123 writes one: labels of letters, digits and inner hyphens, split by dots. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** An IPv6 zone (`%12`, `%eth0`) after an address, which netsh may be given for a link-local one. */
const ZONE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Whether `text` is an address of `family`, a host name (which iphlpsvc resolves itself), or, to
 * listen on, `*`; else why not. `*` is what `netsh interface portproxy show` is said to print for
 * a rule added without listenaddress (not seen here): kept as stored, never turned into an address.
 */
function checkHost(text: string, family: Family, side: 'listen' | 'connect'): string | null {
  if (text === '') return 'the address is empty';
  if (text === '*' && side === 'listen') return null;
  if (family === 'IPv4') {
    if (parseIPv4(text) !== null) return null;
    if (text.includes(':')) return `${text} is an IPv6 address, where an IPv4 one belongs`;
  } else {
    const percent = text.indexOf('%');
    const address = percent < 0 ? text : text.slice(0, percent);
    if (parseIPv6(address) !== null && (percent < 0 || ZONE.test(text.slice(percent + 1)))) return null;
    if (parseIPv4(text) !== null) return `${text} is an IPv4 address, where an IPv6 one belongs`;
    if (text.includes(':')) return `${text} is not an IPv6 address`;
  }
  // a name of digits and dots alone is an address that did not parse (999.1.1.1), not a host
  if (HOST_NAME.test(text) && !/^[0-9.]+$/.test(text)) return null;
  return `${JSON.stringify(text)} is neither an ${family} address nor a host name`;
}

/** `host/port` → its parts, or why it is not that. The port is decimal, 1 to 65535: a proxy listens on, and connects to, a port it names. */
function splitEndpoint(text: string, family: Family, side: 'listen' | 'connect'): { host: string; port: number } | { problem: string } {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return { problem: `${JSON.stringify(text)} has no "/" between address and port` };
  const host = text.slice(0, slash);
  const portText = text.slice(slash + 1);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    return { problem: `the port of ${JSON.stringify(text)} is not a number from 1 to 65535` };
  }
  const problem = checkHost(host, family, side);
  return problem === null ? { host, port: Number(portText) } : { problem };
}

/** The listen port of a value whose name at least ends in one, to filter an unreadable rule by. */
function listenPortOf(name: string): number | null {
  const match = /\/([0-9]{1,5})$/.exec(name);
  return match === null || Number(match[1]) < 1 || Number(match[1]) > 65535 ? null : Number(match[1]);
}

/** One portproxy key: its type, its path under HKLM, and the families it listens on and connects with. */
export type PortProxyKey = (typeof PORTPROXY_KEYS)[number];

/** What one value of a found key is: a forward, or an unknown with the listen port it may have. */
type Interpreted = { forward: ProxyForward } | { unknown: ForwardsUnknown; port: number | null };

const fullPath = (key: PortProxyKey): string => `HKLM\\${key.path}`;

/**
 * What one value of a portproxy key means: a ProxyForward when it is a REG_SZ named
 * `listenaddress/listenport` holding `connectaddress/connectport` (split at the last `/`, so IPv6
 * addresses keep their colons), each address of its side's family or a host name; else an unknown
 * saying why, with the listen port when the name at least ends in one.
 */
export function interpretValue(key: PortProxyKey, value: RegistryValue): Interpreted {
  const unknown = (why: string): Interpreted => ({
    unknown: {
      source: 'rule',
      reason: `the portproxy value ${JSON.stringify(value.name)} in ${fullPath(key)} ${why}, so it may forward its port anywhere`,
      ...(value.error === 0 ? {} : { error: win32ErrorName(value.error) }),
      type: key.type,
      key: fullPath(key),
      value: { name: value.name, data: value.type === REG_SZ && value.error === 0 ? value.data : null },
    },
    port: listenPortOf(value.name),
  });
  if (value.error !== 0) return unknown(`could not be read (RegEnumValueW: ${win32ErrorName(value.error)})`);
  if (value.type !== REG_SZ || value.data === null) {
    return unknown(`is of type ${REGISTRY_TYPES.get(value.type) ?? `#${value.type}`}, where netsh writes REG_SZ`);
  }
  const listen = splitEndpoint(value.name, key.listen, 'listen');
  if ('problem' in listen) return unknown(`is not a rule (its name should be listenaddress/listenport: ${listen.problem})`);
  const connect = splitEndpoint(value.data, key.connect, 'connect');
  if ('problem' in connect) return unknown(`is not a rule (its data should be connectaddress/connectport: ${connect.problem})`);
  return {
    forward: {
      kind: 'proxy',
      protocol: 'tcp',
      family: key.listen,
      ports: [[listen.port, listen.port]],
      listenAddress: listen.host,
      target: { address: connect.host, port: connect.port },
      targetFamily: key.connect,
      type: key.type,
      key: fullPath(key),
      value: { name: value.name, data: value.data },
    },
  };
}

/** The forwards and unknowns of the four keys' readings (one per PORTPROXY_KEYS entry, in order), filtered by `options`. */
export function interpretPortProxy(readings: readonly RegistryKeyReading[], options: ForwardsOptions): ForwardsReport<ProxyForward> {
  const forwards: ProxyForward[] = [];
  const unknown: ForwardsUnknown[] = [];
  // every rule is TCP: asking for UDP leaves nothing to report, what cannot be read included
  if (options.protocol === 'udp') return { forwards, unknown, complete: true };
  const { port } = options;
  PORTPROXY_KEYS.forEach((key, index) => {
    const reading = readings[index];
    if (reading === undefined) throw new PortclashError('ERR_NATIVE', `readRegistryValues gave ${readings.length} readings for ${PORTPROXY_KEYS.length} keys`);
    if (reading.errno === ERROR_FILE_NOT_FOUND && reading.syscall === 'RegOpenKeyExW') return; // no rule of this type was ever added
    if (reading.errno !== 0 || reading.changing) {
      const why = reading.changing
        ? 'kept changing while it was read (3 times)'
        : `could not be read (${reading.syscall ?? 'registry'}: ${win32ErrorName(reading.errno)})`;
      unknown.push({
        source: 'registry',
        reason: `the portproxy key ${fullPath(key)} ${why}, so its ${key.type} rules may forward any TCP port`,
        ...(reading.errno === 0 ? {} : { error: win32ErrorName(reading.errno) }),
        type: key.type,
        key: fullPath(key),
      });
      return;
    }
    for (const value of reading.values) {
      const found = interpretValue(key, value);
      if ('forward' in found) {
        if (port === undefined || found.forward.ports[0]![0] === port) forwards.push(found.forward);
      } else if (port === undefined || found.port === null || found.port === port) {
        unknown.push(found.unknown);
      }
    }
  });
  return { forwards, unknown, complete: unknown.length === 0 };
}

/** findForwards on Windows through `binding` (the addon by default; tests give a fake). Reading HKLM needs no privilege. */
export function readPortProxyForwards(options: ForwardsOptions, binding: NativeBinding = getBinding()): ForwardsReport<ProxyForward> {
  if (binding.readRegistryValues === undefined) {
    throw new PortclashError(
      'ERR_ADDON_LOAD',
      'this build of the addon has no readRegistryValues. Fix: `npm run build:win32` in a clone of portclash, or reinstall it.',
    );
  }
  const readings = fromAddonSync('reading the portproxy registry keys', () => binding.readRegistryValues!(PORTPROXY_KEYS.map((key) => key.path)));
  return interpretPortProxy(readings, options);
}
