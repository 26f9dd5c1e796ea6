// Which processes hold which sockets: /proc/<pid>/fd links read in place, and socket options via pidfd.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "linux.h"
#include "run_both.h"
#include "unique_fd.h"

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

// The first round of an early-stopping scan reads about this much of each process's fd list
// (an fd entry takes 24 bytes): enough for the sockets a process opens at start-up.
constexpr size_t kFirstRoundBytes = 2 * 1024;
constexpr size_t kRoundStepBytes = 8 * 1024;

// The guided search (see GuideScan) samples about this many fd numbers of each process left after
// the first round, and reads at most this many fds of it in the windows the samples point to.
constexpr uint32_t kGuideSamples = 32;
constexpr uint32_t kGuideReadLimit = 4096;
// Fds after a sample that was no open fd, tried for an open one before the sample is given up.
constexpr uint32_t kGuideHoleTries = 3;
// A window between two samples this narrow is read whole rather than halved further.
constexpr uint32_t kGuideLinear = 16;
// Closed fds in a row after the last sample that end the search of the table's tail.
constexpr uint32_t kGuideTailHoles = 16;

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

// Test seam (debugPauseScan): the scan stops once, at one pid, before it opens that process's fd
// directory or after it has read the first batch of its entries, writes a byte ('o' or 'b') to a
// socket and awaits one (10 s at most), so that a test can have that process exit right then. Off
// (pid 0), it costs one relaxed load per process and per batch.
std::atomic<uint32_t> scan_pause_pid{0};
std::atomic<int> scan_pause_fd{-1};
std::atomic<ScanPausePoint> scan_pause_point{ScanPausePoint::kBeforeOpen};

// The test seams' handshake: writes `byte` to the test's socket, then awaits its answer (10 s at most).
void Handshake(int fd, char byte) {
  if (write(fd, &byte, 1) != 1) return;
  pollfd wait{fd, POLLIN, 0};
  if (poll(&wait, 1, 10000) == 1) (void)!read(fd, &byte, 1);
}

void PauseScan(uint32_t pid, ScanPausePoint point) {
  uint32_t armed = scan_pause_pid.load(std::memory_order_relaxed);
  if (armed == 0 || armed != pid || scan_pause_point.load() != point) return;
  // once: the other scan thread, or a later round, never meets it again
  if (!scan_pause_pid.compare_exchange_strong(armed, 0)) return;
  Handshake(scan_pause_fd.load(), point == ScanPausePoint::kBeforeOpen ? 'o' : 'b');
}

// The size of a process's fd table (FDSize in /proc/<pid>/status): every open fd is below it.
// 0 when it cannot be read.
uint32_t FdTableSize(int proc, uint32_t pid) {
  char path[32];
  std::snprintf(path, sizeof path, "%u/status", pid);
  UniqueFd status(openat(proc, path, O_RDONLY | O_CLOEXEC));
  if (status.get() < 0) return 0;
  char text[4096];
  ssize_t got;
  do {
    got = read(status.get(), text, sizeof text - 1);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) return 0;
  text[got] = '\0';
  const char* line = std::strstr(text, "\nFDSize:");
  if (line == nullptr) return 0;
  unsigned long size = std::strtoul(line + sizeof "\nFDSize:" - 1, nullptr, 10);
  return size > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(size);
}

// Where the scan of one process's fd directory stands.
struct ProcessCursor {
  uint32_t pid;
  int64_t position = 0;  // the directory offset to go on from (getdents64's d_off)
  bool done = false;
  bool denied = false;
};

class OwnerScanner {
 public:
  // wanted: the sorted inodes to report, or nullptr for every socket
  OwnerScanner(const std::vector<uint64_t>* wanted, OwnerScan& scan, const OwnerQuery& query)
      : wanted_(wanted), found_(wanted == nullptr ? 0 : wanted->size(), false), scan_(scan),
        buffer_(kDirentBytes), debug_throw_at_pid_(query.debug_throw_at_pid), cancel_(query.cancel) {}

  // Checked per process and per batch of entries: a process can hold a million fds.
  bool Cancelled() {
    if (cancel_ == nullptr || !cancel_->load(std::memory_order_relaxed)) return false;
    scan_.cancelled = true;
    return true;
  }

  const std::vector<bool>& found() const { return found_; }

