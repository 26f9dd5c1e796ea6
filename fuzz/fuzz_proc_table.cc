// libFuzzer target: /proc/net table text through ReadProcNet's read loop (chunked, split lines) and line parser.
//
// Input: 4 control bytes, then the table's text.
//   [0] bit 0: family 6 (else 4); bit 1: UDP (else TCP)
//   [1..2] buffer size, 16 + (value % 4096): small buffers make over-long lines and carry-overs
//   [3] seed of the chunk sizes, as read(2) would cut the text
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../native/linux_parsers.h"
#include "check.h"

using portclash::RawRow;
using portclash::SourceResult;
using portclash_fuzz::Check;

namespace {

void CheckRow(const RawRow& row, uint8_t protocol, uint8_t family) {
  Check(row.protocol == protocol, "row.protocol is the one asked for");
  Check(row.family == family, "row.family is the one asked for");
  Check(row.flags == 0, "a /proc/net row sets no flags");
  Check(row.owner_pid == 0 && row.interface_index == 0 && row.cgroup_low == 0 &&
            row.cgroup_high == 0 && row.class_id == 0,
        "a /proc/net row leaves what /proc/net does not give at 0");
  if (family == 4) {
    static const uint8_t kZero[12] = {};
    Check(std::memcmp(row.local_address + 4, kZero, 12) == 0 &&
              std::memcmp(row.remote_address + 4, kZero, 12) == 0,
          "an IPv4 row uses only the first 4 address bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t family = (data[0] & 1) != 0 ? 6 : 4;
  const uint8_t protocol = (data[0] & 2) != 0 ? 17 : 6;
  const size_t buffer_bytes = 16 + ((static_cast<size_t>(data[1]) << 8 | data[2]) % 4096);
  uint32_t seed = data[3] * 2654435761u + 1;
  const char* text = reinterpret_cast<const char*>(data + 4);
  const size_t length = size - 4;

  std::vector<size_t> chunks;
  for (size_t left = length; left > 0;) {
    seed = seed * 1103515245u + 12345u;
    size_t chunk = 1 + (seed >> 16) % 512;
    if (chunk > left) chunk = left;
    chunks.push_back(chunk);
    left -= chunk;
  }

  std::vector<RawRow> rows;
  SourceResult result = portclash::testing::ParseProcTable(text, chunks.data(), chunks.size(),
                                                           buffer_bytes, protocol, family, rows);
  size_t newlines = 0;
  for (size_t i = 0; i < length; ++i) newlines += text[i] == '\n';
  Check(result.error == 0, "parsing bytes in memory fails no read");
  Check(rows.size() == result.rows, "rows counted are the rows given");
  Check(result.rows <= newlines, "no more rows than newlines");
  Check(result.rows + result.malformed + result.duplicates <= newlines + 1,
        "every line is a row, malformed or a repeat, once");

  // Each line alone: the table's rows are the lines' rows in order, minus repeats and the header.
  std::vector<RawRow> line_rows;
  const char* line = text;
  const char* end = text + length;
  while (line < end) {
    const char* newline = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (newline == nullptr) break;  // an unterminated last line is never a row
    RawRow row;
    if (portclash::testing::ParseProcLine(line, newline, protocol, family, &row)) {
      CheckRow(row, protocol, family);
      line_rows.push_back(row);
    }
    line = newline + 1;
  }
  size_t next = 0;
  for (const RawRow& row : rows) {
    CheckRow(row, protocol, family);
    while (next < line_rows.size() && std::memcmp(&line_rows[next], &row, sizeof row) != 0) ++next;
    Check(next < line_rows.size(), "a table row is a row its line parses to, in order");
    ++next;
  }
  return 0;
}
