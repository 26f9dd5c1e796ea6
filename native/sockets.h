// The raw socket row and the contract every OS's readers share. Plain C++: no N-API here, no meaning either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace portclash {

// One socket as the kernel reports it. Rows travel to JavaScript packed back to back in
// ArrayBuffers, so this layout is a contract with lib/rows.ts: change both together and bump
// kRowLayoutVersion. Numbers are in the machine's byte order, addresses in network order.
struct RawRow {
  uint8_t local_address[16];   // IPv4 uses the first 4 bytes
  uint8_t remote_address[16];
  uint32_t inode_low;          // the socket inode, split so that JS needs no BigInt
  uint32_t inode_high;
  uint32_t uid;
  uint32_t tx_queue;
  uint32_t rx_queue;
  uint16_t local_port;
  uint16_t remote_port;
  uint8_t protocol;            // IPPROTO_TCP (6) or IPPROTO_UDP (17)
  uint8_t family;              // 4 or 6, the same on every OS (AF_INET6 is not)
  uint8_t state;               // the kernel's state code, as it is (Windows: MIB_TCP_STATE, 1..12,
                               // for TCP; 0 for UDP, whose table has no state)
  uint8_t flags;               // kRow* bits: which source, and which optional fields are known
  uint32_t interface_index;    // Linux: SO_BINDTODEVICE, 0 = not bound (known only with kRowFromSockDiag).
                               // Windows: the IPv6 scope id (dwLocalScopeId) of IPv6 rows, 0 for IPv4
  uint32_t cgroup_low;         // cgroup v2 id, when kRowCgroupKnown
  uint32_t cgroup_high;
  uint32_t class_id;           // INET_DIAG_CLASS_ID, when kRowClassIdKnown
  uint32_t owner_pid;          // the owning process where the OS's table names it, else 0: Linux's
                               // tables do not (lib finds owners by the /proc/<pid>/fd scan)
};

static_assert(sizeof(RawRow) == 80, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, inode_low) == 32, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, local_port) == 52, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, protocol) == 56, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, interface_index) == 60, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, cgroup_low) == 64, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, class_id) == 72, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, owner_pid) == 76, "RawRow is shared with lib/rows.ts");

constexpr uint32_t kRowLayoutVersion = 4;

// RawRow::flags. Part of the row's layout, so they live here, though every bit so far is about Linux:
// which of its two sources a row came from, and which of sock_diag's optional attributes it sent.
constexpr uint8_t kRowFromSockDiag = 1 << 0;  // else from /proc/net
constexpr uint8_t kRowV6OnlyKnown = 1 << 1;   // INET_DIAG_SKV6ONLY was present
constexpr uint8_t kRowV6Only = 1 << 2;
constexpr uint8_t kRowCgroupKnown = 1 << 3;   // INET_DIAG_CGROUP_ID was present
constexpr uint8_t kRowClassIdKnown = 1 << 4;  // INET_DIAG_CLASS_ID was present

constexpr uint8_t kProtocolTcp = 6;
constexpr uint8_t kProtocolUdp = 17;

// The system call that failed and its errno; error 0 when none did. On Windows `error` is the Win32
// error code of the failed call (its return value or GetLastError(), a DWORD kept in the int's bits
// and handed to JS unsigned), not an errno, and `syscall` names the Win32 function.
struct FailedCall {
  int error = 0;
  const char* syscall = nullptr;

  void Fail(const char* call, int code) {
    syscall = call;
    error = code;
  }
};

// What reading one source gave: rows appended to the shared table, lines skipped as malformed,
// rows dropped as repeats of one already read (a torn /proc read), and the errno of a failed
// open/read (0 when the read succeeded).
struct SourceResult : FailedCall {
  size_t rows = 0;
  size_t malformed = 0;
  size_t duplicates = 0;
};

// Called with the rows parsed so far once there are at least `batch_rows` of them; it takes them
// (and must leave the vector empty), so that a caller can hand rows on while reading goes on.
using RowBatchSink = std::function<void(std::vector<RawRow>& rows)>;

}  // namespace portclash
