// The Windows facts a bind depends on: local addresses, this process's account, and the dynamic and excluded port ranges netsh lists.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../address.js';
import type { PortRange } from '../ranges.js';
import type { Family, Protocol } from '../records.js';
import { NetshSession, type ExcludedRange, type NetshAnswer, type NetshOptions } from './netsh.js';

/** One value per protocol and family, as netsh keeps excluded ranges. */
export type PerProtocolFamily<T> = Record<Protocol, Record<Family, T>>;

export interface Win32Facts {
  kernel: 'win32';
  /**
   * An IPv6 address shows among the interfaces (`::1` on the loopback at least), so an AF_INET6
   * socket can be made and Node's listen(port) binds `::`.
   */
  ipv6Enabled: boolean;
  /**
   * The addresses of this host, canonical text, from os.networkInterfaces(). libuv lists only the
   * adapters whose OperStatus is Up (src/win/util.c, uv_interface_addresses), so an address of an
   * adapter that is down or disconnected is missing here; whether Windows lets a socket bind such
   * an address is not established, and the rules say so when they call an address not local.
   */
  localAddresses: Record<Family, string[]>;
  /**
   * This process's account as `DOMAIN\name`, from its token: Windows lets a second socket share a
   * port in some cases only when both belong to the same account. null when it could not be read.
   */
  user: string | null;
  /** Windows has no uids: sockets are compared by account (`user`). */
  uid: null;
  /**
   * Where connect() and port 0 take TCP ports from: `netsh interface ipv4 show dynamicport tcp`,
   * or Windows' default 49152–65535 (KB 929851) when netsh could not be read.
   */
  ephemeralRange: [number, number];
  /** The same for UDP (`… show dynamicport udp`). */
  udpEphemeralRange: [number, number];
  /** Why a dynamic range above is Windows' default rather than netsh's answer; empty when netsh answered. */
  ephemeralUnread: string[];
  /** `netsh interface ipv4|ipv6 show excludedportrange protocol=tcp|udp`; null where it could not be read. */
  excluded: PerProtocolFamily<ExcludedRange[] | null>;
  /** Why each null in `excluded` is null. */
  excludedUnread: PerProtocolFamily<string | null>;
  /**
   * Whether TCP sockets that are bound but neither listening nor connected are in the socket
   * table. IP Helper's tables leave them out (netstat shows them only with -q, Get-NetTCPConnection
   * as "Bound": MicrosoftDocs/windows-itpro-docs#3652, microsoft/WSL#3951), so false unless the
   * backend reads them some other way.
   */
  boundSocketsVisible: boolean;
}

/** Windows' dynamic port range since Vista and Server 2008 (KB 929851), for when netsh cannot say. */
export const WINDOWS_DEFAULT_DYNAMIC_RANGE: PortRange = [49152, 65535];

/** What buildWin32Facts is made from: what os.networkInterfaces(), the token and netsh answered. */
export interface Win32FactInputs {
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  user: string | null;
  dynamicPorts: Record<Protocol, NetshAnswer<PortRange>>;
  excluded: PerProtocolFamily<NetshAnswer<ExcludedRange[]>>;
  boundSocketsVisible?: boolean;
}

function perProtocolFamily<T>(value: (protocol: Protocol, family: Family) => T): PerProtocolFamily<T> {
  const byFamily = (protocol: Protocol) => ({ IPv4: value(protocol, 'IPv4'), IPv6: value(protocol, 'IPv6') });
  return { tcp: byFamily('tcp'), udp: byFamily('udp') };
}

/** The facts from their inputs: pure, so each input's shapes can be tested on any OS. */
export function buildWin32Facts(inputs: Win32FactInputs): Win32Facts {
  const localAddresses = listLocalAddresses(inputs.interfaces);
  const ephemeralUnread: string[] = [];
  const dynamic = (protocol: Protocol): [number, number] => {
    const answer = inputs.dynamicPorts[protocol];
    if (!('reason' in answer)) return [answer.value[0], answer.value[1]];
    ephemeralUnread.push(answer.reason);
    return [WINDOWS_DEFAULT_DYNAMIC_RANGE[0], WINDOWS_DEFAULT_DYNAMIC_RANGE[1]];
  };
  return {
    kernel: 'win32',
    ipv6Enabled: localAddresses.IPv6.length > 0,
    localAddresses,
    user: inputs.user,
    uid: null,
    ephemeralRange: dynamic('tcp'),
    udpEphemeralRange: dynamic('udp'),
    ephemeralUnread,
    excluded: perProtocolFamily((protocol, family) => inputs.excluded[protocol][family].value),
    excludedUnread: perProtocolFamily((protocol, family) => {
      const answer = inputs.excluded[protocol][family];
      return 'reason' in answer ? answer.reason : null;
    }),
    boundSocketsVisible: inputs.boundSocketsVisible ?? false,
  };
}

/** Every address of every interface that is up, per family, canonical and without repeats. */
function listLocalAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): Record<Family, string[]> {
  const found = { IPv4: new Set<string>(), IPv6: new Set<string>() };
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4') {
        const bytes = parseIPv4(entry.address);
        if (bytes !== null) found.IPv4.add(formatIPv4(bytes));
      } else {
        // os.networkInterfaces() gives a link-local address's zone as scopeid, not in the text
        const bytes = parseIPv6(entry.address.replace(/%.*$/, ''));
        if (bytes !== null) found.IPv6.add(formatIPv6(bytes));
      }
    }
  }
  return { IPv4: [...found.IPv4], IPv6: [...found.IPv6] };
}

export interface ReadWin32FactsOptions {
  /** This process's account, `DOMAIN\name`, as the addon reads it from the token; null when it could not. */
  user: string | null;
  netsh?: NetshOptions;
  /** Replaces os.networkInterfaces() (tests). */
  interfaces?: () => NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** Set when the socket table the rules are given includes bound-only TCP sockets. */
  boundSocketsVisible?: boolean;
}

/**
 * Reads every fact afresh (a stale fact is a wrong answer): the interfaces, and six netsh
 * questions asked once each, within the timeout, and not at all after one timed out.
 */
export function readWin32Facts(options: ReadWin32FactsOptions): Win32Facts {
  const netsh = new NetshSession(options.netsh);
  const excluded = perProtocolFamily((protocol, family) => netsh.excludedRanges(family, protocol));
  const dynamicPorts = { tcp: netsh.dynamicPorts('IPv4', 'tcp'), udp: netsh.dynamicPorts('IPv4', 'udp') };
  return buildWin32Facts({
    interfaces: (options.interfaces ?? networkInterfaces)(),
    user: options.user,
    dynamicPorts,
    excluded,
    ...(options.boundSocketsVisible === undefined ? {} : { boundSocketsVisible: options.boundSocketsVisible }),
  });
}
