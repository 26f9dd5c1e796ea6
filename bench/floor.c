// The kernel floor: raw inet_diag dumps timed in-process, doing nothing with the rows but count them.
//
//   floor <mode> [port] <runs>    prints {"mode":..., "medianMs":..., "messages":...}
//
// Any reader of the socket tables pays at least this much; what portclash spends above it is its own.
// Each run opens its own netlink socket, as one portclash call does, so the socket's cost is in the floor.
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

// A dump datagram is at most 32 KiB (the kernel caps netlink dump skbs there); MSG_TRUNC says if not.
#define RECEIVE_BYTES (32 * 1024)
#define WARMUP_RUNS 3

// TCP states 1..12 (ESTABLISHED .. NEW_SYN_RECV), as ss -a asks for them.
#define TCP_ALL_STATES 0x1ffeu
// TCPF_BOUND_INACTIVE: bound but neither listening nor connected, dumped from the bind hash (Linux 6.8+).
#define TCP_BOUND_INACTIVE (1u << 13)
// The kernel keeps UDP sockets in two states only: connected (ESTABLISHED) or not (CLOSE).
#define UDP_ALL_STATES ((1u << 1) | (1u << 7))
#define TCP_LISTEN_ONLY (1u << 10)

struct mode {
  const char *name;
  uint8_t protocol;
  uint32_t states;
  int filters_port;
};

static const struct mode modes[] = {
    {"full-tcp", IPPROTO_TCP, TCP_ALL_STATES, 0},
    {"full-tcp-bound", IPPROTO_TCP, TCP_ALL_STATES | TCP_BOUND_INACTIVE, 0},
    {"full-udp", IPPROTO_UDP, UDP_ALL_STATES, 0},
    {"port-all", IPPROTO_TCP, TCP_ALL_STATES | TCP_BOUND_INACTIVE, 1},
    {"port-connected", IPPROTO_TCP, TCP_ALL_STATES, 1},
    {"port-listen", IPPROTO_TCP, TCP_LISTEN_ONLY, 1},
    // bound-only sockets alone: the kernel still walks its connection hash after the bind hash
    {"port-bound", IPPROTO_TCP, TCP_BOUND_INACTIVE, 1},
};

struct dump_request {
  struct nlmsghdr header;
  struct inet_diag_req_v2 request;
  // "sport == port", as ss 'sport = :P' sends it. The kernel accepts a socket when the program runs
  // off its end exactly (inet_diag_bc_run returns len == 0), so the comparison jumps 8 bytes (to the
  // end) on yes and 12 (past it) on no; the second op only carries the port, in host byte order.
  struct nlattr bytecode_attribute;
  struct inet_diag_bc_op compare;
  struct inet_diag_bc_op port;
};

_Static_assert(offsetof(struct dump_request, bytecode_attribute) ==
                   NLMSG_ALIGN(NLMSG_LENGTH(sizeof(struct inet_diag_req_v2))),
               "the bytecode attribute follows the request, aligned");

static void fail(const char *what, int error) {
  fprintf(stderr, "floor: %s: %s\n", what, strerror(error));
  exit(1);
}

static double now_ms(void) {
  struct timespec time;
  if (clock_gettime(CLOCK_MONOTONIC, &time) != 0) fail("clock_gettime", errno);
  return time.tv_sec * 1e3 + time.tv_nsec / 1e6;
}

