// The vhost-user control socket: making the listener, reading messages with their fds
// (SCM_RIGHTS) without ever blocking the event loop, and sending replies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vhost_protocol.h"

namespace vfsd {

// Creates a non-blocking listening unix socket at path. A stale socket file (nobody accepts on
// it) is replaced; a live one gives -EADDRINUSE; a non-socket file gives -EEXIST. If group is
// not empty the socket file is chowned to it (-ENOENT: no such group). Returns fd or -errno.
int CreateListener(const std::string& path, const std::string& group);

struct VuMessage {
  uint32_t request = 0;
  uint32_t flags = 0;
  uint32_t size = 0;
  uint8_t payload[vu::kMaxPayload];
  std::vector<int> fds;  // owned by the message until taken; closeFds() releases the rest
  void closeFds();
};

// Reassembles messages from a non-blocking stream. Each recvmsg asks for exactly the rest of
// the current header or payload, so fds can only ever arrive with the message they belong to.
class MessageReader {
 public:
  // 1: msg is complete; 0: need more data (EAGAIN); <0: -errno, or -ECONNRESET at EOF, or
  // -EPROTO for a malformed message (bad version, oversize payload, too many or truncated fds).
  int read(int sock, VuMessage& msg);
  void reset() { got_ = 0; }

 private:
  uint32_t got_ = 0;  // bytes of header + payload received so far
  uint8_t header_[vu::kHeaderSize];
};

// Sends a reply (reply flag set) to request with the given payload. 0 or -errno.
int SendReply(int sock, uint32_t request, const void* payload, uint32_t size);

}  // namespace vfsd