  // Reads the fd links of one process from where its cursor stands, until the directory ends or
  // about `budget` bytes of entries have been read. Processes that vanish are done; those whose
  // fds cannot be read are remembered, because their sockets' owners stay unknown.
  void Scan(int proc, ProcessCursor& cursor, size_t budget) {
    if (debug_throw_at_pid_ != 0 && cursor.pid == debug_throw_at_pid_) throw std::runtime_error("debug: the scan failed");
    PauseScan(cursor.pid, ScanPausePoint::kBeforeOpen);
    char path[32];
    std::snprintf(path, sizeof path, "%u/fd", cursor.pid);
    UniqueFd directory(openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.get() < 0) {
      if (errno == ENOENT || errno == ESRCH) {
        Vanish(cursor);
      } else {
        Deny(cursor);
      }
      cursor.done = true;
      return;
    }
    if (cursor.position == 0) ++scan_.processes;
    if (cursor.position != 0 && lseek(directory.get(), cursor.position, SEEK_SET) < 0) {
      cursor.done = true;  // the directory cannot resume: the process is going away
      return;
    }
    char link[64];
    size_t read = 0;
    while (!cursor.done && read < budget) {
      if (Cancelled()) {
        cursor.done = true;
        break;
      }
      long got = syscall(SYS_getdents64, directory.get(), buffer_.data(),
                         std::min(buffer_.size(), std::max<size_t>(budget - read, 256)));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        // A process reaped mid-scan ends its directory with ENOENT or ESRCH (a zombie's simply
        // ends, its fds closed): what was read stays, nothing was denied.
        if (got < 0 && (errno == ENOENT || errno == ESRCH)) {
          Vanish(cursor);
        } else if (got < 0) {
          Deny(cursor);
        }
        cursor.done = true;
        break;
      }
      read += static_cast<size_t>(got);
      for (long offset = 0; offset < got;) {
        const LinuxDirent64* entry = reinterpret_cast<const LinuxDirent64*>(buffer_.data() + offset);
        Visit(directory.get(), entry->d_name, link, sizeof link, cursor);
        cursor.position = entry->d_off;
        offset += entry->d_reclen;
      }
      PauseScan(cursor.pid, ScanPausePoint::kAfterBatch);
    }
  }

  // Reads the link of fd `fd` by its number: the socket's inode (reported when wanted), 0 for an
  // open fd that is no socket, -1 for no open fd; -2 when the process refuses (its owners unknown).
  int64_t Probe(int directory, uint32_t fd, ProcessCursor& cursor) {
    char name[16];
    std::snprintf(name, sizeof name, "%u", fd);
    char link[64];
    ++scan_.links;
    ssize_t length = readlinkat(directory, name, link, sizeof link);
    if (length < 0) {
      if (errno == EACCES || errno == EPERM) {
        Deny(cursor);
        return -2;
      }
      return -1;
    }
    uint64_t inode;
    if (!ParseSocketLink(link, static_cast<size_t>(length), &inode)) return 0;
    Record(inode, cursor.pid, fd);
    return static_cast<int64_t>(inode & INT64_MAX);
  }

  // The guided search of one process: fd numbers sampled from `from` to its fd table's size, then
  // every fd of the windows between two socket samples whose inodes bracket a wanted inode not
  // found yet. Sockets get inodes from a counter that grows (per CPU, in batches) and processes
  // get the lowest free fd, so a socket mostly sits between the fds of sockets made just before
  // and after it. "Mostly": the search only goes first; what it misses, the rounds still find.
  void Guide(int proc, ProcessCursor& cursor, uint32_t from) {
    uint32_t table = FdTableSize(proc, cursor.pid);
    if (table <= from) return;
    char path[32];
    std::snprintf(path, sizeof path, "%u/fd", cursor.pid);
    UniqueFd directory(openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.get() < 0) return;  // gone or refused: the next round says which
    // The directory's size is its count of open fds (Linux 6.2 on; 0 before): where they are dense,
    // as a process's usually are, the last is about there, and samples past it would find none.
    struct stat status;
    const uint32_t open = fstat(directory.get(), &status) == 0 && status.st_size > 0 ? static_cast<uint32_t>(std::min<off_t>(status.st_size, UINT32_MAX / 2)) : 0;
    const uint32_t end = open == 0 ? table : std::min(table, open + open / 4 + kGuideHoleTries + 1);
    if (end <= from) return;
    const uint32_t step = std::max<uint32_t>(1, (end - from) / kGuideSamples);
    struct Sample {
      uint32_t fd;
      uint64_t inode;
    };
    std::vector<Sample> samples;
    auto sample = [&](uint32_t at) {
      for (uint32_t fd = at; fd < std::min(table, at + kGuideHoleTries + 1); ++fd) {
        int64_t inode = Probe(directory.get(), fd, cursor);
        if (inode == -2) return false;
        if (inode > 0) samples.push_back({fd, static_cast<uint64_t>(inode)});
        if (inode >= 0) break;  // an open fd: the sample, whatever it is
      }
      return true;
    };
    for (uint32_t at = from; at < end; at += step) {
      if (Cancelled() || !sample(at)) return;
    }
    // and the last open fd, where the newest sockets are, when it lies past the last sample
    if (open > 0 && (samples.empty() || samples.back().fd + 1 < open - 1) && open - 1 >= from && !sample(open - 1)) return;
    // windows in fd order; the one after the last sample runs to the end of the table
    uint32_t budget = kGuideReadLimit;
    for (size_t i = 0; i < samples.size() && budget > 0; ++i) {
      const bool last = i + 1 == samples.size();
      if (last) {
        // past the last sample the table is mostly empty: a run of closed fds ends the window there
        uint32_t closed = 0;
        for (uint32_t fd = samples[i].fd + 1; fd < table && budget > 0 && closed < kGuideTailHoles; ++fd, --budget) {
          int64_t inode = Probe(directory.get(), fd, cursor);
          if (inode == -2) return;
          closed = inode == -1 ? closed + 1 : 0;
        }
      } else if (!Narrow(directory.get(), cursor, samples[i].fd, samples[i].inode, samples[i + 1].fd, samples[i + 1].inode, budget)) {
        return;
      }
      if (AllFound()) return;
    }
  }

  // Searches the fds strictly between `low` and `high`, sockets whose inodes are known, for a
  // wanted inode between theirs: halving while the fd in the middle is a socket, then reading the
  // few left. False when the process refused.
  bool Narrow(int directory, ProcessCursor& cursor, uint32_t low, uint64_t low_inode, uint32_t high, uint64_t high_inode, uint32_t& budget) {
    // bounded: each call halves the window or reads it whole, within `budget` reads
    for (;;) {
      if (!WantsBetween(std::min(low_inode, high_inode), std::max(low_inode, high_inode)) || budget == 0) return true;
      if (high - low <= kGuideLinear) break;
      const uint32_t middle = low + (high - low) / 2;
      --budget;
      int64_t inode = Probe(directory, middle, cursor);
      if (inode == -2) return false;
      if (inode <= 0) break;  // a hole or another file: no inode to go by
      const uint64_t middle_inode = static_cast<uint64_t>(inode);
      // the half whose ends bracket the wanted inode, the other only if it brackets one too
      if (!Narrow(directory, cursor, low, low_inode, middle, middle_inode, budget)) return false;
      if (AllFound()) return true;
      low = middle;
      low_inode = middle_inode;
    }
    for (uint32_t fd = low + 1; fd < high && budget > 0; ++fd, --budget) {
      if (Probe(directory, fd, cursor) == -2) return false;
    }
    return true;
  }

  // Reads these fd numbers of one process: where a process forked from a holder keeps the socket.
  void ProbeFds(int proc, ProcessCursor& cursor, const std::vector<uint32_t>& fds) {
    if (cursor.denied || fds.empty()) return;
    char path[32];
    std::snprintf(path, sizeof path, "%u/fd", cursor.pid);
    UniqueFd directory(openat(proc, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (directory.get() < 0) return;
    for (uint32_t fd : fds) {
      if (Cancelled() || Probe(directory.get(), fd, cursor) == -2) return;
    }
  }

  bool AllFound() const {
    return std::all_of(found_.begin(), found_.end(), [](bool found) { return found; });
  }

 private:
  void Visit(int directory, const char* name, char* link, size_t link_size, ProcessCursor& cursor) {
    uint64_t fd;
    if (!ParseDecimal(name, &fd)) return;
    ++scan_.links;
    ssize_t length = readlinkat(directory, name, link, link_size);
    if (length < 0) {
      // Some processes list their fds but refuse to show where they lead, even to root
      // (a ptrace check): their sockets' owners are unknown, not absent.
      if (errno == EACCES || errno == EPERM) Deny(cursor);
      return;
    }
    uint64_t inode;
    if (!ParseSocketLink(link, static_cast<size_t>(length), &inode)) return;
    Record(inode, cursor.pid, fd);
  }

  void Record(uint64_t inode, uint32_t pid, uint64_t fd) {
    if (wanted_ != nullptr) {
      auto at = std::lower_bound(wanted_->begin(), wanted_->end(), inode);
      if (at == wanted_->end() || *at != inode) return;
      found_[static_cast<size_t>(at - wanted_->begin())] = true;
    }
    scan_.rows.push_back({pid, static_cast<int32_t>(fd), static_cast<uint32_t>(inode), static_cast<uint32_t>(inode >> 32)});
  }

  // Whether a wanted inode not found yet lies in [low, high].
  bool WantsBetween(uint64_t low, uint64_t high) const {
    if (wanted_ == nullptr) return false;
    for (auto at = std::lower_bound(wanted_->begin(), wanted_->end(), low); at != wanted_->end() && *at <= high; ++at) {
      if (!found_[static_cast<size_t>(at - wanted_->begin())]) return true;
    }
    return false;
  }

  void Vanish(const ProcessCursor& cursor) {
    ++scan_.vanished;
    scan_.vanished_pids.push_back(cursor.pid);
  }

  void Deny(ProcessCursor& cursor) {
    if (!cursor.denied) scan_.denied_pids.push_back(cursor.pid);
    cursor.denied = true;
  }

  const std::vector<uint64_t>* wanted_;
  std::vector<bool> found_;
  OwnerScan& scan_;
  std::vector<char> buffer_;
  uint32_t debug_throw_at_pid_;
  const std::atomic<bool>* cancel_;
};

void Merge(const OwnerScan& from, OwnerScan& into) {
  into.rows.insert(into.rows.end(), from.rows.begin(), from.rows.end());
  into.denied_pids.insert(into.denied_pids.end(), from.denied_pids.begin(), from.denied_pids.end());
  into.vanished_pids.insert(into.vanished_pids.end(), from.vanished_pids.begin(), from.vanished_pids.end());
  into.processes += from.processes;
  into.vanished += from.vanished;
  into.links += from.links;
  into.cancelled = into.cancelled || from.cancelled;
}

// Every pid under /proc, ascending.
int ListPids(int proc, std::vector<uint32_t>& pids) {
  std::vector<char> entries(kDirentBytes);
  return ForEachEntry(proc, entries.data(), [&](const char* name) {
    uint64_t pid;
    if (ParseDecimal(name, &pid) && pid <= UINT32_MAX) pids.push_back(static_cast<uint32_t>(pid));
    return true;
  });
}

// Reads every fd of every process, on two threads: the cost is one readlink per fd of the machine.
void ScanEverything(int proc, const std::vector<uint64_t>* wanted, const std::vector<uint32_t>& pids,
                    const OwnerQuery& query, OwnerScan& scan) {
  OwnerScan other;
  auto scan_share = [&](OwnerScan& into, size_t first) {
    OwnerScanner scanner(wanted, into, query);
    for (size_t i = first; i < pids.size() && !scanner.Cancelled(); i += 2) {
      ProcessCursor cursor{pids[i]};
      scanner.Scan(proc, cursor, SIZE_MAX);
    }
  };
  RunBoth([&] { scan_share(scan, 0); }, [&] { scan_share(other, 1); });
  Merge(other, scan);
}

// Reads every process a little at a time, round after round, on two threads, and stops after the
// round in which the last wanted socket was found. Processes open their listening sockets early, so those sit
// at low fd numbers: the first rounds find them wherever they are, without reading the
// thousands of connection fds a busy process holds. Sharers (prefork workers) hold a listener
// at a low fd too, so they turn up in the same round.
void ScanUntilFound(int proc, const std::vector<uint64_t>& wanted, const std::vector<uint32_t>& pids,
                    const OwnerQuery& query, OwnerScan& scan) {
  // Two threads, each with its own half of the processes; they meet at the end of every round.
  std::vector<ProcessCursor> cursors[2];
  for (size_t i = 0; i < pids.size(); ++i) cursors[i % 2].push_back({pids[i]});
  OwnerScan other;
  OwnerScanner scanners[2] = {OwnerScanner(&wanted, scan, query), OwnerScanner(&wanted, other, query)};
  auto round = [&](size_t half, size_t budget) {
    bool any = false;
    for (ProcessCursor& cursor : cursors[half]) {
      if (scanners[half].Cancelled()) return false;
      if (cursor.done) continue;
      scanners[half].Scan(proc, cursor, budget);
      any = true;
    }
    return any;
  };
  auto all_found = [&] {
    for (size_t i = 0; i < wanted.size(); ++i) {
      if (!scanners[0].found()[i] && !scanners[1].found()[i]) return false;
    }
    return true;
  };
  // After the first round, the processes with more fds than it read are searched where the
  // wanted inodes should be (Guide), each thread over its half: a listener deep in a process's
  // fds is found without reading every busy process to that depth.
  auto guide = [&](size_t half) {
    for (ProcessCursor& cursor : cursors[half]) {
      if (scanners[half].Cancelled() || scanners[half].AllFound()) return;
      if (cursor.done || cursor.denied) continue;
      scanners[half].Guide(proc, cursor, cursor.position > 2 ? static_cast<uint32_t>(cursor.position - 2) : 0);
    }
  };
  // Budgets double while cheap, then grow by a fixed step: a socket deep in one process's fds then
  // costs every busy process about as many reads as its depth, not twice that.
  for (size_t budget = kFirstRoundBytes; ; budget = std::min(budget * 2, kRoundStepBytes)) {
    bool first_any = false;
    bool second_any = false;
    RunBoth([&] { first_any = round(0, budget); }, [&] { second_any = round(1, budget); });
    if (all_found() || (!first_any && !second_any) || scan.cancelled || other.cancelled) break;
    if (budget == kFirstRoundBytes) {
      RunBoth([&] { guide(0); }, [&] { guide(1); });
      if (scan.cancelled || other.cancelled) break;
      if (all_found()) {
        // A round reads every process to the same depth, and so finds the processes forked from a
        // holder, which keep its socket at the same fd; the guided search read one process deep.
        // The same fd numbers in every other process stand in for that round.
        std::vector<uint32_t> fds;
        std::vector<uint32_t> holders;
        for (const OwnerScan* part : {&scan, &other}) {
          for (const OwnerRow& row : part->rows) {
            fds.push_back(static_cast<uint32_t>(row.fd));
            holders.push_back(row.pid);
          }
        }
        for (std::vector<uint32_t>* list : {&fds, &holders}) {
          std::sort(list->begin(), list->end());
          list->erase(std::unique(list->begin(), list->end()), list->end());
        }
        auto probe = [&](size_t half) {
          for (ProcessCursor& cursor : cursors[half]) {
            if (!std::binary_search(holders.begin(), holders.end(), cursor.pid)) scanners[half].ProbeFds(proc, cursor, fds);
          }
        };
        RunBoth([&] { probe(0); }, [&] { probe(1); });
        break;
      }
    }
  }
  Merge(other, scan);
}

}  // namespace

