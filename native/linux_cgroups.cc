// cgroup v2 queries: the BPF programs on a cgroup's socket(), bind(), post-bind and getsockopt()
// (BPF_PROG_QUERY), and the processes of a cgroup named by its id (open_by_handle_at).
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux.h"
#include "unique_fd.h"

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

// A directory opened by its path; an fd of -1, with the failed call in `failed`, when it cannot be.
UniqueFd OpenDirectory(const char* path, FailedCall& failed) {
  UniqueFd directory(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() < 0) failed.Fail("open", errno);
  return directory;
}

// The directory of the cgroup v2 whose id is `id`, opened by file handle under the cgroup2
// `mountpoint`; an fd of -1, with the failed call in `failed`, when it cannot be.
UniqueFd OpenCgroupById(const char* mountpoint, uint64_t id, FailedCall& failed) {
  UniqueFd mount = OpenDirectory(mountpoint, failed);
  if (mount.get() < 0) return mount;
  // cgroupfs (kernfs) encodes a directory's file handle as its 64-bit id, FILEID_KERNFS
  constexpr int kFileIdKernfs = 0xfe;
  struct {
    file_handle handle;
    uint64_t id;
  } wanted;
  wanted.handle.handle_bytes = sizeof wanted.id;
  wanted.handle.handle_type = kFileIdKernfs;
  std::memcpy(wanted.handle.f_handle, &id, sizeof id);
  UniqueFd directory(open_by_handle_at(mount.get(), &wanted.handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // EPERM without CAP_DAC_READ_SEARCH; ESTALE once the cgroup is gone
  if (directory.get() < 0) failed.Fail("open_by_handle_at", errno);
  return directory;
}

ProgramCount CountGetsockoptPrograms(const UniqueFd& cgroup) {
  ProgramCount counted;
  counted.count = CountPrograms(cgroup.get(), BPF_CGROUP_GETSOCKOPT);
  // EPERM without CAP_NET_ADMIN; ENOSYS or EINVAL where the kernel has no cgroup BPF (or, before
  // 5.3, no getsockopt hook)
  if (counted.count < 0) counted.Fail("bpf", errno);
  return counted;
}

}  // namespace

CgroupHooks QueryCgroupHooks(const char* cgroup_path) {
  CgroupHooks hooks;
  UniqueFd cgroup = OpenDirectory(cgroup_path, hooks);
  if (cgroup.get() < 0) return hooks;
  const bpf_attach_type types[] = {BPF_CGROUP_INET_SOCK_CREATE, BPF_CGROUP_INET4_BIND,
                                   BPF_CGROUP_INET6_BIND, BPF_CGROUP_INET4_POST_BIND,
                                   BPF_CGROUP_INET6_POST_BIND};
  long* counts[] = {&hooks.sock_create, &hooks.inet4_bind, &hooks.inet6_bind,
                    &hooks.inet4_post_bind, &hooks.inet6_post_bind};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; ++i) {
    *counts[i] = CountPrograms(cgroup.get(), types[i]);
    if (*counts[i] < 0) {
      // EPERM without CAP_NET_ADMIN; ENOSYS or EINVAL where the kernel has no cgroup BPF
      hooks.Fail("bpf", errno);
      break;
    }
  }
  return hooks;
}

CgroupProcs ReadCgroupProcs(const char* mountpoint, uint64_t id) {
  CgroupProcs procs;
  UniqueFd directory = OpenCgroupById(mountpoint, id, procs);
  if (directory.get() < 0) return procs;
  UniqueFd file(openat(directory.get(), "cgroup.procs", O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    procs.Fail("openat", errno);
    return procs;
  }
  char buffer[16 * 1024];
  for (;;) {
    ssize_t got = read(file.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      procs.Fail("read", errno);
      break;
    }
    if (got == 0) break;
    procs.text.append(buffer, static_cast<size_t>(got));
  }
  return procs;
}

ProgramCount CountGetsockoptProgramsById(const char* mountpoint, uint64_t id) {
  ProgramCount counted;
  UniqueFd cgroup = OpenCgroupById(mountpoint, id, counted);
  if (cgroup.get() < 0) return counted;
  return CountGetsockoptPrograms(cgroup);
}

ProgramCount CountGetsockoptProgramsAt(const char* cgroup_path) {
  ProgramCount counted;
  UniqueFd cgroup = OpenDirectory(cgroup_path, counted);
  if (cgroup.get() < 0) return counted;
  return CountGetsockoptPrograms(cgroup);
}

}  // namespace portclash
