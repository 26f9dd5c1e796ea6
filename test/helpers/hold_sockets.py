# Holds sockets Node cannot make (bound-only TCP, SO_REUSEPORT, V6ONLY, SO_BINDTODEVICE, other uids) for tests.
#
# Usage: python3 hold_sockets.py '<json spec>'
#   spec: [socket, ...] or {"user": "nobody", "dropAfter": false, "dumpable": false, "sockets": [socket, ...]}
#   dumpable (with user): after dropping privileges, become dumpable again, as a process started as that
#     user is. The kernel marks a process that changed its uid non-dumpable, and then only CAP_SYS_PTRACE
#     may pidfd_getfd its sockets, not the same user.
#   socket: {"protocol": "tcp"|"udp", "family": 4|6, "address": "127.0.0.1", "port": 0,
#            "reuseAddr": bool, "reusePort": bool, "ipv6Only": bool, "bindToDevice": "lo",
#            "listen": bool, "backlog": int, "connect": {"address": ..., "port": ...},
#            "selfConnect": "established"|"accepted"|"serverTimeWait"|"clientTimeWait"}
#   selfConnect (tcp): the holder plays both ends of one loopback connection through this socket.
#     established     listen, connect a client of its own, accept; hold all three.
#     accepted        the same, then close the listener; hold the accepted socket and the client.
#     serverTimeWait  as accepted, then the accepted side closes first: its TIME_WAIT holds the port.
#     clientTimeWait  the socket is a client, bound as given, connected to a listener of the holder's
#                     own (same address, port 0); it closes first, so its TIME_WAIT holds its port.
#   The entry then describes the accepted socket (with "peer": the client's end) or the TIME_WAIT
#   ({"fd": null, "inode": 0, "state": "TIME_WAIT", ...}), reported once /proc/net/tcp* shows it.
# Prints one JSON line {"pid", "uid", "sockets": [...]} once every socket exists, then holds them until
# stdin reaches EOF (the parent decides the lifetime) or SIGTERM. Exit 2: the spec is malformed.
import ctypes
import errno
import json
import os
import pwd
import socket
import sys
import time

# Python has had the constant on Linux since 3.3, but an odd build may lack it; 25 is the Linux value.
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)

SOCKET_KEYS = {
    'protocol', 'family', 'address', 'port', 'reuseAddr', 'reusePort', 'ipv6Only', 'bindToDevice',
    'listen', 'backlog', 'connect', 'selfConnect',
}
SELF_CONNECT_MODES = ('established', 'accepted', 'serverTimeWait', 'clientTimeWait')
# Every blocking step of a self-connection is on loopback and answers at once; this only bounds a bug.
STEP_TIMEOUT = 5.0
TCP_TIME_WAIT = 6
TOP_KEYS = {'user', 'dropAfter', 'dumpable', 'sockets'}
PR_SET_DUMPABLE = 4


class SpecError(Exception):
    pass


def check_type(where, key, value, expected):
    # bool is a subclass of int in Python; a port of `true` is a typo, not port 1.
    if isinstance(value, bool) and expected is not bool:
        raise SpecError(f'{where}.{key} must be {expected.__name__}, got {json.dumps(value)}')
    if not isinstance(value, expected):
        raise SpecError(f'{where}.{key} must be {expected.__name__}, got {json.dumps(value)}')


def check_port(where, key, value):
    check_type(where, key, value, int)
    if not 0 <= value <= 65535:
        raise SpecError(f'{where}.{key} must be 0..65535, got {value}')


def check_address(where, key, value, family):
    check_type(where, key, value, str)
    # Python's bind() resolves host names; a test means a literal address, so a name is a typo to report.
    literal = value.split('%', 1)[0] if family == 6 else value
    try:
        socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, literal)
    except OSError:
        raise SpecError(f'{where}.{key} must be a literal IPv{family} address, got {json.dumps(value)}') from None


