// The /proc/net parsers behind ReadProcNet, reachable without a file: for the fuzz targets (fuzz/), not for the addon.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sockets.h"

namespace portclash {
namespace testing {

// One line of a table, without its newline: ReadProcNet's own line parser.
bool ParseProcLine(const char* begin, const char* end, uint8_t protocol, uint8_t family,
                   RawRow* row);

// A whole table's text, handed to ReadProcNet's read loop as read(2) would: in chunks of the
// given sizes (summing to the text's length), each cut further to the room left in a buffer of
// `buffer_bytes` (0: the reader's own size), so lines split across reads and over-long lines
// take the paths a file's would.
SourceResult ParseProcTable(const char* text, const size_t* chunk_sizes, size_t chunk_count,
                            size_t buffer_bytes, uint8_t protocol, uint8_t family,
                            std::vector<RawRow>& rows);

}  // namespace testing
}  // namespace portclash
