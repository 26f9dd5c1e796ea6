// libFuzzer target: one netlink datagram through ParseDiagDatagram (and so ParseSocketMessage), as recvmsg would hand it.
//
// Input: 2 control bytes, then the datagram.
//   [0] bit 0: UDP (else TCP)
//   [1] the dump's sequence number (captures in fuzz/corpus/diag_reply were made with 1)
#include <linux/netlink.h>
#include <linux/inet_diag.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../native/linux.h"
#include "check.h"

using portclash::DiagStatus;
using portclash::RawRow;
using portclash::SourceResult;
using portclash_fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t protocol = (data[0] & 1) != 0 ? 17 : 6;
  const uint32_t sequence = data[1];
  // a copy of exactly the datagram's size, so ASan sees any read past its end
  std::vector<uint8_t> datagram(data + 2, data + size);
  const uint8_t* bytes = datagram.empty() ? nullptr : datagram.data();

  std::vector<RawRow> rows;
  SourceResult result;
  DiagStatus status =
      portclash::ParseDiagDatagram(bytes, datagram.size(), sequence, protocol, rows, result);

  Check(rows.size() == result.rows, "rows counted are the rows given");
  Check(status != DiagStatus::kError || (result.error > 0 && result.error <= 4095),
        "a failed dump has an errno, 1..4095 as the kernel's are");
  Check(status == DiagStatus::kError || result.error == 0, "only a failed dump has an errno");
  // every message takes a header; every row, an inet_diag_msg after it
  Check(result.rows * (NLMSG_HDRLEN + sizeof(inet_diag_msg)) <= datagram.size(),
        "each row has a whole message of its own");
  Check((result.rows + result.malformed) * NLMSG_HDRLEN <= datagram.size(),
        "each row or malformed message has a header of its own");
  for (const RawRow& row : rows) {
    Check(row.protocol == protocol, "row.protocol is the one asked for");
    Check(row.family == 4 || row.family == 6, "row.family is 4 or 6");
    Check((row.flags & portclash::kRowFromSockDiag) != 0, "a sock_diag row says so");
    Check((row.flags & portclash::kRowV6Only) == 0 || (row.flags & portclash::kRowV6OnlyKnown) != 0,
          "V6ONLY is set only when known");
    Check((row.flags & ~0x1f) == 0, "no unknown flag bits");
    Check(row.owner_pid == 0, "sock_diag names no owner");
    if ((row.flags & portclash::kRowCgroupKnown) == 0) {
      Check(row.cgroup_low == 0 && row.cgroup_high == 0, "no cgroup unless known");
    }
    if (row.family == 4) {
      static const uint8_t kZero[12] = {};
      Check(std::memcmp(row.local_address + 4, kZero, 12) == 0 &&
                std::memcmp(row.remote_address + 4, kZero, 12) == 0,
            "an IPv4 row uses only the first 4 address bytes");
    }
  }
  return 0;
}
