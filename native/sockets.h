// The raw socket row and the per-OS readers. Plain C++: no N-API here, no meaning either.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace portclash {

// One socket as the kernel reports it. Rows travel to JavaScript packed back to back in one
// ArrayBuffer, so this layout is a contract with lib/rows.ts: change both together and bump
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
  uint8_t state;               // the kernel's state code, as it is
  uint8_t reserved[5];
};

static_assert(sizeof(RawRow) == 64, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, inode_low) == 32, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, local_port) == 52, "RawRow is shared with lib/rows.ts");
static_assert(offsetof(RawRow, protocol) == 56, "RawRow is shared with lib/rows.ts");

constexpr uint32_t kRowLayoutVersion = 1;

constexpr uint8_t kProtocolTcp = 6;
constexpr uint8_t kProtocolUdp = 17;

// One file of the /proc/net socket tables, as the caller names it.
struct ProcNetSource {
  std::string path;
  uint8_t protocol;
  uint8_t family;
};

// What reading one source gave: rows appended to the shared table, lines skipped as malformed,
// and the errno of a failed open/read (0 when the read succeeded).
struct SourceResult {
  size_t rows = 0;
  size_t malformed = 0;
  int error = 0;
  const char* syscall = nullptr;
};

// Called with the rows parsed so far once there are at least `batch_rows` of them; it takes them
// (and must leave the vector empty), so that a caller can hand rows on while reading goes on.
using RowBatchSink = std::function<void(std::vector<RawRow>& rows)>;

// Reads each source with read(2) in fixed-size chunks and parses every complete line as it
// arrives, so memory stays bounded whatever the table's size. Lines that do not match the kernel's
// format exactly are skipped and counted, never guessed at; so is a last line without its newline,
// which may have been cut anywhere. A failed source leaves its errno in its result and the others
// still run: whether a missing tcp6 matters (IPv6 off) is for the caller to decide.
std::vector<SourceResult> ReadProcNet(const std::vector<ProcNetSource>& sources,
                                      std::vector<RawRow>& rows, size_t batch_rows = 0,
                                      const RowBatchSink& sink = nullptr);

}  // namespace portclash
