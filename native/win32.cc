// The Windows readers (win32.h): IP Helper's socket tables. Empty until the Windows backend fills it.
#include "win32.h"

// What the readers will call: WinSock for address families and byte order, IP Helper for
// GetExtendedTcpTable and GetExtendedUdpTable (binding.gyp links ws2_32.lib and iphlpapi.lib).
// winsock2.h goes before iphlpapi.h, as Microsoft's "Creating a Basic Winsock Application" asks, so
// that the old winsock.h, whose declarations clash with it, never comes in ahead of it.
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>

namespace portclash {

// The table readers of the Windows backend go here.

}  // namespace portclash
