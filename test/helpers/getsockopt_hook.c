/* Attaches to a cgroup v2 directory a cgroup-BPF getsockopt program (BPF_PROG_TYPE_CGROUP_SOCKOPT,
 * BPF_CGROUP_GETSOCKOPT) that answers SO_REUSEPORT with 0 whatever the socket has: the kernel runs it
 * for every getsockopt() on a socket made in that cgroup, whoever calls, after reading the option,
 * and copies out the value the program leaves. Every other option passes as the kernel read it.
 *
 * Usage: getsockopt_hook <cgroup-dir>
 * Needs CAP_NET_ADMIN (and CAP_BPF or CAP_SYS_ADMIN to load). The attachment outlives this program and
 * goes with the cgroup: rmdir it to remove it. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int command, union bpf_attr* attr) {
  return syscall(SYS_bpf, command, attr, sizeof *attr);
}

static int load(void) {
  struct bpf_insn program[] = {
      /* 0-3: anything but SOL_SOCKET/SO_REUSEPORT jumps to 10, which allows it unchanged */
      {.code = BPF_LDX | BPF_W | BPF_MEM, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = offsetof(struct bpf_sockopt, level)},
      {.code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 8, .imm = SOL_SOCKET},
      {.code = BPF_LDX | BPF_W | BPF_MEM, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = offsetof(struct bpf_sockopt, optname)},
      {.code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 6, .imm = SO_REUSEPORT},
      /* 4-8: r2 = optval, r3 = optval_end; the verifier wants 4 bytes proven inside */
      {.code = BPF_LDX | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = offsetof(struct bpf_sockopt, optval)},
      {.code = BPF_LDX | BPF_DW | BPF_MEM, .dst_reg = BPF_REG_3, .src_reg = BPF_REG_1, .off = offsetof(struct bpf_sockopt, optval_end)},
      {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_4, .src_reg = BPF_REG_2},
      {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_4, .imm = 4},
      {.code = BPF_JMP | BPF_JGT | BPF_X, .dst_reg = BPF_REG_4, .src_reg = BPF_REG_3, .off = 1},
      /* 9: *(u32 *)optval = 0 */
      {.code = BPF_ST | BPF_W | BPF_MEM, .dst_reg = BPF_REG_2, .off = 0, .imm = 0},
      /* 10-11: return 1, the call goes on (0 would fail it with EPERM) */
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
      {.code = BPF_JMP | BPF_EXIT},
  };
  char log[4096] = "";
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_SOCKOPT;
  attr.expected_attach_type = BPF_CGROUP_GETSOCKOPT;
  attr.insns = (unsigned long)program;
  attr.insn_cnt = sizeof program / sizeof program[0];
  attr.license = (unsigned long)"GPL";
  attr.log_buf = (unsigned long)log;
  attr.log_size = sizeof log;
  attr.log_level = 1;
  int fd = (int)bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) fprintf(stderr, "%s", log);
  return fd;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: getsockopt_hook <cgroup-dir>\n");
    return 2;
  }
  int cgroup = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (cgroup < 0) {
    perror(argv[1]);
    return 1;
  }
  int program = load();
  if (program < 0) {
    perror("BPF_PROG_LOAD");
    return 1;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = cgroup;
  attr.attach_bpf_fd = program;
  attr.attach_type = BPF_CGROUP_GETSOCKOPT;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf(BPF_PROG_ATTACH, &attr) != 0) {
    perror("BPF_PROG_ATTACH");
    return 1;
  }
  close(program); /* the attachment keeps the program until the cgroup goes */
  return 0;
}
