// The Windows readers (win32.h): IP Helper's socket tables, the facts of a process, the services, registry values.
#include "win32.h"

// windows.h without its rarely used parts, and without min and max macros.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif

// WinSock for address families and byte order, IP Helper for GetExtendedTcpTable and
// GetExtendedUdpTable (ws2_32 and iphlpapi), advapi32 for tokens, accounts and services.
// winsock2.h goes before iphlpapi.h and windows.h, as Microsoft's "Creating a Basic Winsock
// Application" asks, so that the old winsock.h, whose declarations clash with it, never comes in
// ahead of it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <windows.h>
#include <tlhelp32.h>
#include <winsvc.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <cwchar>
#include <functional>

namespace portclash {
namespace {

// The NTSTATUS STATUS_UNSUCCESSFUL. GetTcpTable's page says it comes back when the table changed
// by more than two entries three times in a row under load, and that calling again usually clears
// it; psutil (socks.c, giampaolo/psutil#1294) sees it from the extended calls and retries too.
constexpr DWORD kStatusUnsuccessful = 0xC0000001;

// A buffer for one table, aligned for its DWORDs, reused from table to table.
class TableBuffer {
 public:
  void* Data() { return words_.empty() ? nullptr : words_.data(); }
  DWORD Bytes() const { return static_cast<DWORD>(words_.size() * sizeof(uint64_t)); }
  void Grow(uint64_t bytes) {
    if (bytes > Bytes()) words_.resize(static_cast<size_t>((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t)));
  }

