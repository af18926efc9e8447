// FUSE over io_uring: requests out of the ring entries, answers into them (see fuse_uring.h).
// What the kernel wrote into an entry is trusted as far as the kernel is, but its lengths are
// still checked against the buffers before anything is copied.
#include <errno.h>
#include <string.h>

#include "fuse_data_jobs.h"
#include "fuse_uring.h"

namespace vfsd {
namespace fusedev {

uint64_t FuseRing::unique(uint32_t e) const {
  uint64_t u;
  memcpy(&u, headers_[e].inOut + 8, sizeof u);
  return u;
}

uint32_t FuseRing::opcode(uint32_t e) const {
  uint32_t op;
  memcpy(&op, headers_[e].inOut + 4, sizeof op);
  return op;
}

ssize_t FuseRing::CopyRequest(uint32_t e, uint8_t* dst, size_t room, const uint8_t** data,
                              size_t* dataLen) {
  const UringReqHeader& h = headers_[e];
  uint32_t len;
  memcpy(&len, h.inOut, sizeof len);
  size_t payloadLen = h.ent.payloadSize;
  // in_header.len is what /dev/fuse would have delivered; the op header is what is left of it
  // after the in_header and the payload (0 for ops whose first argument is not a header).
  if (len < kInHeaderSize || payloadLen > payloadSize_ || payloadLen > len - kInHeaderSize) {
    return -EIO;
  }
  size_t opLen = len - kInHeaderSize - payloadLen;
  if (opLen > kUringOpInSize) return -EIO;
  bool write = opcode(e) == kOpcodeWrite && opLen == kWriteInSize;
  size_t copied = kInHeaderSize + opLen + (write ? 0 : payloadLen);
  if (copied > room) return 0;
  memcpy(dst, h.inOut, kInHeaderSize);
  memcpy(dst + kInHeaderSize, h.opIn, opLen);
  *data = nullptr;
  *dataLen = 0;
  if (write) {
    *data = payloads_ + static_cast<size_t>(e) * payloadSize_;
    *dataLen = payloadLen;
  } else if (payloadLen) {
    memcpy(dst + kInHeaderSize + opLen, payloads_ + static_cast<size_t>(e) * payloadSize_, payloadLen);
  }
  return static_cast<ssize_t>(copied);
}

int FuseRing::AnswerBytes(uint32_t e, int32_t error, const uint8_t* payload, size_t len) {
  // More than the entry holds: the kernel would refuse it too (the request asked for less).
  if (!error && len > payloadSize_) return Commit(e, unique(e), -EIO, 0);
  if (!error && len) memcpy(this->payload(e), payload, len);
  return Commit(e, unique(e), error, error ? 0 : static_cast<uint32_t>(len));
}

int FuseRing::AnswerRead(uint32_t e, int fd, size_t size, off_t offset) {
  // The kernel never asks for more than max_pages, which the payload buffer holds.
  if (size > payloadSize_) size = payloadSize_;
  ssize_t got = PreadFull(fd, payload(e), size, offset);
  if (got < 0) return Commit(e, unique(e), static_cast<int32_t>(got), 0);
  return Commit(e, unique(e), 0, static_cast<uint32_t>(got));
}

int FuseRing::AnswerWrite(uint32_t e, int fd, size_t size, off_t offset, bool killPriv) {
  ssize_t n = PwriteKillPriv(fd, payload(e), size, offset, killPriv);
  if (n < 0) return Commit(e, unique(e), static_cast<int32_t>(n), 0);
  WriteOut out{static_cast<uint32_t>(n), 0};
  memcpy(payload(e), &out, sizeof out);  // the data is written: its buffer carries the answer
  return Commit(e, unique(e), 0, sizeof out);
}

}  // namespace fusedev
}  // namespace vfsd
