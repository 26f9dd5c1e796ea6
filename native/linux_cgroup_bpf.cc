// Which cgroup-BPF programs run on this cgroup's socket(), bind() and post-bind: BPF_PROG_QUERY.
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockets.h"

namespace portclash {
namespace {

// The number of programs of one attach type that run for this cgroup, its ancestors' included
// (BPF_F_QUERY_EFFECTIVE); -1 with errno set when the kernel will not say.
long CountPrograms(int cgroup, bpf_attach_type type) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.query.target_fd = static_cast<uint32_t>(cgroup);
  attr.query.attach_type = type;
  attr.query.query_flags = BPF_F_QUERY_EFFECTIVE;
  // prog_ids left null: the kernel only counts
  if (syscall(SYS_bpf, BPF_PROG_QUERY, &attr, sizeof attr) != 0) return -1;
  return attr.query.prog_cnt;
}

}  // namespace

CgroupHooks QueryCgroupHooks(const char* cgroup_path) {
  CgroupHooks hooks;
  int cgroup = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) {
    hooks.error = errno;
    hooks.syscall = "open";
    return hooks;
  }
  const bpf_attach_type types[] = {BPF_CGROUP_INET_SOCK_CREATE, BPF_CGROUP_INET4_BIND,
                                   BPF_CGROUP_INET6_BIND, BPF_CGROUP_INET4_POST_BIND,
                                   BPF_CGROUP_INET6_POST_BIND};
  long* counts[] = {&hooks.sock_create, &hooks.inet4_bind, &hooks.inet6_bind,
                    &hooks.inet4_post_bind, &hooks.inet6_post_bind};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; ++i) {
    *counts[i] = CountPrograms(cgroup, types[i]);
    if (*counts[i] < 0) {
      // EPERM without CAP_NET_ADMIN; ENOSYS or EINVAL where the kernel has no cgroup BPF
      hooks.error = errno;
      hooks.syscall = "bpf";
      break;
    }
  }
  close(cgroup);
  return hooks;
}

}  // namespace portclash