 private:
  std::vector<uint64_t> words_;
};

// One Get*Table call: the buffer and, in and out, its size in bytes.
using TableCall = std::function<DWORD(void* buffer, DWORD* size)>;

// Asks for the table until it fits in the buffer, at most kTableAttempts times. Each short call
// says how many bytes the table needs now; it can grow again before the next call, so the buffer
// gets a quarter more than that. Returns the last call's error, NO_ERROR once the table fitted.
DWORD ReadTable(const TableCall& call, TableBuffer& buffer, uint32_t& calls) {
  DWORD status = ERROR_INSUFFICIENT_BUFFER;
  for (int attempt = 0; attempt < kTableAttempts; ++attempt) {
    DWORD size = buffer.Bytes();
    status = call(buffer.Data(), &size);
    ++calls;
    if (status == NO_ERROR) return NO_ERROR;
    if (status != ERROR_INSUFFICIENT_BUFFER && status != kStatusUnsuccessful) return status;
    if (status == ERROR_INSUFFICIENT_BUFFER) {
      uint64_t wanted = static_cast<uint64_t>(size) + size / 4;
      buffer.Grow(std::min<uint64_t>(wanted, MAXDWORD));
    }
  }
  return status;
}

// The tables keep a port in the low 16 bits of a DWORD, in network order.
uint16_t PortFromTable(DWORD port) {
  return ntohs(static_cast<u_short>(port & 0xFFFF));
}

// The entries of a table that lie inside the buffer: dwNumEntries, unless the table claims more
// rows than the bytes hold (never seen; counted as malformed rather than read past the end).
template <typename Table>
DWORD EntriesInBuffer(const Table& table, DWORD buffer_bytes, SourceResult& result) {
  const size_t header = offsetof(Table, table);
  const size_t fit = buffer_bytes < header ? 0 : (buffer_bytes - header) / sizeof(table.table[0]);
  const DWORD count = static_cast<DWORD>(std::min<size_t>(table.dwNumEntries, fit));
  result.malformed += table.dwNumEntries - count;
  return count;
}

// Turns every entry of a table into a RawRow with `fill`, handing rows on in batches.
template <typename Table, typename Fill>
void AppendTable(TableBuffer& buffer, std::vector<RawRow>& rows, SourceResult& result, size_t batch_rows,
                 const RowBatchSink& sink, Fill fill) {
  // a call that succeeded without a buffer (no table at all) has no rows to give
  if (buffer.Bytes() < offsetof(Table, table)) return;
  const Table& table = *static_cast<const Table*>(buffer.Data());
  const DWORD count = EntriesInBuffer(table, buffer.Bytes(), result);
  for (DWORD i = 0; i < count; ++i) {
    RawRow row{};
    if (!fill(table.table[i], row)) {
      ++result.malformed;
      continue;
    }
    rows.push_back(row);
    ++result.rows;
    if (batch_rows > 0 && rows.size() >= batch_rows) sink(rows);
  }
}

// dwState is a MIB_TCP_STATE (1..12); one that would not fit the row's byte is not a TCP state.
bool TcpState(DWORD state, RawRow& row) {
  if (state > 0xFF) return false;
  row.state = static_cast<uint8_t>(state);
  return true;
}

bool FillTcp4(const MIB_TCPROW_OWNER_PID& entry, RawRow& row) {
  std::memcpy(row.local_address, &entry.dwLocalAddr, 4);  // already in network order
  std::memcpy(row.remote_address, &entry.dwRemoteAddr, 4);
  row.local_port = PortFromTable(entry.dwLocalPort);
  row.remote_port = PortFromTable(entry.dwRemotePort);
  row.protocol = kProtocolTcp;
  row.family = 4;
  row.owner_pid = entry.dwOwningPid;
  return TcpState(entry.dwState, row);
}

bool FillTcp6(const MIB_TCP6ROW_OWNER_PID& entry, RawRow& row) {
  std::memcpy(row.local_address, entry.ucLocalAddr, 16);
  std::memcpy(row.remote_address, entry.ucRemoteAddr, 16);
  row.local_port = PortFromTable(entry.dwLocalPort);
  row.remote_port = PortFromTable(entry.dwRemotePort);
  row.protocol = kProtocolTcp;
  row.family = 6;
  row.interface_index = entry.dwLocalScopeId;  // as the table gives it (see sockets.h)
  row.owner_pid = entry.dwOwningPid;
  return TcpState(entry.dwState, row);
}

// UDP rows have no remote end and no state: both stay 0.
bool FillUdp4(const MIB_UDPROW_OWNER_PID& entry, RawRow& row) {
  std::memcpy(row.local_address, &entry.dwLocalAddr, 4);
  row.local_port = PortFromTable(entry.dwLocalPort);
  row.protocol = kProtocolUdp;
  row.family = 4;
  row.owner_pid = entry.dwOwningPid;
  return true;
}

bool FillUdp6(const MIB_UDP6ROW_OWNER_PID& entry, RawRow& row) {
  std::memcpy(row.local_address, entry.ucLocalAddr, 16);
  row.local_port = PortFromTable(entry.dwLocalPort);
  row.protocol = kProtocolUdp;
  row.family = 6;
  row.interface_index = entry.dwLocalScopeId;
  row.owner_pid = entry.dwOwningPid;
  return true;
}

// Reads one table into rows; returns its Win32 error, NO_ERROR when read.
DWORD ReadQuery(const IpHelperQuery& query, TableBuffer& buffer, std::vector<RawRow>& rows,
                SourceResult& result, size_t batch_rows, const RowBatchSink& sink) {
  const ULONG family = query.family == 6 ? AF_INET6 : AF_INET;
  const bool tcp = query.protocol == kProtocolTcp;
  uint32_t calls = 0;
  DWORD status;
  if (tcp) {
    result.syscall = "GetExtendedTcpTable";
    status = ReadTable([family](void* data, DWORD* size) {
      return GetExtendedTcpTable(data, size, FALSE, family, TCP_TABLE_OWNER_PID_ALL, 0);
    }, buffer, calls);
  } else {
    result.syscall = "GetExtendedUdpTable";
    status = ReadTable([family](void* data, DWORD* size) {
      return GetExtendedUdpTable(data, size, FALSE, family, UDP_TABLE_OWNER_PID, 0);
    }, buffer, calls);
  }
  if (status != NO_ERROR) return status;
  result.syscall = nullptr;
  if (tcp && family == AF_INET) {
    AppendTable<MIB_TCPTABLE_OWNER_PID>(buffer, rows, result, batch_rows, sink, FillTcp4);
  } else if (tcp) {
    AppendTable<MIB_TCP6TABLE_OWNER_PID>(buffer, rows, result, batch_rows, sink, FillTcp6);
  } else if (family == AF_INET) {
    AppendTable<MIB_UDPTABLE_OWNER_PID>(buffer, rows, result, batch_rows, sink, FillUdp4);
  } else {
    AppendTable<MIB_UDP6TABLE_OWNER_PID>(buffer, rows, result, batch_rows, sink, FillUdp6);
  }
  return NO_ERROR;
}

// Closes a kernel object handle on every way out.
class UniqueHandle {
 public:
  explicit UniqueHandle(HANDLE handle = nullptr) : handle_(handle) {}
  ~UniqueHandle() {
    if (handle_ != nullptr) CloseHandle(handle_);
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;
  HANDLE get() const { return handle_; }

 private:
  HANDLE handle_;
};

// The same for a service control manager handle.
class UniqueServiceHandle {
 public:
  explicit UniqueServiceHandle(SC_HANDLE handle) : handle_(handle) {}
  ~UniqueServiceHandle() {
    if (handle_ != nullptr) CloseServiceHandle(handle_);
  }
  UniqueServiceHandle(const UniqueServiceHandle&) = delete;
  UniqueServiceHandle& operator=(const UniqueServiceHandle&) = delete;
  SC_HANDLE get() const { return handle_; }

