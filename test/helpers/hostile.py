# Hostile socket holders for the do-no-harm tests: one socket behind very many fds, or a lingering close.
#
# Usage: python3 hostile.py dups <count>
#   A TCP listener on 127.0.0.1, port 0, duplicated with dup2 onto <count> more fds: as many as the hard
#   RLIMIT_NOFILE allows in this process, the rest in forked children. Prints {"pid", "inode", "port",
#   "holders": [{"pid", "fds": [fd, ...], "range": [first, last]}]}, every listed fd and every fd of each
#   range referring to the listener; holds until stdin's EOF, the children until this process ends.
# Usage: python3 hostile.py deep <count>
#   Two TCP listeners on 127.0.0.1, port 0, in this one process: `low` at its own fd and dup2'ed onto
#   <count> more, and `high` moved to the fd after the last dup, so that a reader of /proc/<pid>/fd meets
#   it only after every dup (the kernel lists fds in ascending order). Prints {"pid", "low": {"fd",
#   "inode", "port", "range": [first, last]}, "high": {"fd", "inode", "port"}}; holds until stdin's EOF.
# Usage: python3 hostile.py linger <seconds>
#   A loopback connection to a listener of its own whose accepted end has SO_LINGER {1, seconds} and a
#   full send queue the peer (held, never read) cannot take, so that the last close of that socket
#   waits out the linger. Prints {"pid", "fd", "inode", "port"}; then, per stdin line: "close" closes the
#   lingering fd and prints "closed". Holds everything else until stdin's EOF.
import json
import os
import resource
import socket
import struct
import sys


def report(value):
    sys.stdout.write(json.dumps(value) + '\n')
    sys.stdout.flush()


def hold_dups(count):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    fd = listener.fileno()
    # fd numbers are bounded by RLIMIT_NOFILE, whose hard limit only CAP_SYS_RESOURCE may raise: beyond
    # it, forked children share the load, each holding the inherited listener and its own dups
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    first = max(fd + 1, 64)
    per_process = hard - first
    if per_process < 1:
        raise SystemExit(f'RLIMIT_NOFILE {hard} leaves no room for dups')
    shares = []
    left = count
    while left > 0:
        shares.append(min(left, per_process))
        left -= shares[-1]
    # children end when this process does: they block reading a pipe whose only writer is here
    lifeline_read, lifeline_write = os.pipe()
    holders = []
    for index, share in enumerate(shares):
        last = first + share - 1
        if index == 0:
            holders.append({'pid': os.getpid(), 'fds': [fd], 'range': [first, last]})
            continue
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(lifeline_write)
            os.close(ready_read)
            for target in range(first, last + 1):
                os.dup2(fd, target, inheritable=False)
            os.write(ready_write, b'1')
            os.read(lifeline_read, 1)
            os._exit(0)
        os.close(ready_write)
        if os.read(ready_read, 1) != b'1':
            raise SystemExit('a dup holder child failed')
        os.close(ready_read)
        holders.append({'pid': pid, 'fds': [fd], 'range': [first, last]})
    os.close(lifeline_read)
    for target in range(first, first + shares[0]):
        os.dup2(fd, target, inheritable=False)
    report({'pid': os.getpid(), 'inode': os.fstat(fd).st_ino, 'port': listener.getsockname()[1], 'holders': holders})
    sys.stdin.read()
    os.close(lifeline_write)
    for holder in holders[1:]:
        os.waitpid(holder['pid'], 0)


def hold_deep(count):
    low = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    low.bind(('127.0.0.1', 0))
    low.listen(8)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    first = max(low.fileno() + 1, 64)
    last = first + count - 1
    if last + 1 >= hard:
        raise SystemExit(f'RLIMIT_NOFILE {hard} leaves no room for {count} dups in one process')
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for target in range(first, last + 1):
        os.dup2(low.fileno(), target, inheritable=False)
    high = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    high.bind(('127.0.0.1', 0))
    high.listen(8)
    high_fd = last + 1
    os.dup2(high.fileno(), high_fd, inheritable=False)
    port = high.getsockname()[1]
    high.close()  # the listener lives on through high_fd alone
    report({
        'pid': os.getpid(),
        'low': {'fd': low.fileno(), 'inode': os.fstat(low.fileno()).st_ino, 'port': low.getsockname()[1], 'range': [first, last]},
        'high': {'fd': high_fd, 'inode': os.fstat(high_fd).st_ino, 'port': port},
    })
    sys.stdin.read()


def hold_linger(seconds):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    peer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small receive window that nobody reads: the lingering side's data can never all be delivered
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.connect(listener.getsockname())
    accepted, _ = listener.accept()
    listener.close()
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, seconds))
    accepted.setblocking(False)
    chunk = b'x' * 65536
    # fill the send queue until the kernel refuses more; bounded, since the queue is small
    for _ in range(10_000):
        try:
            accepted.send(chunk)
        except BlockingIOError:
            break
    else:
        raise SystemExit('the send queue never filled')
    report({'pid': os.getpid(), 'fd': accepted.fileno(), 'inode': os.fstat(accepted.fileno()).st_ino, 'port': accepted.getsockname()[1]})
    for line in sys.stdin:
        if line.strip() == 'close':
            # detach, then close the fd alone: socket.close() would do the same, but this says what happens
            os.close(accepted.detach())
            report('closed')
    peer.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ('dups', 'deep', 'linger'):
        sys.stderr.write('usage: hostile.py dups <count> | deep <count> | linger <seconds>\n')
        raise SystemExit(2)
    if sys.argv[1] == 'dups':
        hold_dups(int(sys.argv[2]))
    elif sys.argv[1] == 'deep':
        hold_deep(int(sys.argv[2]))
    else:
        hold_linger(int(sys.argv[2]))


main()
