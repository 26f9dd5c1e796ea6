// The shapes of a bind prediction: what is asked, what the kernel's rules answer, and why.
import type { Forward } from '../forwards.js';
import type { OwnedSocket } from '../owners.js';
import type { SocketRecord } from '../records.js';

export type Verdict = 'free' | 'in-use' | 'denied' | 'unavailable' | 'unknown';

/** The errno a real bind()/listen() would fail with. EPERM (a cgroup-BPF program's or an LSM's refusal) only a trial bind sees. */
export type BindErrno = 'EADDRINUSE' | 'EACCES' | 'EPERM' | 'EADDRNOTAVAIL';

/**
 * A bind (and, for TCP, listen) to predict. Defaults model Node's `server.listen(port)`: host `::`
 * dual stack (`0.0.0.0` where IPv6 is off), TCP, SO_REUSEADDR on for TCP (libuv sets it) and off
 * for UDP (dgram's default), no SO_REUSEPORT, IPV6_V6ONLY off, and listen() for TCP.
 */
export interface BindRequest {
  /** A number, or a service name from /etc/services (`http`). */
  port: number | string;
  /** An IP address (inet_aton's short forms too: `127.1`), or a host name resolved as Node's listen(port, host) does (first address). */
  host?: string;
  protocol?: 'tcp' | 'udp';
  reuseAddr?: boolean;
  reusePort?: boolean;
  ipv6Only?: boolean;
  /** TCP: also call listen(), which runs the conflict check again. */
  listen?: boolean;
}

/** A request with every default filled in, and the caller the bind would run as. */
export interface ResolvedRequest {
  port: number;
  host: string;
  family: 'IPv4' | 'IPv6';
  protocol: 'tcp' | 'udp';
  reuseAddr: boolean;
  reusePort: boolean;
  ipv6Only: boolean;
  listen: boolean;
  /** The uid new sockets get (the caller's fsuid): SO_REUSEPORT sharing depends on it. null on Windows, which has none. */
  uid: number | null;
  /**
   * The caller left the host out: Node's listen(port) then binds `::` and, where that fails at
   * once, 0.0.0.0 (Windows' rules follow that retry). Absent when not known.
   */
  hostDefaulted?: boolean;
  /** The service name the port was given as, if it was. */
  service?: string;
}

export interface Prediction {
  port: number;
  host: string;
  protocol: 'tcp' | 'udp';
  verdict: Verdict;
  /**
   * The errno the bind would fail with; null when it would succeed, when the verdict is unknown,
   * and for an `in-use` whose error turns on what cannot be seen (Windows: EADDRINUSE or EACCES).
   */
  errno: BindErrno | null;
  /** One sentence naming the rule that decided. */
  reason: string;
  /** The sockets in the way, with their owners when they could be found. */
  conflicts: (SocketRecord | OwnedSocket)[];
  /** Facts the verdict rests on that could not be seen, and what each value would give. */
  assumptions: string[];
  /** True now, but worth knowing: an ephemeral port, a privileged one, another service's, a NAT rule that sends its packets elsewhere. */
  warnings: string[];
  /**
   * The NAT rules (Linux: nf_tables DNAT and redirects) that send this port's packets elsewhere
   * before any socket sees them, each also told in `warnings`; absent when none was found.
   */
  forwards?: Forward[];
  /**
   * `tables`: judged from the kernel's tables and rules, nothing bound. `probe`: settled by a trial
   * bind (`probe: true`, or a platform without tables), true at that instant only.
   */
  source: 'tables' | 'probe';
}