 private:
  SC_HANDLE handle_;
};

// UTF-16 as Windows keeps it → UTF-8 for JS. An unpaired surrogate, which NTFS names may hold,
// becomes U+FFFD (WideCharToMultiByte without WC_ERR_INVALID_CHARS). Returns 0 or the Win32 error.
DWORD ToUtf8(const wchar_t* text, size_t length, std::string& out) {
  out.clear();
  if (length == 0) return 0;
  if (length > static_cast<size_t>(INT_MAX)) return ERROR_INVALID_PARAMETER;
  const int wide = static_cast<int>(length);
  const int bytes = WideCharToMultiByte(CP_UTF8, 0, text, wide, nullptr, 0, nullptr, nullptr);
  if (bytes <= 0) return GetLastError();
  out.resize(static_cast<size_t>(bytes));
  if (WideCharToMultiByte(CP_UTF8, 0, text, wide, &out[0], bytes, nullptr, nullptr) != bytes) {
    out.clear();
    return GetLastError();
  }
  return 0;
}

// Long paths (\\?\ and longPathAware processes) reach 32767 characters.
constexpr size_t kMaxPathChars = 32768;

DWORD ReadImage(HANDLE process, std::string& image) {
  std::vector<wchar_t> path(MAX_PATH + 1);
  for (;;) {  // MAX_PATH + 1, then × 8 up to kMaxPathChars: four calls at most
    DWORD size = static_cast<DWORD>(path.size());
    if (QueryFullProcessImageNameW(process, 0, path.data(), &size)) return ToUtf8(path.data(), size, image);
    const DWORD error = GetLastError();
    if (error != ERROR_INSUFFICIENT_BUFFER || path.size() >= kMaxPathChars) return error;
    path.resize(std::min(path.size() * 8, kMaxPathChars));
  }
}

// The token's user SID, named by LookupAccountSidW, as DOMAIN\name (name alone for the few
// well-known SIDs that have no domain, such as Everyone).
DWORD ReadUser(HANDLE process, std::string& user) {
  HANDLE token_handle = nullptr;
  if (!OpenProcessToken(process, TOKEN_QUERY, &token_handle)) return GetLastError();
  UniqueHandle token(token_handle);

  DWORD needed = 0;
  if (GetTokenInformation(token.get(), TokenUser, nullptr, 0, &needed) || needed == 0) {
    const DWORD error = GetLastError();
    return error != 0 ? error : ERROR_INVALID_DATA;  // a size query that neither failed nor sized
  }
  std::vector<uint64_t> buffer((needed + sizeof(uint64_t) - 1) / sizeof(uint64_t));
  if (!GetTokenInformation(token.get(), TokenUser, buffer.data(), static_cast<DWORD>(buffer.size() * sizeof(uint64_t)), &needed)) {
    return GetLastError();
  }
  PSID sid = reinterpret_cast<const TOKEN_USER*>(buffer.data())->User.Sid;

  std::vector<wchar_t> name(256);
  std::vector<wchar_t> domain(256);
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second with the sizes the first asked for
    DWORD name_chars = static_cast<DWORD>(name.size());
    DWORD domain_chars = static_cast<DWORD>(domain.size());
    SID_NAME_USE use;
    if (LookupAccountSidW(nullptr, sid, name.data(), &name_chars, domain.data(), &domain_chars, &use)) {
      std::string name_text;
      std::string domain_text;
      DWORD error = ToUtf8(name.data(), wcsnlen(name.data(), name.size()), name_text);
      if (error == 0) error = ToUtf8(domain.data(), wcsnlen(domain.data(), domain.size()), domain_text);
      if (error != 0) return error;
      user = domain_text.empty() ? name_text : domain_text + "\\" + name_text;
      return 0;
    }
    const DWORD error = GetLastError();
    if (error != ERROR_INSUFFICIENT_BUFFER || attempt == 1) return error;
    name.resize(std::max<size_t>(name.size(), name_chars));
    domain.resize(std::max<size_t>(domain.size(), domain_chars));
  }
  return ERROR_INSUFFICIENT_BUFFER;
}

// 100 ns ticks between 1601-01-01, where FILETIME counts from, and 1970-01-01.
constexpr int64_t kUnixEpochTicks = 116444736000000000LL;

DWORD ReadStartTime(HANDLE process, double& start_time_ms) {
  FILETIME creation, exit, kernel, user;
  if (!GetProcessTimes(process, &creation, &exit, &kernel, &user)) return GetLastError();
  const uint64_t ticks = (static_cast<uint64_t>(creation.dwHighDateTime) << 32) | creation.dwLowDateTime;
  const int64_t since_epoch = static_cast<int64_t>(ticks) - kUnixEpochTicks;
  // whole ms and the rest apart: the ticks themselves are past a double's 53 exact bits
  start_time_ms = static_cast<double>(since_epoch / 10000) + static_cast<double>(since_epoch % 10000) / 10000.0;
  return 0;
}

// Room for about 400 services with their names in one call; the API's own limit is 256 KiB.
constexpr DWORD kServiceBufferBytes = 64 * 1024;
constexpr DWORD kMaxServiceBufferBytes = 256 * 1024;
// Each call returns at least one service or fails, so this bounds a list of thousands.
constexpr int kMaxServiceCalls = 256;


// Closes a registry key on every way out.
class UniqueKey {
 public:
  UniqueKey() = default;
  ~UniqueKey() {
    if (key_ != nullptr) RegCloseKey(key_);
  }
  UniqueKey(const UniqueKey&) = delete;
  UniqueKey& operator=(const UniqueKey&) = delete;
  HKEY* out() { return &key_; }
  HKEY get() const { return key_; }