def parse_socket(where, raw):
    if not isinstance(raw, dict):
        raise SpecError(f'{where} must be an object')
    # Unknown keys are rejected so a misspelt option fails loudly instead of silently testing the default.
    unknown = set(raw) - SOCKET_KEYS
    if unknown:
        raise SpecError(f'{where} has unknown keys: {", ".join(sorted(unknown))}')
    for key in ('protocol', 'family', 'address'):
        if key not in raw:
            raise SpecError(f'{where}.{key} is required')
    if raw['protocol'] not in ('tcp', 'udp'):
        raise SpecError(f'{where}.protocol must be "tcp" or "udp"')
    if raw['family'] not in (4, 6) or isinstance(raw['family'], bool):
        raise SpecError(f'{where}.family must be 4 or 6')
    check_address(where, 'address', raw['address'], raw['family'])
    check_port(where, 'port', raw.get('port', 0))
    for key in ('reuseAddr', 'reusePort', 'ipv6Only', 'listen'):
        if key in raw:
            check_type(where, key, raw[key], bool)
    if 'ipv6Only' in raw and raw['family'] != 6:
        raise SpecError(f'{where}.ipv6Only applies to family 6 only')
    if raw.get('listen') and raw['protocol'] != 'tcp':
        raise SpecError(f'{where}.listen applies to tcp only')
    if 'backlog' in raw:
        check_type(where, 'backlog', raw['backlog'], int)
    if 'bindToDevice' in raw:
        check_type(where, 'bindToDevice', raw['bindToDevice'], str)
    if 'connect' in raw:
        peer = raw['connect']
        if not isinstance(peer, dict) or set(peer) != {'address', 'port'}:
            raise SpecError(f'{where}.connect must be {{"address": ..., "port": ...}}')
        check_address(f'{where}.connect', 'address', peer['address'], raw['family'])
        check_port(f'{where}.connect', 'port', peer['port'])
    if 'selfConnect' in raw:
        mode = raw['selfConnect']
        if mode not in SELF_CONNECT_MODES:
            raise SpecError(f'{where}.selfConnect must be one of {", ".join(SELF_CONNECT_MODES)}')
        if raw['protocol'] != 'tcp':
            raise SpecError(f'{where}.selfConnect applies to tcp only')
        if 'connect' in raw:
            raise SpecError(f'{where}.selfConnect and connect exclude each other')
        # A server mode listens by definition; a client that also listened could not connect.
        if mode == 'clientTimeWait' and raw.get('listen', False):
            raise SpecError(f'{where}.selfConnect clientTimeWait is a client and cannot listen')
        if mode != 'clientTimeWait' and raw.get('listen', True) is False:
            raise SpecError(f'{where}.selfConnect {mode} needs a listener; drop listen: false')
    return raw


def parse_spec(text):
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(f'spec is not JSON: {error}') from None
    user = None
    drop_after = False
    dumpable = False
    if isinstance(raw, dict):
        unknown = set(raw) - TOP_KEYS
        if unknown:
            raise SpecError(f'spec has unknown keys: {", ".join(sorted(unknown))}')
        if 'user' in raw:
            check_type('spec', 'user', raw['user'], str)
            user = raw['user']
        if 'dropAfter' in raw:
            check_type('spec', 'dropAfter', raw['dropAfter'], bool)
            drop_after = raw['dropAfter']
            if drop_after and user is None:
                raise SpecError('spec.dropAfter needs spec.user')
        if 'dumpable' in raw:
            check_type('spec', 'dumpable', raw['dumpable'], bool)
            dumpable = raw['dumpable']
            if dumpable and user is None:
                raise SpecError('spec.dumpable needs spec.user')
        sockets = raw.get('sockets')
    else:
        sockets = raw
    if not isinstance(sockets, list):
        raise SpecError('spec must be a list of sockets or {"sockets": [...]}')
    parsed = [parse_socket(f'sockets[{index}]', item) for index, item in enumerate(sockets)]
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise SpecError(f'no such user: {user}') from None
    return user, drop_after, dumpable, parsed


