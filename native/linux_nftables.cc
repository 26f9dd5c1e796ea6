// Reads the nf_tables ruleset through NETLINK_NETFILTER: each request's reply as raw netlink messages, for lib/linux/nftables to decode.
//
// This speaks nfnetlink itself rather than through libnftnl/libmnl: a prebuilt addon must carry
// no runtime dependency, and a dump is one request and a loop of recvmsg. Nothing here knows what
// a table, chain or rule is: the caller builds each request's attributes and reads the replies.
#include <atomic>
#include <cerrno>
#include <cstring>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux.h"
#include "unique_fd.h"

namespace portclash {
namespace {

// How often a wait for the kernel looks at the cancel flag (the process or thread is exiting).
constexpr int kCancelCheckMilliseconds = 100;

// What one reply may hold. A Kubernetes node with thousands of services dumps a few tens of MiB
// of rules; past this the reply is refused (EFBIG) rather than grown without end.
constexpr size_t kMaxReplyBytes = 256 * 1024 * 1024;

enum class ReplyStatus { kMore, kDone, kError };

// Appends the messages of one datagram that answer `sequence` to reply.messages, and says
// whether the reply goes on, ended (NLMSG_DONE, or the ACK of a request that is no dump) or failed.
ReplyStatus TakeDatagram(const uint8_t* data, size_t length, uint32_t sequence, NftReply& reply) {
  size_t offset = 0;
  while (offset < length) {
    nlmsghdr header;
    if (length - offset < sizeof header) {
      reply.Fail("recvmsg", EBADMSG);  // a header cut short: the datagram is not the kernel's
      return ReplyStatus::kError;
    }
    std::memcpy(&header, data + offset, sizeof header);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > length - offset) {
      reply.Fail("recvmsg", EBADMSG);  // the chain is broken: nothing after this can be trusted
      return ReplyStatus::kError;
    }
    const uint8_t* message = data + offset;
    const uint8_t* payload = message + NLMSG_HDRLEN;
    const size_t payload_length = header.nlmsg_len - NLMSG_HDRLEN;
    offset += NLMSG_ALIGN(header.nlmsg_len);
    if (header.nlmsg_seq != sequence) continue;  // an answer to some earlier request

    if (header.nlmsg_type == NLMSG_DONE) {
      int status = 0;
      if (payload_length >= sizeof status) std::memcpy(&status, payload, sizeof status);
      if (status < 0) {
        reply.Fail("recvmsg", ErrnoOfStatus(status));
        return ReplyStatus::kError;
      }
      return ReplyStatus::kDone;
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      int status;
      if (payload_length < sizeof status) {
        reply.Fail("recvmsg", EBADMSG);
        return ReplyStatus::kError;
      }
      std::memcpy(&status, payload, sizeof status);
      if (status == 0) return ReplyStatus::kDone;  // the ACK that ends a request that is no dump
      reply.Fail("recvmsg", ErrnoOfStatus(status));
      return ReplyStatus::kError;
    }
    if (header.nlmsg_type < NLMSG_MIN_TYPE) continue;  // NLMSG_NOOP, NLMSG_OVERRUN: no data
    const size_t aligned = NLMSG_ALIGN(header.nlmsg_len);
    if (reply.messages.size() + aligned > kMaxReplyBytes) {
      reply.Fail("recvmsg", EFBIG);
      return ReplyStatus::kError;
    }
    // kept whole, header included (flags carry NLM_F_DUMP_INTR), and padded so the caller walks
    // them with the same alignment as the kernel's
    reply.messages.insert(reply.messages.end(), message, message + header.nlmsg_len);
    reply.messages.resize(reply.messages.size() + (aligned - header.nlmsg_len), 0);
  }
  return ReplyStatus::kMore;
}

// Waits until the socket has a datagram, looking at `cancel` between short polls. Returns false
// (error in reply) when cancelled, or when the kernel stayed silent for the receive timeout.
bool AwaitDatagram(int fd, const std::atomic<bool>& cancel, NftReply& reply) {
  for (int waited = 0;;) {
    if (cancel.load()) {
      reply.Fail("recvmsg", ECANCELED);
      return false;
    }
    pollfd readable{fd, POLLIN, 0};
    int ready = poll(&readable, 1, kCancelCheckMilliseconds);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) {
      reply.Fail("poll", errno);
      return false;
    }
    if (ready == 0 && (waited += kCancelCheckMilliseconds) >= kNetlinkTimeoutSeconds * 1000) {
      reply.Fail("recvmsg", ETIMEDOUT);
      return false;
    }
  }
}

// Sends one request and reads its reply to the end into `reply`. Returns false when it failed.
bool Exchange(int fd, const NftRequest& request, uint32_t sequence, std::vector<uint8_t>& buffer,
              const std::atomic<bool>* cancel, NftReply& reply) {
  std::vector<uint8_t> message(NLMSG_ALIGN(NLMSG_LENGTH(sizeof(nfgenmsg))) + request.attributes.size(), 0);
  nlmsghdr header{};
  header.nlmsg_len = static_cast<uint32_t>(message.size());
  header.nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | request.message_type);
  // a dump ends with NLMSG_DONE; any other request is asked for an ACK, so that it ends too
  header.nlmsg_flags = NLM_F_REQUEST | (request.dump ? NLM_F_DUMP : NLM_F_ACK);
  header.nlmsg_seq = sequence;
  nfgenmsg generic{};
  generic.nfgen_family = request.family;
  generic.version = NFNETLINK_V0;
  std::memcpy(message.data(), &header, sizeof header);
  std::memcpy(message.data() + NLMSG_HDRLEN, &generic, sizeof generic);
  if (!request.attributes.empty()) {
    std::memcpy(message.data() + NLMSG_ALIGN(NLMSG_LENGTH(sizeof(nfgenmsg))), request.attributes.data(), request.attributes.size());
  }

  if (int error = SendToKernel(fd, message.data(), message.size()); error != 0) {
    reply.Fail("sendto", error);
    return false;
  }

  size_t foreign = 0;
  for (;;) {
    if (cancel != nullptr && !AwaitDatagram(fd, *cancel, reply)) return false;
    size_t got = 0;
    int error = 0;
    Received received = ReceiveFromKernel(fd, buffer, foreign, got, error);
    if (received == Received::kAgain) continue;
    if (received == Received::kFailed) {
      reply.Fail("recvmsg", error);
      return false;
    }
    switch (TakeDatagram(buffer.data(), got, sequence, reply)) {
      case ReplyStatus::kMore: break;
      case ReplyStatus::kDone: return true;
      case ReplyStatus::kError: return false;
    }
  }
}

}  // namespace

std::vector<NftReply> ReadNftables(const std::vector<NftRequest>& requests,
                                   const std::atomic<bool>* cancel) {
  std::vector<NftReply> replies(requests.size());
  std::vector<uint8_t> buffer(kNetlinkReceiveBytes);
  UniqueFd fd;
  for (size_t i = 0; i < requests.size(); ++i) {
    NftReply& reply = replies[i];
    if (cancel != nullptr && cancel->load()) {
      reply.Fail("recvmsg", ECANCELED);
      continue;
    }
    if (fd.get() < 0 && OpenNetlink(NETLINK_NETFILTER, fd, reply) != 0) continue;
    if (!Exchange(fd.get(), requests[i], static_cast<uint32_t>(i + 1), buffer, cancel, reply)) {
      // An abandoned dump goes on in the kernel and would answer the next request: start afresh.
      reply.messages.clear();
      fd.reset();
    }
  }
  return replies;
}

}  // namespace portclash
