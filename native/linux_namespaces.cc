// Network namespaces: where this process stands towards the user namespace owning one, and work done inside another.
#include <cerrno>
#include <exception>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux.h"
#include "unique_fd.h"

namespace portclash {
namespace {

bool SameFile(int fd, const struct stat& other) {
  struct stat status;
  return fstat(fd, &status) == 0 && status.st_ino == other.st_ino && status.st_dev == other.st_dev;
}

}  // namespace

// The kernel checks CAP_NET_BIND_SERVICE with ns_capable(net->user_ns, …), whose cap_capable()
// walks from that namespace up: our own namespace grants what CapEff holds; a namespace whose
// parent is ours and whose owner is our euid grants everything; anything else grants nothing.
NamespaceRelation NetnsOwnerRelation(const char* netns_path) {
  struct stat own;
  int self = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  if (self < 0) return NamespaceRelation::kUnknown;
  bool have_own = fstat(self, &own) == 0;
  close(self);
  int net = open(netns_path, O_RDONLY | O_CLOEXEC);
  if (!have_own || net < 0) {
    if (net >= 0) close(net);
    return NamespaceRelation::kUnknown;
  }
  int ns = ioctl(net, NS_GET_USERNS);
  int error = errno;
  close(net);
  // EPERM: the owner is an ancestor of our namespace (after unshare -r), where we hold nothing.
  if (ns < 0) return error == EPERM ? NamespaceRelation::kNone : NamespaceRelation::kUnknown;

  const uid_t euid = geteuid();
  for (int depth = 0; depth < 64; ++depth) {  // user namespaces nest at most 32 deep
    if (SameFile(ns, own)) {
      close(ns);
      return NamespaceRelation::kSame;
    }
    uid_t owner;
    bool have_owner = ioctl(ns, NS_GET_OWNER_UID, &owner) == 0;
    int parent = ioctl(ns, NS_GET_PARENT);
    close(ns);
    // EPERM: the parent lies outside our own namespace, so ours is not an ancestor.
    if (parent < 0) return errno == EPERM ? NamespaceRelation::kNone : NamespaceRelation::kUnknown;
    if (SameFile(parent, own) && have_owner && owner == euid) {
      close(parent);
      return NamespaceRelation::kOwner;
    }
    ns = parent;
  }
  close(ns);
  return NamespaceRelation::kUnknown;
}

NetnsIdentity IdentifyNetns(const char* path) {
  NetnsIdentity identity;
  // O_RDONLY, not O_PATH: NS_GET_NSTYPE needs a file opened for real
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    identity.Fail("open", errno);
    return identity;
  }
  struct stat status;
  if (fstat(fd.get(), &status) != 0) {
    identity.Fail("fstat", errno);
    return identity;
  }
  identity.inode = status.st_ino;
  identity.device = status.st_dev;
  // ENOTTY: not a namespace file at all (nsfs answers this ioctl from Linux 4.11 on)
  int type = ioctl(fd.get(), NS_GET_NSTYPE);
  if (type < 0) {
    identity.Fail("ioctl NS_GET_NSTYPE", errno);
    return identity;
  }
  identity.network = type == CLONE_NEWNET;
  return identity;
}

FailedCall RunInNetns(const std::string& path, const std::function<void()>& work) {
  FailedCall entered;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    // not "open": a reader's own failed open must not read as a namespace that could not be entered
    entered.Fail("open netns", errno);
    return entered;
  }
  std::exception_ptr failure;
  auto inside = [&] {
    // setns with CLONE_NEWNET refuses (EINVAL) a file that is no network namespace; it moves
    // this thread alone, and the thread ends with the work, so nothing else ever runs there.
    if (setns(fd.get(), CLONE_NEWNET) != 0) {
      entered.Fail("setns", errno);
      return;
    }
    try {
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  };
  try {
    std::thread thread(inside);
    thread.join();
  } catch (const std::system_error& error) {
    // no thread could be made (RLIMIT_NPROC, a cgroup's pids.max): the work did not run
    entered.Fail("thread", error.code().value() != 0 ? error.code().value() : EAGAIN);
    return entered;
  }
  if (failure) std::rethrow_exception(failure);
  return entered;
}

}  // namespace portclash
