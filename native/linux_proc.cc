// Reads /proc/net/{tcp,tcp6,udp,udp6} with read(2) in fixed-size chunks, parsing each complete line in place into RawRow.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unordered_set>

#include <fcntl.h>
#include <unistd.h>

#include "linux.h"
#include "linux_parsers.h"
#include "unique_fd.h"

namespace portclash {
namespace {

// A cursor over one line. Every step checks the exact shape the kernel prints
// (net/ipv4/tcp_ipv4.c get_tcp4_sock, net/ipv6/tcp_ipv6.c get_tcp6_sock, net/ipv4/udp.c
// udp4_format_sock); the first step that fails makes the whole line malformed.
class LineCursor {
 public:
  LineCursor(const char* begin, const char* end) : at_(begin), end_(end) {}

  bool Char(char expected) {
    if (at_ == end_ || *at_ != expected) return false;
    ++at_;
    return true;
  }

  // One or more spaces (the kernel pads with %4d, %5u, %8d).
  bool Spaces() {
    const char* start = at_;
    while (at_ != end_ && *at_ == ' ') ++at_;
    return at_ != start;
  }

  void OptionalSpaces() {
    while (at_ != end_ && *at_ == ' ') ++at_;
  }

  // Between min_digits and max_digits hex digits, and no more, into a 64-bit value.
  bool Hex(size_t min_digits, size_t max_digits, uint64_t* value) {
    return HexDigits(min_digits, max_digits, value) && (at_ == end_ || HexValue(*at_) < 0);
  }

  // Unsigned decimal that must fit in max_value.
  bool Decimal(uint64_t max_value, uint64_t* value) {
    uint64_t result = 0;
    size_t digits = 0;
    while (at_ != end_ && *at_ >= '0' && *at_ <= '9') {
      uint64_t digit = static_cast<uint64_t>(*at_ - '0');
      if (result > (max_value - digit) / 10) return false;
      result = result * 10 + digit;
      ++at_;
      ++digits;
    }
    if (digits == 0) return false;
    *value = result;
    return true;
  }

  // A signed decimal whose value we do not need (the timeout column).
  bool SkipSignedDecimal() {
    Char('-');
    uint64_t ignored;
    return Decimal(UINT32_MAX, &ignored);
  }

  // An address printed as 32-bit words in the machine's byte order (%08X each), so writing the
  // parsed word back to memory restores the kernel's network-order bytes on any endianness.
  bool Address(size_t words, uint8_t* out) {
    for (size_t i = 0; i < words; ++i) {
      uint64_t word;
      if (!HexDigits(8, 8, &word)) return false;
      uint32_t word32 = static_cast<uint32_t>(word);
      std::memcpy(out + 4 * i, &word32, sizeof word32);
    }
    return true;
  }

  bool AtFieldEnd() const { return at_ == end_ || *at_ == ' '; }

 private:
  // Reads up to max_digits hex digits, stopping there even if more follow (an IPv6 address is
  // four words printed back to back).
  bool HexDigits(size_t min_digits, size_t max_digits, uint64_t* value) {
    uint64_t result = 0;
    size_t digits = 0;
    while (at_ != end_ && digits < max_digits) {
      int nibble = HexValue(*at_);
      if (nibble < 0) break;
      result = (result << 4) | static_cast<uint64_t>(nibble);
      ++at_;
      ++digits;
    }
    if (digits < min_digits) return false;
    *value = result;
    return true;
  }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }

