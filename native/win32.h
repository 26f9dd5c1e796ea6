// The Windows readers: IP Helper's socket tables. Empty until the Windows backend fills it.
#pragma once

#include "sockets.h"

namespace portclash {

// Nothing is declared yet: no reader is written, and the JS loader still refuses win32 ("no
// backend yet"). The Windows backend declares its readers here, as linux.h does its own: the TCP
// and UDP tables of each family (GetExtendedTcpTable with TCP_TABLE_OWNER_PID_ALL,
// GetExtendedUdpTable with UDP_TABLE_OWNER_PID) appended as RawRow, owner_pid from the table's
// dwOwningPid, one SourceResult per table, batches through a RowBatchSink.
// Plain C++ like linux.h: the Windows headers stay in win32.cc, so that windows.h, and its min and
// max macros, never reach addon.cc.

}  // namespace portclash
