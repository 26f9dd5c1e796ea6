/* Runs a program with socket(AF_NETLINK, ...) failing with EPERM, to test the /proc fallback without sock_diag.
 *
 * Usage: no_netlink <program> [args...]
 * A seccomp-BPF filter answers socket(AF_NETLINK, ...) with EPERM, as a locked-down container would, and
 * allows every other call; the filter survives execvp and is inherited by the program's children. Netlink
 * sockets made through io_uring (IORING_OP_SOCKET) are not covered: neither libuv nor ss makes sockets that way. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The syscall number means nothing without the ABI it belongs to: a call made through another ABI (i386
 * int 0x80 on x86_64, compat arm on arm64) would carry a different number for socket and slip past the
 * check, so the filter names its one ABI and kills anything else. */
#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__) && defined(__AARCH64EL__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define FILTER_ARCH AUDIT_ARCH_RISCV64
#else
#error "no_netlink: unsupported architecture; add its AUDIT_ARCH_* and check that it has a plain socket syscall"
#endif

/* socket(2)'s domain is an int: the kernel ignores the upper half of the register, so the filter must compare
 * the low 32 bits alone (comparing all 64 would let a caller dodge it by setting high bits). On the
 * little-endian ABIs above, those bits come first in seccomp_data.args[0]. */
#define ARG0_LOW offsetof(struct seccomp_data, args[0])

int main(int argc, char *argv[]) {
  if (argc < 2) {
    fprintf(stderr, "usage: no_netlink <program> [args...]\n");
    return 2;
  }

  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
      /* x32 calls share AUDIT_ARCH_X86_64 but set bit 30 of the number (socket is 41 | 0x40000000 there);
       * nothing here uses x32, so refuse it rather than match a second number. */
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {
      .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
      .filter = filter,
  };

  /* Without NO_NEW_PRIVS an unprivileged caller may not install a filter (it could confuse a setuid program);
   * with it the filter works the same for root and non-root callers. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "no_netlink: prctl(PR_SET_NO_NEW_PRIVS): %s\n", strerror(errno));
    return 126;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0) != 0) {
    fprintf(stderr, "no_netlink: prctl(PR_SET_SECCOMP): %s\n", strerror(errno));
    return 126;
  }

  execvp(argv[1], &argv[1]);
  fprintf(stderr, "no_netlink: %s: %s\n", argv[1], strerror(errno));
  return 127;
}
