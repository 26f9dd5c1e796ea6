// Reads socket tables through NETLINK_SOCK_DIAG (inet_diag), as ss does: rows plus V6ONLY, device, cgroup, class id.
#include <cerrno>
#include <cstring>
#include <mutex>

#include <arpa/inet.h>
#include <net/if.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux.h"
#include "run_both.h"
#include "unique_fd.h"

namespace portclash {
namespace {

struct DiagRequest {
  nlmsghdr header;
  inet_diag_req_v2 request;
  // "sport == port", as ss 'sport = :P' sends it: the kernel accepts a socket when the program
  // runs off its end exactly, so the comparison jumps 8 bytes on yes and 12 (past the end) on no.
  nlattr bytecode_attribute;
  inet_diag_bc_op compare;
  inet_diag_bc_op port;
};

// The port's bytecode and the header, the same in both kinds of request; `length` is the request's
// own, header included.
template <typename Message>
size_t FinishRequest(const DiagQuery& query, uint16_t type, uint32_t sequence, size_t length, Message* message) {
  if (query.port >= 0) {
    message->bytecode_attribute.nla_type = INET_DIAG_REQ_BYTECODE;
    message->bytecode_attribute.nla_len = NLA_HDRLEN + 2 * sizeof(inet_diag_bc_op);
    message->compare = {INET_DIAG_BC_S_EQ, 2 * sizeof(inet_diag_bc_op), 3 * sizeof(inet_diag_bc_op)};
    message->port.no = static_cast<uint16_t>(query.port);
    length = NLMSG_ALIGN(length) + message->bytecode_attribute.nla_len;
  }
  message->header.nlmsg_len = static_cast<uint32_t>(length);
  message->header.nlmsg_type = type;
  message->header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message->header.nlmsg_seq = sequence;
  return length;
}

size_t BuildRequest(const DiagQuery& query, uint32_t sequence, DiagRequest* message) {
  std::memset(message, 0, sizeof *message);
  const size_t length = NLMSG_LENGTH(sizeof(inet_diag_req_v2));
  message->request.sdiag_family = query.family == 6 ? AF_INET6 : AF_INET;
  message->request.sdiag_protocol = query.protocol;
  message->request.idiag_states = query.states;
  // INET_DIAG_CLASS_ID (17) does not fit the 8-bit extension mask; the kernel sends it whenever
  // INET_DIAG_TCLASS is asked (inet_diag_msg_attrs_fill), with a TOS or TCLASS byte we ignore.
  message->request.idiag_ext |= 1 << (INET_DIAG_TCLASS - 1);
  return FinishRequest(query, SOCK_DIAG_BY_FAMILY, sequence, length, message);
}

static_assert(offsetof(DiagRequest, bytecode_attribute) ==
                  NLMSG_ALIGN(NLMSG_LENGTH(sizeof(inet_diag_req_v2))),
              "the bytecode attribute follows the request, aligned");

// The older request, TCPDIAG_GETSOCK with an inet_diag_req: the kernel's compatibility path
// (inet_diag_rcv_msg_compat) takes it as TCP with family AF_UNSPEC, so one dump walks the hashes
// once for IPv4 and IPv6 sockets alike; it takes the same states (bound-only ones included) and
// bytecode, and answers in messages of type TCPDIAG_GETSOCK.
struct CompatRequest {
  nlmsghdr header;
  inet_diag_req request;
  nlattr bytecode_attribute;
  inet_diag_bc_op compare;
  inet_diag_bc_op port;
};

static_assert(offsetof(CompatRequest, bytecode_attribute) == NLMSG_ALIGN(NLMSG_LENGTH(sizeof(inet_diag_req))),
              "the bytecode attribute follows the request, aligned");

size_t BuildCompatRequest(const DiagQuery& query, uint32_t sequence, CompatRequest* message) {
  std::memset(message, 0, sizeof *message);
  const size_t length = NLMSG_LENGTH(sizeof(inet_diag_req));
  message->request.idiag_family = AF_UNSPEC;
  message->request.idiag_states = query.states;
  message->request.idiag_ext |= 1 << (INET_DIAG_TCLASS - 1);  // for INET_DIAG_CLASS_ID, as above
  return FinishRequest(query, TCPDIAG_GETSOCK, sequence, length, message);
}

// One inet_diag_msg and its attributes → a row. Returns false when the message is malformed.
bool ParseSocketMessage(const uint8_t* payload, size_t length, uint8_t protocol, RawRow* row) {
  if (length < sizeof(inet_diag_msg)) return false;
  inet_diag_msg message;
  std::memcpy(&message, payload, sizeof message);
  if (message.idiag_family != AF_INET && message.idiag_family != AF_INET6) return false;

  std::memset(row, 0, sizeof *row);  // what the message does not give stays 0: owner_pid, for one
  row->protocol = protocol;
  row->family = message.idiag_family == AF_INET6 ? 6 : 4;
  const size_t address_length = row->family == 6 ? 16 : 4;
  std::memcpy(row->local_address, message.id.idiag_src, address_length);
  std::memcpy(row->remote_address, message.id.idiag_dst, address_length);
  row->local_port = ntohs(message.id.idiag_sport);
  row->remote_port = ntohs(message.id.idiag_dport);
  row->state = message.idiag_state;
  row->uid = message.idiag_uid;
  row->inode_low = message.idiag_inode;
  row->rx_queue = message.idiag_rqueue;
  row->tx_queue = message.idiag_wqueue;
  row->interface_index = message.id.idiag_if;
  row->flags = kRowFromSockDiag;

  size_t offset = NLMSG_ALIGN(sizeof(inet_diag_msg));
  while (offset < length) {
    if (length - offset < sizeof(nlattr)) return false;
    nlattr attribute;
    std::memcpy(&attribute, payload + offset, sizeof attribute);
    if (attribute.nla_len < NLA_HDRLEN || attribute.nla_len > length - offset) return false;
    const uint8_t* value = payload + offset + NLA_HDRLEN;
    const size_t value_length = attribute.nla_len - NLA_HDRLEN;
    switch (attribute.nla_type & NLA_TYPE_MASK) {
      case INET_DIAG_SKV6ONLY:
        if (value_length < 1) return false;
        row->flags |= kRowV6OnlyKnown | (value[0] != 0 ? kRowV6Only : 0);
        break;
      case INET_DIAG_CGROUP_ID: {
        uint64_t cgroup;
        if (value_length < sizeof cgroup) return false;
        std::memcpy(&cgroup, value, sizeof cgroup);
        row->cgroup_low = static_cast<uint32_t>(cgroup);
        row->cgroup_high = static_cast<uint32_t>(cgroup >> 32);
        row->flags |= kRowCgroupKnown;
        break;
      }
      case INET_DIAG_CLASS_ID:
        if (value_length < sizeof row->class_id) return false;
        std::memcpy(&row->class_id, value, sizeof row->class_id);
        row->flags |= kRowClassIdKnown;
        break;
      default:
        break;
    }
    offset += NLA_ALIGN(attribute.nla_len);
  }
  return true;
}

}  // namespace

DiagStatus ParseDiagDatagram(const uint8_t* data, size_t length, uint32_t sequence,
                             uint8_t protocol, std::vector<RawRow>& rows, SourceResult& result) {
  size_t offset = 0;
  while (offset < length) {
    nlmsghdr header;
    if (length - offset < sizeof header) {
      result.error = EBADMSG;  // a header cut short: the datagram is not the kernel's
      return DiagStatus::kError;
    }
    std::memcpy(&header, data + offset, sizeof header);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > length - offset) {
      result.error = EBADMSG;  // the chain is broken: nothing after this can be trusted
      return DiagStatus::kError;
    }
    const uint8_t* payload = data + offset + NLMSG_HDRLEN;
    const size_t payload_length = header.nlmsg_len - NLMSG_HDRLEN;
    offset += NLMSG_ALIGN(header.nlmsg_len);
    if (header.nlmsg_seq != sequence) continue;  // an answer to some earlier request

    if (header.nlmsg_type == NLMSG_DONE) {
      int status = 0;
      if (payload_length >= sizeof status) std::memcpy(&status, payload, sizeof status);
      if (status < 0) {
        result.error = ErrnoOfStatus(status);
        return DiagStatus::kError;
      }
      return DiagStatus::kDone;
    }
    if (header.nlmsg_type == NLMSG_ERROR) {
      nlmsgerr error;
      if (payload_length < sizeof error.error) {
        result.error = EBADMSG;
      } else {
        std::memcpy(&error.error, payload, sizeof error.error);
        result.error = ErrnoOfStatus(error.error);  // 0, an ACK, is no answer to a dump either
      }
      return DiagStatus::kError;
    }
    // the compatibility request's replies carry its own type
    if (header.nlmsg_type != SOCK_DIAG_BY_FAMILY && header.nlmsg_type != TCPDIAG_GETSOCK) continue;

    rows.emplace_back();
    if (ParseSocketMessage(payload, payload_length, protocol, &rows.back())) {
      ++result.rows;
    } else {
      rows.pop_back();
      ++result.malformed;
    }
  }
  return DiagStatus::kMore;
}

