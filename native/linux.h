// The Linux readers: /proc/net, sock_diag, the /proc/<pid>/fd owner scan, socket options, cgroups, namespaces.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sockets.h"
#include "unique_fd.h"

namespace portclash {

// One file of the /proc/net socket tables, as the caller names it.
struct ProcNetSource {
  std::string path;
  uint8_t protocol;
  uint8_t family;
};

// Reads each source with read(2) in fixed-size chunks and parses every complete line as it
// arrives, so memory stays bounded whatever the table's size. Lines that do not match the kernel's
// format exactly are skipped and counted, never guessed at; so is a last line without its newline,
// which may have been cut anywhere. A socket shows once per source: the kernel resumes each read
// at a position, so a table that changes meanwhile repeats rows (dropped and counted by inode, or
// by five-tuple and state where the inode is 0) and may skip some (which nothing can detect).
// A failed source leaves its errno in its result and the others still run: whether a missing
// tcp6 matters (IPv6 off) is for the caller to decide.
std::vector<SourceResult> ReadProcNet(const std::vector<ProcNetSource>& sources,
                                      std::vector<RawRow>& rows, size_t batch_rows = 0,
                                      const RowBatchSink& sink = nullptr);

// One inet_diag dump: a protocol and family, the kernel states wanted (1 << state), and an
// optional local port (-1 for any) the kernel filters on with bytecode. Family 0 (TCP only) asks
// for both families in one dump, through the older request (TCPDIAG_GETSOCK), which the kernel
// answers with AF_UNSPEC: one walk of its hashes where two per-family dumps take two.
struct DiagQuery {
  uint8_t protocol;
  uint8_t family;  // 4, 6, or 0 for both (TCP)
  uint32_t states;
  int32_t port;
  size_t receive_bytes = 0;  // the receive buffer; 0 for the default (tests abandon dumps with less)
};

enum class DiagStatus { kMore, kDone, kError };

// Parses one datagram of a dump reply to request `sequence`: appends a row per socket message,
// counts malformed ones, and says whether the dump goes on, ended, or failed (errno in result).
DiagStatus ParseDiagDatagram(const uint8_t* data, size_t length, uint32_t sequence,
                             uint8_t protocol, std::vector<RawRow>& rows, SourceResult& result);

// Runs each query as a NETLINK_SOCK_DIAG dump on a netlink socket of the caller's network
// namespace, one per family, and a fresh one after any failed dump: the kernel may still be in
// the middle of that dump and would answer the next request on the socket with EBUSY. Like
// ReadProcNet, a failed query leaves its errno in its result and the others run; rows it produced
// before failing may already have been handed out.
std::vector<SourceResult> ReadSockDiag(const std::vector<DiagQuery>& queries,
                                       std::vector<RawRow>& rows, size_t batch_rows = 0,
                                       const RowBatchSink& sink = nullptr);

// The network interfaces of the caller's namespace (if_nameindex), for naming bound devices.
struct InterfaceName {
  uint32_t index;
  std::string name;
};
std::vector<InterfaceName> ListInterfaces();

// One open file descriptor of a process that refers to a socket.
struct OwnerRow {
  uint32_t pid;
  int32_t fd;
  uint32_t inode_low;
  uint32_t inode_high;
};

static_assert(sizeof(OwnerRow) == 16, "OwnerRow is shared with lib/linux/owners.ts");

struct OwnerScan {
  std::vector<OwnerRow> rows;
  std::vector<uint32_t> denied_pids;    // /proc/<pid>/fd could not be read (EACCES, EPERM)
  uint32_t processes = 0;               // processes whose fds were read
  std::vector<uint32_t> vanished_pids;  // exited before or while their fds were read (ENOENT, ESRCH)
  uint32_t vanished = 0;                // how many: vanished_pids.size()
  uint64_t links = 0;                   // fd links read (readlink calls): what the scan cost
  int error = 0;                        // /proc itself could not be read
  bool cancelled = false;               // OwnerQuery::cancel stopped it: rows are incomplete
};

// Which sockets to look for in /proc/<pid>/fd, and in which processes. An empty list means none:
// only every_socket / every_process mean all.
struct OwnerQuery {
  std::vector<uint64_t> inodes;  // sorted, unique
  bool every_socket = false;
  std::vector<uint32_t> pids;    // read in this order
  bool every_process = false;
  // end the scan after the process in which the last wanted inode was first found
  bool stop_when_found = false;
  // test seam (debugFindSocketOwners): throw, as a failed allocation would, on reaching this pid
  uint32_t debug_throw_at_pid = 0;
  // when it turns true, the scan stops at its next process, round or batch of fd entries
  const std::atomic<bool>* cancel = nullptr;
};

// Reads the fd links of the processes asked for and reports those that are sockets asked for.
void ScanSocketOwners(const OwnerQuery& query, OwnerScan& scan);

// Options of another process's socket, read from a duplicate made with pidfd_getfd (Linux ≥ 5.6,
// ptrace rights over the owner). -1 means not read.
struct SocketOptions : FailedCall {
  int reuse_addr = -1;
  int reuse_port = -1;
  int ipv6_only = -1;
};

// The duplicate is made, read and closed on a thread of the addon's own ("portclash-opts"), whose
// fd table is its own: it never shows in this process's /proc/<pid>/fd, and its close, the
// socket's last should the owner close its fd meanwhile, may wait out SO_LINGER there, never on
// the caller's thread. With no such thread free (all in lingering closes, or the thread limit)
// nothing is duplicated: error EAGAIN, syscall "reader thread". Needs close_range's
// CLOSE_RANGE_UNSHARE (Linux ≥ 5.9): elsewhere error ENOSYS or EINVAL, syscall "close_range".
SocketOptions ReadSocketOptions(uint32_t pid, int32_t fd, uint64_t expected_inode);

// Test seam: after each pidfd_getfd, write a byte to `fd` and await one (fd -1: off). Set it before
// the first ReadSocketOptions: the reader threads' fd tables keep that fd from when they start.
void DebugPauseAfterGetfd(int fd);

// Test seam: once, when the owner scan reaches `pid` (0: off), write a byte to `fd` ('o' before it
// opens /proc/<pid>/fd, 'b' after the first batch of entries it read there) and await one.
enum class ScanPausePoint { kBeforeOpen, kAfterBatch };
void DebugPauseScan(int fd, uint32_t pid, ScanPausePoint point);

long ClockTicksPerSecond();

// How this process relates to the user namespace owning its network namespace, which is where
// the kernel looks for CAP_NET_BIND_SERVICE: the same one (CapEff decides), the creator of a
// child of ours (all capabilities there), or neither (none).
// `netns_path` names the network namespace: /proc/self/ns/net for this process's own.
enum class NamespaceRelation { kUnknown, kSame, kOwner, kNone };
NamespaceRelation NetnsOwnerRelation(const char* netns_path);

// What an nsfs file is: its inode and device (which tell namespaces apart), and whether it is a
// network namespace. error/syscall say why it could not be told (open: ENOENT, EACCES; ioctl:
// ENOTTY for a file that is no namespace).
struct NetnsIdentity : FailedCall {
  uint64_t inode = 0;
  uint64_t device = 0;
  bool network = false;
};
NetnsIdentity IdentifyNetns(const char* path);

// Runs `work` on a thread of its own that entered, with setns(2), the network namespace of the
// nsfs file at `path` (/run/netns/NAME, /proc/<pid>/ns/net). The sockets that thread opens belong
// to that namespace, as do the files of /proc/thread-self/net and /proc/sys/net it opens, and so
// do threads it starts; the caller's thread and the rest of the process stay where they are.
// Returns the failure that kept `work` from running ("open netns"; setns: EPERM without CAP_SYS_ADMIN over
// the namespace, EINVAL for a file that is no network namespace; thread), error 0 once it ran. An
// exception from `work` is rethrown on the caller's thread.
FailedCall RunInNetns(const std::string& path, const std::function<void()>& work);

// Small files read whole (sysctls, /proc/net/fib_trie), each with the errno of a failed open or
// read; at most `limit` bytes of each (error EFBIG past it).
struct FileText : FailedCall {
  std::string text;
};
std::vector<FileText> ReadFiles(const std::vector<std::string>& paths, size_t limit);

// The cgroup-BPF programs that run, for a process of this cgroup v2 directory, on socket() and
// bind() of inet sockets: they can refuse (EPERM) or rewrite a bind that no socket table shows.
// Counts are -1 when not read; error/syscall say why (EPERM without CAP_NET_ADMIN).
struct CgroupHooks : FailedCall {
  long sock_create = -1;
  long inet4_bind = -1;
  long inet6_bind = -1;
  long inet4_post_bind = -1;
  long inet6_post_bind = -1;
};
CgroupHooks QueryCgroupHooks(const char* cgroup_path);

// The text of cgroup.procs of the cgroup v2 whose id is `id` (as sock_diag reports a socket's),
// opened by file handle under the cgroup2 `mountpoint`: needs CAP_DAC_READ_SEARCH.
struct CgroupProcs : FailedCall {
  std::string text;
};
CgroupProcs ReadCgroupProcs(const char* mountpoint, uint64_t id);

// The cgroup-BPF programs that run on getsockopt() of a socket made in one cgroup v2, its
// ancestors' included (BPF_F_QUERY_EFFECTIVE, BPF_CGROUP_GETSOCKOPT). The kernel runs the programs
// of the socket's cgroup, not the caller's, under the socket's lock, and lets them rewrite the
// value read. count is -1 when not counted; error/syscall say why (EPERM without CAP_NET_ADMIN, or
// from open_by_handle_at without CAP_DAC_READ_SEARCH; ESTALE once the cgroup is gone).
struct ProgramCount : FailedCall {
  long count = -1;
};
// by the cgroup's id, as sock_diag reports a socket's, opened by file handle under `mountpoint`
ProgramCount CountGetsockoptProgramsById(const char* mountpoint, uint64_t id);
// by the cgroup's directory, for callers who cannot open by handle
ProgramCount CountGetsockoptProgramsAt(const char* cgroup_path);

// A netlink socket of `protocol` (NETLINK_SOCK_DIAG, NETLINK_NETFILTER) in the calling thread's
// network namespace, whose receives time out (10 s). Returns 0 or an errno (call.syscall says which call failed). The one place a
// reader opens its netlink socket, so that choosing another namespace is a change here alone.
int OpenNetlink(int protocol, UniqueFd& fd, FailedCall& call);

// How long a reader waits for the kernel's next datagram before it gives up (ETIMEDOUT).
constexpr int kNetlinkTimeoutSeconds = 10;

// A dump reply arrives in datagrams of at most 32 KiB (the kernel caps netlink dump skbs there);
// twice that leaves room, and MSG_TRUNC still tells if it ever was not enough.
constexpr size_t kNetlinkReceiveBytes = 64 * 1024;

// Sends one netlink request to the kernel, again after EINTR. Returns 0 or an errno.
int SendToKernel(int fd, const void* bytes, size_t length);

// One receive of a reply. kDatagram: `length` bytes of the kernel's are in `buffer`. kAgain: the
// call was interrupted, or the datagram came from another process and was dropped (`foreign`
// counts them: past 64 the request fails with EBADMSG). kFailed: `error` says why (ETIMEDOUT for
// the receive timeout, EMSGSIZE for a datagram cut short, EBADMSG for an empty one).
enum class Received { kDatagram, kAgain, kFailed };
Received ReceiveFromKernel(int fd, std::vector<uint8_t>& buffer, size_t& foreign, size_t& length, int& error);

// A netlink status (NLMSG_DONE, NLMSG_ERROR) as an errno: it is 0 or a negated errno, and the
// kernel's errnos are 1..4095 (MAX_ERRNO). Any other negative value is not the kernel's (INT_MIN,
// whose negation overflows, least of all): EBADMSG.
int ErrnoOfStatus(int status);

// One nf_tables request: an NFT_MSG_* type (the subsystem is added), an nfgen family (NFPROTO_*),
// whether it is a dump, and the netlink attributes that follow the nfgenmsg, built by the caller.
struct NftRequest {
  uint8_t message_type;
  uint8_t family;
  bool dump;
  std::vector<uint8_t> attributes;
};

// A request's reply: its netlink messages as the kernel sent them (headers included, each padded
// to NLMSG_ALIGN), NLMSG_DONE and the ACK left out; empty with error/syscall set when it failed
// (EPERM without CAP_NET_ADMIN, ENOENT for a set gone meanwhile, EFBIG past 256 MiB).
struct NftReply : FailedCall {
  std::vector<uint8_t> messages;
};

// Sends each request in turn on one NETLINK_NETFILTER socket (a fresh one after a failure) and
// reads each reply to its end, on the calling thread. A failed request leaves its errno in its
// reply and the others still run. When `cancel` turns true (the process or thread is exiting), the
// request waiting and those after it fail with ECANCELED within 100 ms.
std::vector<NftReply> ReadNftables(const std::vector<NftRequest>& requests,
                                   const std::atomic<bool>* cancel = nullptr);

}  // namespace portclash
