// Where this process stands towards the user namespace that owns its network namespace.
#include <cerrno>

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux.h"

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
NamespaceRelation NetnsOwnerRelation() {
  struct stat own;
  int self = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  if (self < 0) return NamespaceRelation::kUnknown;
  bool have_own = fstat(self, &own) == 0;
  close(self);
  int net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
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

}  // namespace portclash