namespace {

// Sends one dump request and reads its reply to the end. Returns 0 or an errno.
int Dump(int fd, const DiagQuery& query, uint32_t sequence, std::vector<uint8_t>& buffer,
         std::vector<RawRow>& rows, SourceResult& result, size_t batch_rows,
         const RowBatchSink& sink) {
  DiagRequest request;
  CompatRequest compat;
  const bool both = query.family == 0;
  const size_t length = both ? BuildCompatRequest(query, sequence, &compat) : BuildRequest(query, sequence, &request);
  const void* bytes = both ? static_cast<const void*>(&compat) : static_cast<const void*>(&request);
  result.syscall = "sendto";
  if (int error = SendToKernel(fd, bytes, length); error != 0) return error;

  result.syscall = "recvmsg";
  size_t foreign = 0;
  for (;;) {
    size_t got = 0;
    int error = 0;
    Received received = ReceiveFromKernel(fd, buffer, foreign, got, error);
    if (received == Received::kAgain) continue;
    if (received == Received::kFailed) return error;
    DiagStatus status = ParseDiagDatagram(buffer.data(), got, sequence,
                                          query.protocol, rows, result);
    if (batch_rows > 0 && rows.size() >= batch_rows) sink(rows);
    if (status == DiagStatus::kError) return result.error;
    if (status == DiagStatus::kDone) {
      result.syscall = nullptr;
      return 0;
    }
  }
}

}  // namespace

