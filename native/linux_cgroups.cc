// cgroup v2 queries: the BPF programs on a cgroup's socket(), bind() and post-bind (BPF_PROG_QUERY),
// and the processes of a cgroup named by its id (open_by_handle_at).
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
    hooks.Fail("open", errno);
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
      hooks.Fail("bpf", errno);
      break;
    }
  }
  close(cgroup);
  return hooks;
}

CgroupProcs ReadCgroupProcs(const char* mountpoint, uint64_t id) {
  CgroupProcs procs;
  int mount = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount < 0) {
    procs.Fail("open", errno);
    return procs;
  }
  // cgroupfs (kernfs) encodes a directory's file handle as its 64-bit id, FILEID_KERNFS
  constexpr int kFileIdKernfs = 0xfe;
  struct {
    file_handle handle;
    uint64_t id;
  } wanted;
  wanted.handle.handle_bytes = sizeof wanted.id;
  wanted.handle.handle_type = kFileIdKernfs;
  std::memcpy(wanted.handle.f_handle, &id, sizeof id);
  int directory = open_by_handle_at(mount, &wanted.handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int open_error = errno;
  close(mount);
  if (directory < 0) {
    // EPERM without CAP_DAC_READ_SEARCH; ESTALE once the cgroup is gone
    procs.Fail("open_by_handle_at", open_error);
    return procs;
  }
  int file = openat(directory, "cgroup.procs", O_RDONLY | O_CLOEXEC);
  close(directory);
  if (file < 0) {
    procs.Fail("openat", errno);
    return procs;
  }
  char buffer[16 * 1024];
  for (;;) {
    ssize_t got = read(file, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      procs.Fail("read", errno);
      break;
    }
    if (got == 0) break;
    procs.text.append(buffer, static_cast<size_t>(got));
  }
  close(file);
  return procs;
}

}  // namespace portclash
