// Which processes hold which sockets: /proc/<pid>/fd links read in place, and socket options via pidfd.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sockets.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

namespace portclash {
namespace {

// getdents64 fills this with many entries per call; /proc/<pid>/fd of a busy server has thousands.
constexpr size_t kDirentBytes = 32 * 1024;

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// Calls visit(name) for each entry of an open directory; returns 0 or an errno.
template <typename Visit>
int ForEachEntry(int directory, char* buffer, Visit visit) {
  for (;;) {
    long got = syscall(SYS_getdents64, directory, buffer, kDirentBytes);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) return 0;
    for (long offset = 0; offset < got;) {
      const LinuxDirent64* entry = reinterpret_cast<const LinuxDirent64*>(buffer + offset);
      if (!visit(entry->d_name)) return 0;
      offset += entry->d_reclen;
    }
  }
}

// "1234" → 1234; anything else (".", "self", "12a") → false.
bool ParseDecimal(const char* text, uint64_t* value) {
  if (*text == '\0') return false;
  uint64_t result = 0;
  for (const char* at = text; *at != '\0'; ++at) {
    if (*at < '0' || *at > '9' || result > (UINT64_MAX - 9) / 10) return false;
    result = result * 10 + static_cast<uint64_t>(*at - '0');
  }
  *value = result;
  return true;
}

// "socket:[1234]" → 1234. The link of any other file (a pipe, a path) is not a socket.
bool ParseSocketLink(const char* link, size_t length, uint64_t* inode) {
  static const char kPrefix[] = "socket:[";
  const size_t prefix_length = sizeof kPrefix - 1;
  if (length < prefix_length + 2 || std::memcmp(link, kPrefix, prefix_length) != 0 ||
      link[length - 1] != ']') {
    return false;
  }
  uint64_t result = 0;
  for (size_t i = prefix_length; i < length - 1; ++i) {
    if (link[i] < '0' || link[i] > '9' || result > (UINT64_MAX - 9) / 10) return false;
    result = result * 10 + static_cast<uint64_t>(link[i] - '0');
  }
  *inode = result;
  return true;
}

class OwnerScanner {
 public:
  OwnerScanner(const std::vector<uint64_t>& wanted, bool stop_when_found, OwnerScan& scan)
      : wanted_(wanted), found_(wanted.size(), false), stop_when_found_(stop_when_found),
        scan_(scan), buffer_(kDirentBytes) {}

  bool Done() const { return stop_when_found_ && !wanted_.empty() && missing_ == 0; }

  void Begin() { missing_ = wanted_.size(); }

  // Reads every fd link of one process. Processes that vanish are skipped; those whose fd
  // directory cannot be read are remembered, because their sockets' owners stay unknown.
  void ScanProcess(int proc, uint32_t pid) {
    char path[32];
    std::snprintf(path, sizeof path, "%u/fd", pid);
    int directory = openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (directory < 0) {
      if (errno == ENOENT || errno == ESRCH) {
        ++scan_.vanished;
      } else {
        scan_.denied_pids.push_back(pid);
      }
      return;
    }
    ++scan_.processes;
    char link[64];
    bool denied = false;
    int error = ForEachEntry(directory, buffer_.data(), [&](const char* name) {
      uint64_t fd;
      if (!ParseDecimal(name, &fd)) return true;
      ssize_t length = readlinkat(directory, name, link, sizeof link);
      if (length < 0) {
        // Some processes list their fds but refuse to show where they lead, even to root
        // (a ptrace check): their sockets' owners are unknown, not absent.
        if (errno == EACCES || errno == EPERM) denied = true;
        return true;
      }
      uint64_t inode;
      if (!ParseSocketLink(link, static_cast<size_t>(length), &inode)) return true;
      if (!wanted_.empty()) {
        auto at = std::lower_bound(wanted_.begin(), wanted_.end(), inode);
        if (at == wanted_.end() || *at != inode) return true;
        size_t index = static_cast<size_t>(at - wanted_.begin());
        if (!found_[index]) {
          found_[index] = true;
          --missing_;
        }
      }
      scan_.rows.push_back({pid, static_cast<int32_t>(fd), static_cast<uint32_t>(inode),
                            static_cast<uint32_t>(inode >> 32)});
      return true;
    });
    // A process that exits mid-scan ends its directory with ENOENT or ESRCH: nothing lost.
    if (denied || (error != 0 && error != ENOENT && error != ESRCH)) scan_.denied_pids.push_back(pid);
    close(directory);
  }

  std::vector<char>& buffer() { return buffer_; }

 private:
  const std::vector<uint64_t>& wanted_;
  std::vector<bool> found_;
  size_t missing_ = 0;
  bool stop_when_found_;
  OwnerScan& scan_;
  std::vector<char> buffer_;
};

}  // namespace

void ScanSocketOwners(const std::vector<uint64_t>& wanted, const std::vector<uint32_t>& pids,
                      bool stop_when_found, OwnerScan& scan) {
  int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) {
    scan.error = errno;
    return;
  }
  OwnerScanner scanner(wanted, stop_when_found, scan);
  scanner.Begin();
  if (!pids.empty()) {
    for (uint32_t pid : pids) {
      scanner.ScanProcess(proc, pid);
      if (scanner.Done()) break;
    }
  } else {
    // The scanner's buffer serves the fd directories; /proc itself gets its own.
    std::vector<char> entries(kDirentBytes);
    int error = ForEachEntry(proc, entries.data(), [&](const char* name) {
      uint64_t pid;
      if (!ParseDecimal(name, &pid) || pid > UINT32_MAX) return true;
      scanner.ScanProcess(proc, static_cast<uint32_t>(pid));
      return !scanner.Done();
    });
    if (error != 0) scan.error = error;
  }
  close(proc);
}

SocketOptions ReadSocketOptions(uint32_t pid, int32_t fd, uint64_t expected_inode) {
  SocketOptions options;
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    options.error = errno;
    options.syscall = "pidfd_open";
    return options;
  }
  int copy = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int getfd_error = errno;
  close(pidfd);
  if (copy < 0) {
    options.error = getfd_error;
    options.syscall = "pidfd_getfd";
    return options;
  }

  // The fd number may have been closed and reused since the scan: read only the socket asked about.
  struct stat status;
  if (fstat(copy, &status) != 0 || !S_ISSOCK(status.st_mode) ||
      static_cast<uint64_t>(status.st_ino) != expected_inode) {
    close(copy);
    options.error = ESTALE;
    options.syscall = "fstat";
    return options;
  }

  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(copy, SOL_SOCKET, SO_REUSEADDR, &value, &length) == 0) options.reuse_addr = value != 0;
  length = sizeof value;
  if (getsockopt(copy, SOL_SOCKET, SO_REUSEPORT, &value, &length) == 0) options.reuse_port = value != 0;
  sockaddr_storage address;
  socklen_t address_length = sizeof address;
  length = sizeof value;
  if (getsockname(copy, reinterpret_cast<sockaddr*>(&address), &address_length) == 0 &&
      address.ss_family == AF_INET6 &&
      getsockopt(copy, IPPROTO_IPV6, IPV6_V6ONLY, &value, &length) == 0) {
    options.ipv6_only = value != 0;
  }
  close(copy);  // the duplicate only; the owner's socket is untouched
  return options;
}

long ClockTicksPerSecond() { return sysconf(_SC_CLK_TCK); }

}  // namespace portclash
