// The Windows readers: IP Helper's socket tables, the facts of a process, the running services, registry values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sockets.h"

namespace portclash {

// Plain C++ like linux.h: the Windows headers stay in win32.cc, so that windows.h, and its min and
// max macros, never reach addon.cc. Every error here is a Win32 error code (see FailedCall).

// One IP Helper table: TCP (6) or UDP (17), of IPv4 (4) or IPv6 (6).
struct IpHelperQuery {
  uint8_t protocol;
  uint8_t family;
};

// Reads each table with GetExtendedTcpTable (TCP_TABLE_OWNER_PID_ALL) or GetExtendedUdpTable
// (UDP_TABLE_OWNER_PID) and appends a RawRow per entry, owner_pid from dwOwningPid. The table can
// grow between the size query and the read, so ERROR_INSUFFICIENT_BUFFER is retried with the size
// the call asked for, a bounded number of times (kTableAttempts), then kept as the table's error.
// A failed table leaves its error in its result and the others still run.
std::vector<SourceResult> ReadIpHelper(const std::vector<IpHelperQuery>& queries,
                                       std::vector<RawRow>& rows, size_t batch_rows = 0,
                                       const RowBatchSink& sink = nullptr);

// How many times one table is asked for before its ERROR_INSUFFICIENT_BUFFER is final.
constexpr int kTableAttempts = 8;

// Test seam for the retry loop: a table that outgrows the buffer it is given `growths` times, then
// fits. Returns the loop's Win32 error (0 when it fitted) and counts the calls it made.
uint32_t DebugTableRetries(uint32_t growths, uint32_t& calls);

// What Windows tells about one process, each fact read on its own: a fact that could not be read
// is empty and its error says why (the Win32 error of the call that failed), never a guess. When
// OpenProcess itself fails (pid 0, the System Idle Process, always does; pid 4, System, and
// protected processes often do), every fact carries its error.
struct ProcessFacts {
  uint32_t pid = 0;
  std::string image;          // QueryFullProcessImageNameW, as UTF-8: C:\Program Files\nodejs\node.exe
  uint32_t image_error = 0;
  std::string user;           // the token's user through LookupAccountSidW: DOMAIN\name, as UTF-8
  uint32_t user_error = 0;
  double start_time_ms = 0;   // GetProcessTimes' creation time, in ms since the Unix epoch
  uint32_t start_error = 0;
  uint32_t parent_pid = 0;    // th32ParentProcessID from a Toolhelp snapshot: the creator, which may have exited since
  uint32_t parent_error = 0;  // the snapshot's error, or ERROR_NOT_FOUND when the pid was not in it
};

// The parent of every process, from one CreateToolhelp32Snapshot; `error` is why it is empty.
struct ParentPids {
  std::vector<std::pair<uint32_t, uint32_t>> pids;  // (pid, parent pid), sorted by pid
  uint32_t error = 0;
};

ParentPids ReadParentPids();

// The facts of `pid`; its parent from `parents`, one snapshot for a batch of pids.
ProcessFacts ReadProcessFacts(uint32_t pid, const ParentPids& parents);

// A running Win32 service and the process it runs in.
struct ServiceEntry {
  std::string name;
  std::string display_name;
  uint32_t pid;
};

// EnumServicesStatusExW over the active Win32 services; those without a process (pid 0: starting
// or stopping) are left out. On failure the services read so far are dropped and the error kept.
struct ServiceList : FailedCall {
  std::vector<ServiceEntry> services;
};

ServiceList ListServices();

// One value of a registry key as RegEnumValueW gives it: its name, its type (REG_SZ 1, REG_DWORD
// 4, ...) and, for REG_SZ alone, its data as UTF-8 with the terminating NULs left off; the data of
// other types is not kept. `error` is this value's own failure, its name and type still given:
// ERROR_MORE_DATA when the data is larger than kMaxRegistryDataBytes, ERROR_INVALID_DATA when a
// REG_SZ holds an odd number of bytes (not whole UTF-16 units).
// REG_SZ, whose data alone is kept (winnt.h; here for addon.cc, which does not include it).
constexpr uint32_t kRegistryString = 1;

struct RegistryValue {
  std::string name;
  uint32_t type = 0;
  std::string data;
  uint32_t error = 0;
};

// The values of one key, or the Win32 error of the call that failed (RegOpenKeyExW gives
// ERROR_FILE_NOT_FOUND for a key that does not exist). `changing`: the key was written to during
// every one of kRegistryAttempts readings, so no reading is known to be whole; `values` is empty.
struct RegistryValues : FailedCall {
  std::vector<RegistryValue> values;
  bool changing = false;
};

// Readings of one key before it is given up as changing: a value set or deleted during
// RegEnumValueW shifts the indexes it counts by, so a reading is kept only when the key's last
// write time (RegQueryInfoKeyW) is the same after it as before.
constexpr int kRegistryAttempts = 3;
// Bounds on one key: values enumerated, and bytes of one value's data.
constexpr uint32_t kMaxRegistryValues = 65536;
constexpr uint32_t kMaxRegistryDataBytes = 65536;

// Reads each key, a path under HKEY_LOCAL_MACHINE (UTF-8, `SYSTEM\...`), with KEY_READ through the
// 64-bit view (KEY_WOW64_64KEY), one result per path in order. Every key opened is closed.
std::vector<RegistryValues> ReadRegistryValues(const std::vector<std::string>& paths);

}  // namespace portclash