 private:
  HKEY key_ = nullptr;
};

// UTF-8 from JS → UTF-16 for the W calls. Returns 0 or the Win32 error (ERROR_NO_UNICODE_TRANSLATION
// for bytes that are not UTF-8).
DWORD FromUtf8(const std::string& text, std::wstring& out) {
  out.clear();
  if (text.empty()) return 0;
  if (text.size() > static_cast<size_t>(INT_MAX)) return ERROR_INVALID_PARAMETER;
  const int bytes = static_cast<int>(text.size());
  const int wide = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(), bytes, nullptr, 0);
  if (wide <= 0) return GetLastError();
  out.resize(static_cast<size_t>(wide));
  if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(), bytes, &out[0], wide) != wide) {
    out.clear();
    return GetLastError();
  }
  return 0;
}

// A value name is at most 16383 characters (Microsoft's "Registry Element Size Limits").
constexpr DWORD kMaxValueNameChars = 16383;

// A REG_SZ's bytes as UTF-8, its terminating NULs left off (RegEnumValueW gives them as stored,
// with or without one). Returns 0, ERROR_INVALID_DATA for an odd byte count, or ToUtf8's error.
DWORD StringData(const std::vector<uint64_t>& data, DWORD bytes, std::string& out) {
  if (bytes % sizeof(wchar_t) != 0) return ERROR_INVALID_DATA;
  std::wstring text(bytes / sizeof(wchar_t), L'\0');
  if (bytes > 0) std::memcpy(&text[0], data.data(), bytes);
  while (!text.empty() && text.back() == L'\0') text.pop_back();
  return ToUtf8(text.data(), text.size(), out);
}