namespace {

// Runs queries in order on a netlink socket of its own, opening a new one after a failed dump.
void RunQueries(const std::vector<DiagQuery>& queries, const std::vector<size_t>& which,
                std::vector<SourceResult>& results, std::vector<RawRow>& rows, size_t batch_rows,
                const RowBatchSink& sink) {
  UniqueFd fd;  // held so that a throwing sink, unwinding through Dump, still closes it
  std::vector<uint8_t> buffer;
  for (size_t index : which) {
    SourceResult& result = results[index];
    if (fd.get() < 0) {
      if (OpenNetlink(NETLINK_SOCK_DIAG, fd, result) != 0) continue;
    }
    const DiagQuery& query = queries[index];
    buffer.resize(query.receive_bytes > 0 ? query.receive_bytes : kNetlinkReceiveBytes);
    result.error = Dump(fd.get(), query, static_cast<uint32_t>(index + 1), buffer, rows, result,
                        batch_rows, sink);
    if (result.error == 0) {
      result.syscall = nullptr;
    } else {
      // An abandoned dump goes on in the kernel, which answers EBUSY to the next one here.
      fd.reset();
    }
  }
}


}  // namespace

std::vector<SourceResult> ReadSockDiag(const std::vector<DiagQuery>& queries,
                                       std::vector<RawRow>& rows, size_t batch_rows,
                                       const RowBatchSink& sink) {
  std::vector<SourceResult> results(queries.size());
  // The kernel walks its whole socket hash once per family, whatever the family of the sockets
  // in it, so the IPv4 and IPv6 dumps cost about the same: run the two families side by side.
  // Dumps of both families (family 0) take turns between the two sides, in order.
  std::vector<size_t> families[2];
  size_t both = 0;
  for (size_t i = 0; i < queries.size(); ++i) {
    families[queries[i].family == 6 ? 1 : queries[i].family == 0 ? both++ % 2 : 0].push_back(i);
  }
  if (families[0].empty() || families[1].empty()) {
    std::vector<size_t> all(queries.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    RunQueries(queries, all, results, rows, batch_rows, sink);
    return results;
  }

  std::mutex sink_mutex;
  RowBatchSink shared_sink = [&](std::vector<RawRow>& batch) {
    std::lock_guard<std::mutex> lock(sink_mutex);
    sink(batch);
  };
  std::vector<RawRow> ipv6_rows;
  // without a second thread (RLIMIT_NPROC, the system's threads-max) the families run in turn
  RunBoth([&] { RunQueries(queries, families[0], results, rows, batch_rows, shared_sink); },
          [&] { RunQueries(queries, families[1], results, ipv6_rows, batch_rows, shared_sink); });
  rows.insert(rows.end(), ipv6_rows.begin(), ipv6_rows.end());
  return results;
}

std::vector<InterfaceName> ListInterfaces() {
  std::vector<InterfaceName> names;
  struct if_nameindex* list = if_nameindex();
  if (list == nullptr) return names;
  for (struct if_nameindex* item = list; item->if_index != 0 && item->if_name != nullptr; ++item) {
    names.push_back({item->if_index, item->if_name});
  }
  if_freenameindex(list);
  return names;
}

}  // namespace portclash
