// Netlink the readers share: the socket they open, a request sent to the kernel, one datagram of its answer.
#include <cerrno>

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "linux.h"
#include "unique_fd.h"

namespace portclash {
namespace {

// Datagrams not from the kernel that one request tolerates before it gives up.
constexpr size_t kMaxForeignDatagrams = 64;

}  // namespace

int OpenNetlink(int protocol, UniqueFd& fd, FailedCall& call) {
  fd.reset(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, protocol));
  if (fd.get() < 0) {
    call.Fail("socket", errno);
    return call.error;
  }
  // Without the timeout a kernel that stops answering would hang the reading.
  // a kernel that stops answering mid-dump is a bug, not a state to wait in forever
  timeval timeout{kNetlinkTimeoutSeconds, 0};
  if (setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) != 0) {
    call.Fail("setsockopt", errno);
    fd.reset();
    return call.error;
  }
  return 0;
}

int SendToKernel(int fd, const void* bytes, size_t length) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd, bytes, length, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? errno : 0;
}

Received ReceiveFromKernel(int fd, std::vector<uint8_t>& buffer, size_t& foreign, size_t& length, int& error) {
  iovec vector{buffer.data(), buffer.size()};
  sockaddr_nl sender{};
  msghdr header{};
  header.msg_name = &sender;
  header.msg_namelen = sizeof sender;
  header.msg_iov = &vector;
  header.msg_iovlen = 1;
  ssize_t got = recvmsg(fd, &header, 0);
  if (got < 0) {
    if (errno == EINTR) return Received::kAgain;
    error = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    return Received::kFailed;
  }
  // Any process may send to our port id; only the kernel (port 0) answers. Dropped, and a flood
  // of them fails the request rather than holding it forever.
  if (header.msg_namelen < sizeof sender || sender.nl_family != AF_NETLINK || sender.nl_pid != 0) {
    if (++foreign <= kMaxForeignDatagrams) return Received::kAgain;
    error = EBADMSG;
    return Received::kFailed;
  }
  if ((header.msg_flags & MSG_TRUNC) != 0) {
    error = EMSGSIZE;
    return Received::kFailed;
  }
  if (got == 0) {
    error = EBADMSG;  // the kernel closed the reply without NLMSG_DONE
    return Received::kFailed;
  }
  length = static_cast<size_t>(got);
  return Received::kDatagram;
}

int ErrnoOfStatus(int status) { return status < 0 && status >= -4095 ? -status : EBADMSG; }

}  // namespace portclash