// One reading of an open key's values, between two RegQueryInfoKeyW calls whose last write times
// must agree (`changed` when they do not). Returns 0 or the failed call's error, named in `syscall`.
DWORD ReadValuesOnce(HKEY key, std::vector<RegistryValue>& values, bool& changed, const char*& syscall) {
  values.clear();
  changed = false;
  DWORD count = 0, longest_name = 0, largest_data = 0;
  FILETIME before{}, after{};
  LSTATUS status = RegQueryInfoKeyW(key, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &count, &longest_name,
                                    &largest_data, nullptr, &before);
  if (status != ERROR_SUCCESS) {
    syscall = "RegQueryInfoKeyW";
    return static_cast<DWORD>(status);
  }
  // longest_name leaves out the terminating NUL; both sizes may have grown by the time a value is read
  std::vector<wchar_t> name(std::min(longest_name, kMaxValueNameChars) + 1);
  std::vector<uint64_t> data((std::min<DWORD>(largest_data, kMaxRegistryDataBytes) + sizeof(uint64_t) - 1) / sizeof(uint64_t) + 1);
  for (DWORD index = 0;; ++index) {
    if (index == kMaxRegistryValues) {
      syscall = "RegEnumValueW";
      return ERROR_MORE_DATA;
    }
    RegistryValue value;
    DWORD type = 0;
    DWORD name_chars = 0;
    DWORD data_bytes = 0;
    status = ERROR_MORE_DATA;
    // a second call with the room the first asked for: a name's largest, the data's as said
    for (int attempt = 0; attempt < 2 && status == ERROR_MORE_DATA; ++attempt) {
      name_chars = static_cast<DWORD>(name.size());
      data_bytes = static_cast<DWORD>(data.size() * sizeof(uint64_t));
      status = RegEnumValueW(key, index, name.data(), &name_chars, nullptr, &type, reinterpret_cast<LPBYTE>(data.data()), &data_bytes);
      if (status == ERROR_MORE_DATA) {
        name.resize(kMaxValueNameChars + 1);
        if (data_bytes <= kMaxRegistryDataBytes && data_bytes > data.size() * sizeof(uint64_t)) {
          data.resize((data_bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t));
        }
      }
    }
    if (status == ERROR_NO_MORE_ITEMS) break;
    if (status == ERROR_MORE_DATA) {
      // data past the bound: the name and type alone
      name_chars = static_cast<DWORD>(name.size());
      status = RegEnumValueW(key, index, name.data(), &name_chars, nullptr, &type, nullptr, nullptr);
      value.error = ERROR_MORE_DATA;
    }
    if (status != ERROR_SUCCESS) {
      syscall = "RegEnumValueW";
      return static_cast<DWORD>(status);
    }
    const DWORD name_error = ToUtf8(name.data(), std::min<size_t>(name_chars, name.size()), value.name);
    if (value.error == 0) value.error = name_error;
    value.type = type;
    if (value.error == 0 && type == REG_SZ) {
      value.error = StringData(data, std::min<DWORD>(data_bytes, static_cast<DWORD>(data.size() * sizeof(uint64_t))), value.data);
    }
    values.push_back(std::move(value));
  }
  status = RegQueryInfoKeyW(key, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, &after);
  if (status != ERROR_SUCCESS) {
    syscall = "RegQueryInfoKeyW";
    return static_cast<DWORD>(status);
  }
  changed = CompareFileTime(&before, &after) != 0;
  return 0;
}

RegistryValues ReadKey(const std::string& path) {
  RegistryValues result;
  std::wstring wide_path;
  const DWORD converted = FromUtf8(path, wide_path);
  if (converted != 0) {
    result.Fail("MultiByteToWideChar", static_cast<int>(converted));
    return result;
  }
  UniqueKey key;
  const LSTATUS opened = RegOpenKeyExW(HKEY_LOCAL_MACHINE, wide_path.c_str(), 0, KEY_READ | KEY_WOW64_64KEY, key.out());
  if (opened != ERROR_SUCCESS) {
    result.Fail("RegOpenKeyExW", static_cast<int>(opened));
    return result;
  }
  for (int attempt = 0; attempt < kRegistryAttempts; ++attempt) {
    bool changed = false;
    const char* syscall = nullptr;
    const DWORD error = ReadValuesOnce(key.get(), result.values, changed, syscall);
    if (error != 0) {
      result.values.clear();
      result.Fail(syscall, static_cast<int>(error));
      return result;
    }
    if (!changed) return result;
  }
  result.values.clear();
  result.changing = true;
  return result;
}

}  // namespace

std::vector<SourceResult> ReadIpHelper(const std::vector<IpHelperQuery>& queries,
                                       std::vector<RawRow>& rows, size_t batch_rows,
                                       const RowBatchSink& sink) {
  std::vector<SourceResult> results(queries.size());
  TableBuffer buffer;
  for (size_t i = 0; i < queries.size(); ++i) {
    results[i].error = static_cast<int>(ReadQuery(queries[i], buffer, rows, results[i], batch_rows, sink));
  }
  return results;
}

uint32_t DebugTableRetries(uint32_t growths, uint32_t& calls) {
  calls = 0;
  uint32_t grown = 0;
  TableBuffer buffer;
  // Outgrows whatever buffer it is handed, as a table that gains rows between every two calls would.
  auto table = [&](void*, DWORD* size) -> DWORD {
    if (grown == growths) return NO_ERROR;
    ++grown;
    *size += 64;
    return ERROR_INSUFFICIENT_BUFFER;
  };
  return ReadTable(table, buffer, calls);
}