  const char* at_;
  const char* end_;
};

bool ParseLine(const char* begin, const char* end, uint8_t protocol, uint8_t family, RawRow* row) {
  LineCursor cursor(begin, end);
  const size_t address_words = family == 6 ? 4 : 1;
  uint64_t value;

  std::memset(row, 0, sizeof *row);  // what the line does not give stays 0: owner_pid, for one
  row->protocol = protocol;
  row->family = family;

  // "   0: " slot number
  cursor.OptionalSpaces();
  if (!cursor.Decimal(UINT32_MAX, &value) || !cursor.Char(':') || !cursor.Spaces()) return false;

  // local and remote "address:port"
  if (!cursor.Address(address_words, row->local_address) || !cursor.Char(':') ||
      !cursor.Hex(4, 4, &value)) {
    return false;
  }
  row->local_port = static_cast<uint16_t>(value);
  if (!cursor.Spaces() || !cursor.Address(address_words, row->remote_address) ||
      !cursor.Char(':') || !cursor.Hex(4, 4, &value)) {
    return false;
  }
  row->remote_port = static_cast<uint16_t>(value);

  // state
  if (!cursor.Spaces() || !cursor.Hex(2, 2, &value)) return false;
  row->state = static_cast<uint8_t>(value);

  // "tx_queue:rx_queue"
  if (!cursor.Spaces() || !cursor.Hex(1, 8, &value)) return false;
  row->tx_queue = static_cast<uint32_t>(value);
  if (!cursor.Char(':') || !cursor.Hex(1, 8, &value)) return false;
  row->rx_queue = static_cast<uint32_t>(value);

  // "tr:tm->when" (the timer may print as a 64-bit long), then retrnsmt
  if (!cursor.Spaces() || !cursor.Hex(1, 2, &value) || !cursor.Char(':') ||
      !cursor.Hex(1, 16, &value)) {
    return false;
  }
  if (!cursor.Spaces() || !cursor.Hex(1, 8, &value)) return false;

  // uid, timeout, inode
  if (!cursor.Spaces() || !cursor.Decimal(UINT32_MAX, &value)) return false;
  row->uid = static_cast<uint32_t>(value);
  if (!cursor.Spaces() || !cursor.SkipSignedDecimal()) return false;
  if (!cursor.Spaces() || !cursor.Decimal(UINT64_MAX, &value) || !cursor.AtFieldEnd()) {
    return false;
  }
  row->inode_low = static_cast<uint32_t>(value);
  row->inode_high = static_cast<uint32_t>(value >> 32);
  return true;
}

bool IsHeader(const char* begin, const char* end) {
  static const char kMarker[] = "local_address";
  const size_t marker_length = sizeof kMarker - 1;
  for (const char* at = begin; at + marker_length <= end; ++at) {
    if (std::memcmp(at, kMarker, marker_length) == 0) return true;
  }
  return false;
}

// The kernel's seq_file hands out at most a page or so per read(); a larger buffer only saves
// system calls. Lines are ~150 bytes, so any line longer than this is not the kernel's.
constexpr size_t kChunkBytes = 256 * 1024;

// The identity of a row with no inode (TIME_WAIT, request sockets): its five-tuple and state.
using TupleKey = std::array<uint8_t, 37>;

struct TupleHash {
  size_t operator()(const TupleKey& key) const {
    // Four address words, then ports and state, each mixed in by a multiply: a byte loop would
    // double the parse time of a table full of TIME_WAIT.
    uint64_t words[5] = {};
    std::memcpy(words, key.data(), key.size());
    uint64_t hash = 0;
    for (uint64_t word : words) hash = (hash ^ word) * 0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(hash ^ (hash >> 29));
  }
};

// Whether a row was already seen in this reading of the table. The kernel's seq_file resumes each
// read(2) at a position, not at a socket, so a socket that moves in the hash while the table is
// read shows twice (and one may be skipped, which no reader can see).
class SeenRows {
 public:
  SeenRows() { inodes_.reserve(1024); }

  bool Insert(const RawRow& row) {
    const uint64_t inode = (static_cast<uint64_t>(row.inode_high) << 32) | row.inode_low;
    if (inode != 0) return inodes_.insert(inode).second;
    TupleKey key;
    std::memcpy(key.data(), row.local_address, 16);
    std::memcpy(key.data() + 16, row.remote_address, 16);
    std::memcpy(key.data() + 32, &row.local_port, 2);
    std::memcpy(key.data() + 34, &row.remote_port, 2);
    key[36] = row.state;
    return tuples_.insert(key).second;
  }

 private:
  std::unordered_set<uint64_t> inodes_;
  std::unordered_set<TupleKey, TupleHash> tuples_;
};

// Parses one table as its text arrives, keeping only an incomplete last line between chunks.
class TableParser {
 public:
  TableParser(const ProcNetSource& source, std::vector<RawRow>& rows, SourceResult& result)
      : source_(source), rows_(rows), result_(result) {}

  // Parses every complete line in [begin, end); returns where the incomplete rest starts.
  const char* ParseLines(const char* begin, const char* end) {
    const char* at = begin;
    while (at < end) {
      const char* newline = static_cast<const char*>(std::memchr(at, '\n', end - at));
      if (newline == nullptr) break;
      if (discarding_) {
        discarding_ = false;  // the end of an over-long line, already counted
      } else if (first_line_ && IsHeader(at, newline)) {
        // the column header the kernel prints first
      } else if (newline != at) {
        rows_.emplace_back();
        if (!ParseLine(at, newline, source_.protocol, source_.family, &rows_.back())) {
          rows_.pop_back();
          ++result_.malformed;
        } else if (!seen_.Insert(rows_.back())) {
          rows_.pop_back();
          ++result_.duplicates;
        } else {
          ++result_.rows;
        }
      }
      first_line_ = false;
      at = newline + 1;
    }
    return at;
  }

  // A full buffer without a newline: count the line once and drop it up to its newline.
  void DiscardLongLine() {
    if (!discarding_) ++result_.malformed;
    discarding_ = true;
    first_line_ = false;
  }

  // The text ended inside a line: it may have been cut anywhere, so it is not trusted.
  void Finish(bool leftover) {
    if (leftover && !discarding_) ++result_.malformed;
  }