// Sends one dump request for one family and reads the reply to NLMSG_DONE; returns the socket count.
static long dump(int fd, const struct mode *mode, int port, uint8_t family, uint32_t sequence,
                 uint8_t *buffer) {
  struct dump_request message;
  memset(&message, 0, sizeof message);
  size_t length = NLMSG_LENGTH(sizeof(struct inet_diag_req_v2));
  message.request.sdiag_family = family;
  message.request.sdiag_protocol = mode->protocol;
  message.request.idiag_states = mode->states;
  if (mode->filters_port) {
    message.bytecode_attribute.nla_type = INET_DIAG_REQ_BYTECODE;
    message.bytecode_attribute.nla_len = NLA_HDRLEN + 2 * sizeof(struct inet_diag_bc_op);
    message.compare.code = INET_DIAG_BC_S_EQ;
    message.compare.yes = 2 * sizeof(struct inet_diag_bc_op);
    message.compare.no = 3 * sizeof(struct inet_diag_bc_op);
    message.port.no = (uint16_t)port;
    length = NLMSG_ALIGN(length) + message.bytecode_attribute.nla_len;
  }
  message.header.nlmsg_len = (uint32_t)length;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.header.nlmsg_seq = sequence;

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &message, length, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) fail("sendto", errno);

  long sockets = 0;
  for (;;) {
    struct iovec vector = {buffer, RECEIVE_BYTES};
    struct msghdr header = {.msg_iov = &vector, .msg_iovlen = 1};
    ssize_t got = recvmsg(fd, &header, 0);
    if (got < 0) fail("recvmsg", errno == EAGAIN ? ETIMEDOUT : errno);
    if (header.msg_flags & MSG_TRUNC) fail("recvmsg", EMSGSIZE);
    if (got == 0) fail("recvmsg (dump ended without NLMSG_DONE)", EBADMSG);
    int remaining = (int)got;
    for (struct nlmsghdr *reply = (struct nlmsghdr *)buffer; NLMSG_OK(reply, remaining);
         reply = NLMSG_NEXT(reply, remaining)) {
      if (reply->nlmsg_seq != sequence) continue;  // an answer to some earlier request
      if (reply->nlmsg_type == NLMSG_DONE) {
        int status = 0;
        if (reply->nlmsg_len >= NLMSG_LENGTH(sizeof status)) memcpy(&status, NLMSG_DATA(reply), sizeof status);
        if (status < 0) fail("dump (NLMSG_DONE)", -status);
        return sockets;
      }
      if (reply->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr error = {.error = -EBADMSG};
        if (reply->nlmsg_len >= NLMSG_LENGTH(sizeof error.error)) memcpy(&error.error, NLMSG_DATA(reply), sizeof error.error);
        fail("dump (NLMSG_ERROR)", error.error < 0 ? -error.error : EBADMSG);
      }
      if (reply->nlmsg_type == SOCK_DIAG_BY_FAMILY) ++sockets;
    }
  }
}

// One whole answer, as a caller would get it: open a socket, dump IPv4 then IPv6, close.
static long enumerate(const struct mode *mode, int port, uint8_t *buffer) {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) fail("socket(NETLINK_SOCK_DIAG)", errno);
  // A kernel that stops answering mid-dump is a bug to report, not a state to wait in forever.
  struct timeval timeout = {10, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) fail("setsockopt(SO_RCVTIMEO)", errno);
  long sockets = dump(fd, mode, port, AF_INET, 1, buffer) + dump(fd, mode, port, AF_INET6, 2, buffer);
  if (close(fd) != 0) fail("close", errno);
  return sockets;
}

static int compare_doubles(const void *left, const void *right) {
  double a = *(const double *)left, b = *(const double *)right;
  return (a > b) - (a < b);
}

static long parse_number(const char *text, long min, long max, const char *what) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
    fprintf(stderr, "floor: %s must be an integer in %ld..%ld, got '%s'\n", what, min, max, text);
    exit(2);
  }
  return value;
}

static void usage(void) {
  fprintf(stderr, "usage: floor full-tcp|full-tcp-bound|full-udp <runs>\n"
                  "       floor port-all|port-bound|port-connected|port-listen <port> <runs>\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const struct mode *mode = NULL;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; ++i) {
    if (strcmp(argv[1], modes[i].name) == 0) mode = &modes[i];
  }
  if (mode == NULL || argc != (mode->filters_port ? 4 : 3)) usage();
  int port = mode->filters_port ? (int)parse_number(argv[2], 0, 65535, "port") : -1;
  long runs = parse_number(argv[argc - 1], 1, 1000000, "runs");

  static uint8_t buffer[RECEIVE_BYTES] __attribute__((aligned(NLMSG_ALIGNTO)));
  double *times = malloc(runs * sizeof *times);
  if (times == NULL) fail("malloc", ENOMEM);

  long sockets = 0;
  for (int i = 0; i < WARMUP_RUNS; ++i) enumerate(mode, port, buffer);
  for (long i = 0; i < runs; ++i) {
    double start = now_ms();
    sockets = enumerate(mode, port, buffer);
    times[i] = now_ms() - start;
  }
  qsort(times, runs, sizeof *times, compare_doubles);
  printf("{\"mode\":\"%s\",\"medianMs\":%.4f,\"messages\":%ld}\n", mode->name, times[runs / 2], sockets);
  free(times);
  return 0;
}