ParentPids ReadParentPids() {
  ParentPids parents;
  const HANDLE raw = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (raw == INVALID_HANDLE_VALUE) {
    parents.error = GetLastError();
    return parents;
  }
  UniqueHandle snapshot(raw);
  PROCESSENTRY32W entry;
  entry.dwSize = sizeof(entry);
  for (BOOL more = Process32FirstW(snapshot.get(), &entry); more; more = Process32NextW(snapshot.get(), &entry)) {
    parents.pids.emplace_back(entry.th32ProcessID, entry.th32ParentProcessID);
  }
  const DWORD error = GetLastError();
  if (error != ERROR_NO_MORE_FILES) {
    parents.pids.clear();
    parents.error = error;
    return parents;
  }
  std::sort(parents.pids.begin(), parents.pids.end());
  return parents;
}

ProcessFacts ReadProcessFacts(uint32_t pid, const ParentPids& parents) {
  ProcessFacts facts;
  facts.pid = pid;
  const auto found = std::lower_bound(parents.pids.begin(), parents.pids.end(), std::make_pair(pid, uint32_t{0}));
  if (parents.error != 0) {
    facts.parent_error = parents.error;
  } else if (found != parents.pids.end() && found->first == pid) {
    facts.parent_pid = found->second;
  } else {
    facts.parent_error = ERROR_NOT_FOUND;
  }
  UniqueHandle process(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (process.get() == nullptr) {
    const DWORD error = GetLastError();
    facts.image_error = facts.user_error = facts.start_error = error;
    return facts;
  }
  facts.image_error = ReadImage(process.get(), facts.image);
  if (facts.image_error != 0) facts.image.clear();
  facts.user_error = ReadUser(process.get(), facts.user);
  if (facts.user_error != 0) facts.user.clear();
  facts.start_error = ReadStartTime(process.get(), facts.start_time_ms);
  return facts;
}

ServiceList ListServices() {
  ServiceList list;
  UniqueServiceHandle manager(OpenSCManagerW(nullptr, nullptr, SC_MANAGER_ENUMERATE_SERVICE));
  if (manager.get() == nullptr) {
    list.Fail("OpenSCManagerW", static_cast<int>(GetLastError()));
    return list;
  }
  std::vector<uint64_t> buffer(kServiceBufferBytes / sizeof(uint64_t));
  DWORD resume = 0;  // where the next call goes on after ERROR_MORE_DATA
  for (int call = 0; call < kMaxServiceCalls; ++call) {
    const DWORD bytes = static_cast<DWORD>(buffer.size() * sizeof(uint64_t));
    DWORD needed = 0;
    DWORD returned = 0;
    const BOOL done = EnumServicesStatusExW(manager.get(), SC_ENUM_PROCESS_INFO, SERVICE_WIN32, SERVICE_ACTIVE,
                                            reinterpret_cast<LPBYTE>(buffer.data()), bytes, &needed, &returned,
                                            &resume, nullptr);
    const DWORD error = done ? 0 : GetLastError();
    if (!done && error != ERROR_MORE_DATA) {
      list.services.clear();
      list.Fail("EnumServicesStatusExW", static_cast<int>(error));
      return list;
    }
    const auto* entries = reinterpret_cast<const ENUM_SERVICE_STATUS_PROCESSW*>(buffer.data());
    for (DWORD i = 0; i < returned; ++i) {
      const DWORD pid = entries[i].ServiceStatusProcess.dwProcessId;
      if (pid == 0) continue;
      ServiceEntry entry{{}, {}, pid};
      const wchar_t* name = entries[i].lpServiceName;
      const wchar_t* display = entries[i].lpDisplayName;
      if (name != nullptr) ToUtf8(name, wcslen(name), entry.name);
      if (display != nullptr) ToUtf8(display, wcslen(display), entry.display_name);
      list.services.push_back(std::move(entry));
    }
    if (done) return list;
    if (returned == 0) {
      // Not even one service fitted: take the room the call asked for, within the API's limit.
      if (needed <= bytes || needed > kMaxServiceBufferBytes) break;
      buffer.resize((needed + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    }
  }
  list.services.clear();
  list.Fail("EnumServicesStatusExW", ERROR_MORE_DATA);
  return list;
}

std::vector<RegistryValues> ReadRegistryValues(const std::vector<std::string>& paths) {
  std::vector<RegistryValues> results;
  results.reserve(paths.size());
  for (const std::string& path : paths) results.push_back(ReadKey(path));
  return results;
}

}  // namespace portclash