def drop_privileges(user, dumpable):
    entry = pwd.getpwnam(user)
    # Groups first, uid last: once the uid is dropped the process may no longer change its groups.
    try:
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
    except OSError as error:
        print(f'hold_sockets: cannot become {user} ({errno_name(error)}); running as another user needs root',
              file=sys.stderr)
        sys.exit(1)
    if dumpable:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0:
            print(f'hold_sockets: prctl(PR_SET_DUMPABLE) failed ({errno.errorcode.get(ctypes.get_errno())})', file=sys.stderr)
            sys.exit(1)


def errno_name(error):
    return errno.errorcode.get(error.errno, str(error.errno))


def describe(sock, fd_number):
    local = sock.getsockname()
    held = {
        'fd': fd_number,
        'inode': os.fstat(fd_number).st_ino,
        'localAddress': local[0],
        'localPort': local[1],
    }
    try:
        remote = sock.getpeername()
    except OSError:
        remote = None
    if remote is not None:
        held['remoteAddress'] = remote[0]
        held['remotePort'] = remote[1]
    return held


def open_socket(spec):
    if 'selfConnect' in spec:
        return self_connect(spec)
    family = socket.AF_INET if spec['family'] == 4 else socket.AF_INET6
    kind = socket.SOCK_STREAM if spec['protocol'] == 'tcp' else socket.SOCK_DGRAM
    sock = socket.socket(family, kind)
    step = 'setsockopt'
    try:
        set_options(sock, spec)
        step = 'bind'
        sock.bind((spec['address'], spec.get('port', 0)))
        if spec.get('listen', False):
            step = 'listen'
            sock.listen(spec.get('backlog', 128))
        if 'connect' in spec:
            step = 'connect'
            sock.connect((spec['connect']['address'], spec['connect']['port']))
    except OSError as error:
        # The socket is closed, not held half-made: a failed connect can leave an autobound port behind,
        # which would be a socket the test never asked for.
        sock.close()
        return None, {'fd': None, 'inode': None, 'error': errno_name(error), 'syscall': step}
    return sock, describe(sock, sock.fileno())


def set_options(sock, spec):
    if spec.get('reuseAddr', False):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if spec.get('reusePort', False):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Set even when false: the default comes from net.ipv6.bindv6only, which a test should not depend on.
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if spec.get('ipv6Only', False) else 0)
    if 'bindToDevice' in spec:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, spec['bindToDevice'].encode())


def reachable_address(family, address):
    # A wildcard cannot be connected to; its family's loopback reaches it.
    if family == socket.AF_INET:
        return '127.0.0.1' if address == '0.0.0.0' else address
    if socket.inet_pton(socket.AF_INET6, address.split('%', 1)[0]) == bytes(16):
        return '::1'
    return address


def accept(listener):
    # Python gives an accepted socket no timeout, whatever the listener's; every step here must be bounded.
    accepted, _ = listener.accept()
    accepted.settimeout(STEP_TIMEOUT)
    return accepted


def read_eof(sock):
    # recv() returning b'' means the peer's FIN has been processed: the state it leads to is reached.
    while sock.recv(4096):
        pass


def time_wait_rows(port):
    rows = []
    for table in ('tcp', 'tcp6'):
        with open(f'/proc/self/net/{table}') as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(':', 1)[1], 16)
                remote_port = int(fields[2].rsplit(':', 1)[1], 16)
                if local_port == port and int(fields[3], 16) == TCP_TIME_WAIT:
                    rows.append(remote_port)
    return rows


def await_time_wait(local_port, remote_port):
    # The FIN that makes the TIME_WAIT was processed before read_eof returned, so the row should be there
    # on the first read; the deadline only turns a surprise into a report instead of a hang.
    deadline = time.monotonic() + STEP_TIMEOUT
    while remote_port not in time_wait_rows(local_port):
        if time.monotonic() > deadline:
            raise TimeoutError(f'no TIME_WAIT row for local port {local_port} within {STEP_TIMEOUT} s')
        time.sleep(0.01)


