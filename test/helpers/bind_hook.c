/* Attaches to a cgroup v2 directory cgroup-BPF programs that judge bind() to one port, IPv4 and IPv6, in
 * ways no socket table shows. `refuse`: the bind fails with EPERM, as systemd's SocketBindDeny= makes it.
 * `waive`: the bind passes without CAP_NET_BIND_SERVICE even below ip_unprivileged_port_start
 * (BPF_RET_BIND_NO_CAP_NET_BIND_SERVICE, Linux >= 5.16).
 *
 * Usage: bind_hook <cgroup-dir> <port> refuse|waive
 * Needs CAP_NET_ADMIN (and CAP_BPF or CAP_SYS_ADMIN to load). The attachments outlive this program and
 * go with the cgroup: rmdir it to remove them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long bpf(int command, union bpf_attr* attr) {
  return syscall(SYS_bpf, command, attr, sizeof *attr);
}

static int load(enum bpf_attach_type type, unsigned port, int verdict) {
  struct bpf_insn program[] = {
      /* r2 = ctx->user_port (network order); r0 = 1 (allow); if r2 == port: r0 = verdict */
      {.code = BPF_LDX | BPF_W | BPF_MEM, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_1, .off = offsetof(struct bpf_sock_addr, user_port)},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1},
      {.code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_2, .off = 1, .imm = htons(port)},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = verdict},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
  attr.expected_attach_type = type;
  attr.insns = (unsigned long)program;
  attr.insn_cnt = sizeof program / sizeof program[0];
  attr.license = (unsigned long)"GPL";
  return (int)bpf(BPF_PROG_LOAD, &attr);
}

int main(int argc, char** argv) {
  /* 0 refuses; 3 allows (bit 0) and waives the privilege check (bit 1) */
  int verdict = argc == 4 && strcmp(argv[3], "refuse") == 0 ? 0 : argc == 4 && strcmp(argv[3], "waive") == 0 ? 3 : -1;
  if (verdict < 0) {
    fprintf(stderr, "usage: bind_hook <cgroup-dir> <port> refuse|waive\n");
    return 2;
  }
  int cgroup = open(argv[1], O_RDONLY | O_DIRECTORY);
  if (cgroup < 0) {
    perror(argv[1]);
    return 1;
  }
  enum bpf_attach_type types[] = {BPF_CGROUP_INET4_BIND, BPF_CGROUP_INET6_BIND};
  for (int i = 0; i < 2; i++) {
    int program = load(types[i], (unsigned)atoi(argv[2]), verdict);
    if (program < 0) {
      perror("BPF_PROG_LOAD");
      return 1;
    }
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.target_fd = cgroup;
    attr.attach_bpf_fd = program;
    attr.attach_type = types[i];
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    if (bpf(BPF_PROG_ATTACH, &attr) != 0) {
      perror("BPF_PROG_ATTACH");
      return 1;
    }
    close(program); /* the attachment keeps the program until the cgroup goes */
  }
  return 0;
}