void ScanSocketOwners(const OwnerQuery& query, OwnerScan& scan) {
  // an empty list asks for nothing: no socket, or no process, to look at
  if ((!query.every_socket && query.inodes.empty()) || (!query.every_process && query.pids.empty())) return;
  UniqueFd proc(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (proc.get() < 0) {
    scan.error = errno;
    return;
  }
  std::vector<uint32_t> all;
  if (query.every_process) {
    scan.error = ListPids(proc.get(), all);
    if (scan.error != 0) return;
  }
  const std::vector<uint32_t>& which = query.every_process ? all : query.pids;
  if (query.stop_when_found && !query.every_socket) {
    ScanUntilFound(proc.get(), query.inodes, which, query, scan);
  } else {
    ScanEverything(proc.get(), query.every_socket ? nullptr : &query.inodes, which, query, scan);
  }
}

namespace {

// 0 when fd `fd` of the process `pid` is, as far as its link says, the socket `inode`; ESTALE when
// it is another file or none (closed), or the errno of the readlink (EACCES: no ptrace rights now).
int LinkIsSocket(uint32_t pid, int32_t fd, uint64_t inode) {
  char path[48];
  std::snprintf(path, sizeof path, "/proc/%u/fd/%d", pid, fd);
  char link[64];
  ssize_t length = readlink(path, link, sizeof link);
  if (length < 0) return errno == ENOENT ? ESTALE : errno;
  uint64_t found;
  return ParseSocketLink(link, static_cast<size_t>(length), &found) && found == inode ? 0 : ESTALE;
}

// Test seam (debugPauseAfterGetfd): a socket on which, after each pidfd_getfd, a byte is written and
// one awaited (10 s at most), so that a test can have the owner close its fd in between.
std::atomic<int> pause_after_getfd{-1};
// The seam's fd as this reader thread's own fd table kept it when the thread started: another
// number set later would name some other file there (the duplicate, even).
thread_local int kept_pause_fd = -1;

void PauseAfterGetfd() {
  int fd = pause_after_getfd.load();
  if (fd < 0 || fd != kept_pause_fd) return;
  Handshake(fd, 'd');
}

}  // namespace

void DebugPauseAfterGetfd(int fd) { pause_after_getfd.store(fd); }

void DebugPauseScan(int fd, uint32_t pid, ScanPausePoint point) {
  scan_pause_fd.store(fd);
  scan_pause_point.store(point);
  scan_pause_pid.store(pid);
}

namespace {

// Reads the options of `pid`'s fd `fd` through a duplicate left in `copy`, for the caller to close.
SocketOptions ReadThroughDuplicate(uint32_t pid, int32_t fd, uint64_t expected_inode, UniqueFd& copy) {
  SocketOptions options;
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (pidfd.get() < 0) {
    options.Fail("pidfd_open", errno);
    return options;
  }
  // The fd number may have been closed and reused since the scan, for a socket the caller's checks
  // never saw; receiving that one would re-tag it. Looking again here narrows that window to the
  // next two system calls (the fstat below still catches what slips through, but only after).
  if (int error = LinkIsSocket(pid, fd, expected_inode); error != 0) {
    options.Fail("readlink", error);
    return options;
  }
  copy.reset(static_cast<int>(syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
  if (copy.get() < 0) {
    options.Fail("pidfd_getfd", errno);
    return options;
  }
  pidfd.reset();
  PauseAfterGetfd();

  // The fd number may have been closed and reused since the scan: read only the socket asked about.
  struct stat status;
  if (fstat(copy.get(), &status) != 0 || !S_ISSOCK(status.st_mode) ||
      static_cast<uint64_t>(status.st_ino) != expected_inode) {
    options.Fail("fstat", ESTALE);
    return options;
  }

  // Reads only, each of a field the kernel reads without the socket lock (sk_getsockopt,
  // do_ipv6_getsockopt). But every getsockopt then runs the BPF_CGROUP_GETSOCKOPT programs of the
  // socket's cgroup under lock_sock, which could make it wait on the owner and rewrite the value:
  // the caller (lib/linux/sockopthooks.ts) asks for no read where any such program applies or their
  // count is unknown. SO_DOMAIN says the family, where getsockname would run the cgroup
  // getsockname hooks under lock_sock whatever the count.
  int value = 0;
  socklen_t length = sizeof value;
  if (getsockopt(copy.get(), SOL_SOCKET, SO_REUSEADDR, &value, &length) == 0) options.reuse_addr = value != 0;
  length = sizeof value;
  if (getsockopt(copy.get(), SOL_SOCKET, SO_REUSEPORT, &value, &length) == 0) options.reuse_port = value != 0;
  int family = 0;
  length = sizeof family;
  if (getsockopt(copy.get(), SOL_SOCKET, SO_DOMAIN, &family, &length) == 0 && family == AF_INET6) {
    length = sizeof value;
    if (getsockopt(copy.get(), IPPROTO_IPV6, IPV6_V6ONLY, &value, &length) == 0) options.ipv6_only = value != 0;
  }
  return options;
}

// Another process's socket options are read on threads of the addon's own, each with a file
// descriptor table of its own (close_range CLOSE_RANGE_UNSHARE, which copies no fd into it):
// - the duplicate never appears in this process's /proc/<pid>/fd, where an owner scan (this
//   process's next one, ss -p, lsof) would name this process as a holder of the socket;
// - its close, which is the socket's last when the owner closed its fd meanwhile and then waits out
//   the owner's SO_LINGER (seconds), runs there, never on the caller's thread (issue 10, item 3).
// A caller waits only for the read itself, on a thread set aside for it before anything is
// duplicated: with all kMaxThreads of them busy in lingering closes, or none startable, nothing is
// read. Threads start when first needed and live as long as the process.
class OptionReaders {
 public:
  // Never destroyed: its detached threads may still be closing when static destructors run.
  static OptionReaders& Get() {
    static OptionReaders* readers = new OptionReaders;
    return *readers;
  }

  SocketOptions Read(uint32_t pid, int32_t fd, uint64_t inode) {
    Request request{pid, fd, inode, {}};
    std::unique_lock<std::mutex> lock(mutex_);
    if (idle_ == 0 && (threads_ == kMaxThreads || !StartLocked())) {
      request.options.Fail("reader thread", EAGAIN);
      return request.options;
    }
    --idle_;
    // a queued request always has an idle thread set aside, so the ring never holds more than kMaxThreads
    queue_[(head_ + queued_) % kMaxThreads] = &request;
    ++queued_;
    // notify_all, not _one: a handful of threads, and no lost wake-up to ever leave a caller waiting
    wake_.notify_all();
    // the read does not block (no socket lock, see below), so neither does this wait
    done_.wait(lock, [&request] { return request.done; });
    return request.options;
  }

 private:
  struct Request {
    uint32_t pid;
    int32_t fd;
    uint64_t inode;
    SocketOptions options;
    bool done = false;
  };

  static constexpr size_t kMaxThreads = 4;

  bool StartLocked() {
    try {
      std::thread thread(&OptionReaders::Run, this);
      // named here, not in Run, so that the name is there as soon as the thread is (tests count them)
      pthread_setname_np(thread.native_handle(), "portclash-opts");
      thread.detach();
    } catch (const std::system_error&) {
      return false;  // the thread limit
    }
    ++threads_;
    ++idle_;
    return true;
  }

  void Run() {
    int unshared = FdTableOfItsOwn();
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return queued_ > 0; });
      Request* request = queue_[head_];
      head_ = (head_ + 1) % kMaxThreads;
      --queued_;
      lock.unlock();
      UniqueFd copy;
      // a thread whose fd table is still shared reads nothing; it tries again for each request,
      // since EPERM (a seccomp filter) or ENOMEM may pass, unlike ENOSYS or EINVAL (Linux < 5.9)
      if (unshared != 0) unshared = FdTableOfItsOwn();
      if (unshared != 0) {
        request->options.Fail("close_range", unshared);
      } else {
        request->options = ReadThroughDuplicate(request->pid, request->fd, request->inode, copy);
      }
      lock.lock();
      request->done = true;  // the request belongs to its caller again from here on
      done_.notify_all();
      lock.unlock();
      copy.reset();  // perhaps the socket's last close, lingering
      lock.lock();
      ++idle_;
    }
  }

  // Gives this thread an empty fd table of its own (Linux ≥ 5.9); 0 or an errno. A test seam's fd
  // (debugPauseAfterGetfd, set before the first read) is kept: the range below it is closed after.
  static int FdTableOfItsOwn() {
    int keep = pause_after_getfd.load();
    kept_pause_fd = keep;
    unsigned first = keep < 0 ? 0 : static_cast<unsigned>(keep) + 1;
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_UNSHARE) != 0) return errno;
    if (keep > 0 && syscall(SYS_close_range, 0U, static_cast<unsigned>(keep) - 1, 0U) != 0) return errno;
    return 0;
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  Request* queue_[kMaxThreads] = {};
  size_t head_ = 0;
  size_t queued_ = 0;
  size_t threads_ = 0;
  size_t idle_ = 0;  // threads neither reading nor closing, less those set aside for queued requests
};

}  // namespace

SocketOptions ReadSocketOptions(uint32_t pid, int32_t fd, uint64_t expected_inode) {
  return OptionReaders::Get().Read(pid, fd, expected_inode);
}

long ClockTicksPerSecond() { return sysconf(_SC_CLK_TCK); }

}  // namespace portclash