def self_connect(spec):
    """The holder is both ends of a connection through the spec's socket; see the usage at the top."""
    family = socket.AF_INET if spec['family'] == 4 else socket.AF_INET6
    mode = spec['selfConnect']
    made = []

    def new_socket():
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(STEP_TIMEOUT)
        made.append(sock)
        return sock

    def close_into_time_wait(closer, peer):
        """closer sends the first FIN and is the end left in TIME_WAIT; both ends are closed."""
        nonlocal step
        local, remote = closer.getsockname(), closer.getpeername()
        step = 'shutdown'
        closer.shutdown(socket.SHUT_WR)
        read_eof(peer)
        peer.close()
        read_eof(closer)
        closer.close()
        step = 'timeWait'
        await_time_wait(local[1], remote[1])
        return None, time_wait_entry(local, remote)

    step = 'setsockopt'
    try:
        if mode == 'clientTimeWait':
            step = 'listen'
            listener = new_socket()
            listener.bind((reachable_address(family, spec['address']), 0))
            listener.listen(1)
            client = new_socket()
            step = 'setsockopt'
            set_options(client, spec)
            step = 'bind'
            client.bind((spec['address'], spec.get('port', 0)))
            step = 'connect'
            client.connect(listener.getsockname()[:2])
            step = 'accept'
            accepted = accept(listener)
            made.append(accepted)
            listener.close()
            return close_into_time_wait(client, accepted)

        server = new_socket()
        set_options(server, spec)
        step = 'bind'
        server.bind((spec['address'], spec.get('port', 0)))
        step = 'listen'
        server.listen(spec.get('backlog', 128))
        client = new_socket()
        step = 'connect'
        client.connect((reachable_address(family, spec['address']), server.getsockname()[1]))
        step = 'accept'
        accepted = accept(server)
        made.append(accepted)
        if mode == 'established':
            entry = describe(accepted, accepted.fileno())
            entry['peer'] = describe(client, client.fileno())
            return [server, accepted, client], entry
        server.close()
        if mode == 'accepted':
            entry = describe(accepted, accepted.fileno())
            entry['peer'] = describe(client, client.fileno())
            return [accepted, client], entry
        return close_into_time_wait(accepted, client)
    except OSError as error:
        for sock in made:
            sock.close()
        name = 'ETIMEDOUT' if isinstance(error, TimeoutError) else errno_name(error)
        return None, {'fd': None, 'inode': None, 'error': name, 'syscall': step}


def time_wait_entry(local, remote):
    return {
        'fd': None, 'inode': 0, 'state': 'TIME_WAIT',
        'localAddress': local[0], 'localPort': local[1], 'remoteAddress': remote[0], 'remotePort': remote[1],
    }


def main(argv):
    if len(argv) != 2:
        print('usage: python3 hold_sockets.py \'<json spec>\'', file=sys.stderr)
        return 2
    try:
        user, drop_after, dumpable, specs = parse_spec(argv[1])
    except SpecError as error:
        print(f'hold_sockets: {error}', file=sys.stderr)
        return 2

    # A socket's uid is its creator's fsuid at socket() time and never changes, so the order here decides
    # which uid /proc/net and sock_diag report: drop first to own the sockets as `user`, after to keep root's.
    if user is not None and not drop_after:
        drop_privileges(user, dumpable)
    held = [open_socket(spec) for spec in specs]
    if user is not None and drop_after:
        drop_privileges(user, dumpable)

    report = {'pid': os.getpid(), 'uid': os.getuid(), 'sockets': [entry for _, entry in held]}
    sys.stdout.write(json.dumps(report) + '\n')
    sys.stdout.flush()

    # SIGTERM keeps its default action (exit); reading to EOF ties our lifetime to the parent's pipe, so a
    # crashed test run cannot leave holders behind.
    while sys.stdin.buffer.read(65536):
        pass
    for sock, _ in held:
        # A self-connection holds a list of sockets; a TIME_WAIT holds none.
        for one in (sock if isinstance(sock, list) else [sock] if sock is not None else []):
            one.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