 private:
  const ProcNetSource& source_;
  std::vector<RawRow>& rows_;
  SourceResult& result_;
  bool first_line_ = true;
  bool discarding_ = false;
  SeenRows seen_;
};

// Feeds the table's text, as `read` hands it into `buffer`, to a TableParser: the loop ReadSource
// runs on a file, and the fuzz targets on bytes (native/linux_parsers.h). `read(into, room)` returns
// the bytes it gave, 0 at the end, or -1 with errno set. Returns 0 or an errno.
template <typename Read>
int ParseStream(Read&& read, const ProcNetSource& source, std::vector<char>& buffer,
                std::vector<RawRow>& rows, SourceResult& result, size_t batch_rows,
                const RowBatchSink& sink) {
  TableParser parser(source, rows, result);
  size_t used = 0;  // bytes of an incomplete line carried over at the buffer's start
  for (;;) {
    ssize_t got = read(buffer.data() + used, buffer.size() - used);
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) break;
    const char* end = buffer.data() + used + got;
    const char* rest = parser.ParseLines(buffer.data(), end);
    used = static_cast<size_t>(end - rest);
    if (used == buffer.size()) {
      parser.DiscardLongLine();
      used = 0;
    } else if (used > 0 && rest != buffer.data()) {
      std::memmove(buffer.data(), rest, used);
    }
    if (batch_rows > 0 && rows.size() >= batch_rows) sink(rows);
  }
  parser.Finish(used > 0);
  return 0;
}

// Returns 0 or an errno; result.syscall names the call that failed.
int ReadSource(const ProcNetSource& source, std::vector<char>& buffer, std::vector<RawRow>& rows,
               SourceResult& result, size_t batch_rows, const RowBatchSink& sink) {
  result.syscall = "open";
  UniqueFd fd;  // closed on every way out, a throwing sink included
  do {
    fd.reset(open(source.path.c_str(), O_RDONLY | O_CLOEXEC));
  } while (fd.get() < 0 && errno == EINTR);
  if (fd.get() < 0) return errno;

  result.syscall = "read";
  const int error = ParseStream(
      [&fd](char* into, size_t room) { return read(fd.get(), into, room); }, source, buffer, rows,
      result, batch_rows, sink);
  if (error != 0) return error;
  result.syscall = nullptr;
  return 0;
}

}  // namespace

std::vector<SourceResult> ReadProcNet(const std::vector<ProcNetSource>& sources,
                                      std::vector<RawRow>& rows, size_t batch_rows,
                                      const RowBatchSink& sink) {
  std::vector<SourceResult> results(sources.size());
  std::vector<char> buffer(kChunkBytes);
  for (size_t i = 0; i < sources.size(); ++i) {
    results[i].error = ReadSource(sources[i], buffer, rows, results[i], batch_rows, sink);
  }
  return results;
}

std::vector<FileText> ReadFiles(const std::vector<std::string>& paths, size_t limit) {
  std::vector<FileText> files(paths.size());
  for (size_t i = 0; i < paths.size(); ++i) {
    FileText& file = files[i];
    UniqueFd fd;
    do {
      fd.reset(open(paths[i].c_str(), O_RDONLY | O_CLOEXEC));
    } while (fd.get() < 0 && errno == EINTR);
    if (fd.get() < 0) {
      file.Fail("open", errno);
      continue;
    }
    char chunk[4096];
    for (;;) {
      ssize_t got = read(fd.get(), chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        file.Fail("read", errno);
        break;
      }
      if (got == 0) break;
      if (file.text.size() + static_cast<size_t>(got) > limit) {
        file.Fail("read", EFBIG);
        break;
      }
      file.text.append(chunk, static_cast<size_t>(got));
    }
    if (file.error != 0) file.text.clear();
  }
  return files;
}

namespace testing {

bool ParseProcLine(const char* begin, const char* end, uint8_t protocol, uint8_t family,
                   RawRow* row) {
  return ParseLine(begin, end, protocol, family, row);
}

SourceResult ParseProcTable(const char* text, const size_t* chunk_sizes, size_t chunk_count,
                            size_t buffer_bytes, uint8_t protocol, uint8_t family,
                            std::vector<RawRow>& rows) {
  ProcNetSource source{"", protocol, family};
  SourceResult result;
  std::vector<char> buffer(buffer_bytes > 0 ? buffer_bytes : kChunkBytes);
  size_t chunk = 0;
  size_t offset_in_chunk = 0;
  // a read(2) gives at most what is left of the current chunk and what the buffer has room for
  auto read = [&](char* into, size_t room) -> ssize_t {
    while (chunk < chunk_count && offset_in_chunk == chunk_sizes[chunk]) {
      ++chunk;
      offset_in_chunk = 0;
    }
    if (chunk == chunk_count) return 0;
    const size_t give = std::min(room, chunk_sizes[chunk] - offset_in_chunk);
    std::memcpy(into, text, give);
    text += give;
    offset_in_chunk += give;
    return static_cast<ssize_t>(give);
  };
  result.error = ParseStream(read, source, buffer, rows, result, 0, nullptr);
  return result;
}

}  // namespace testing

}  // namespace portclash
