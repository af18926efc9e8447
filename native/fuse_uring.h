// FUSE over io_uring (protocol 7.42, Linux 6.14+): the kernel hands requests to buffers we
// registered on an io_uring instead of queueing them for read(/dev/fuse), and each answer is one
// COMMIT_AND_FETCH submission that also gives the buffer back for the next request (where
// /dev/fuse costs a writev and a read). Raw io_uring syscalls: native/ uses libc only.
//
// Kernel facts this follows (fs/fuse/dev_uring.c):
//  - The kernel makes one queue per possible CPU; a request goes to the queue of the CPU its
//    caller runs on, and the kernel switches to the ring only once EVERY queue holds at least one
//    registered entry. INIT, FORGET, INTERRUPT and notifications stay on /dev/fuse.
//  - REGISTER needs SQE128 (the command lives in the SQE's 80-byte cmd area), an iovec[2] of the
//    288-byte header buffer and a payload buffer of at least max(8192, max_write, max_pages*4K),
//    and comes after the INIT answer (before it the kernel says EAGAIN).
//  - A REGISTER that fails turns io_uring off for the connection and wakes the waiting requests:
//    they are then read from /dev/fuse. That is our fallback after a refused registration.
//  - The kernel completes a fetch by task work on the thread that submitted it (our JS thread):
//    the CQE appears when that thread next enters or leaves the kernel, so the ring fd becomes
//    readable for libuv's epoll, and a busy poll of the CQ ring sees it after any syscall.
// In an entry: header.in_out = fuse_in_header (request) / fuse_out_header (answer); header.op_in
// = the op's first argument (fuse_write_in, fuse_open_in...); the rest is in the payload buffer,
// header.ring_ent_in_out.payload_sz bytes of it (both directions).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <vector>

#include "transport_common.h"

namespace vfsd {
namespace fusedev {

constexpr uint32_t kUringInOutSize = 128;  // FUSE_URING_IN_OUT_HEADER_SZ
constexpr uint32_t kUringOpInSize = 128;   // FUSE_URING_OP_IN_OUT_SZ

struct UringEntInOut {  // struct fuse_uring_ent_in_out
  uint64_t flags;
  uint64_t commitId;
  uint32_t payloadSize;
  uint32_t padding;
  uint64_t reserved;
};

struct UringReqHeader {  // struct fuse_uring_req_header
  uint8_t inOut[kUringInOutSize];
  uint8_t opIn[kUringOpInSize];
  UringEntInOut ent;
};
static_assert(sizeof(UringReqHeader) == 288, "fuse_uring_req_header is 288 bytes");

struct UringCmdReq {  // struct fuse_uring_cmd_req, in the SQE's cmd area
  uint64_t flags;
  uint64_t commitId;
  uint16_t qid;
  uint8_t padding[6];
};

constexpr uint32_t kUringCmdRegister = 1;        // FUSE_IO_URING_CMD_REGISTER
constexpr uint32_t kUringCmdCommitAndFetch = 2;  // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

class FuseRing {
 public:
  static constexpr uint32_t kNoEntry = 0xffffffffu;

  // What a completion said about an entry.
  struct Completion {
    uint32_t entry;
    int32_t res;  // 0: a request is in the entry; <0: the command failed (-ENOTCONN: ended)
  };

  FuseRing() = default;
  ~FuseRing() { Close(); }
  FuseRing(const FuseRing&) = delete;
  FuseRing& operator=(const FuseRing&) = delete;

  // Creates the io_uring for perQueue entries on each possible CPU. 0 or -errno: ENOSYS (no
  // io_uring), EPERM (kernel.io_uring_disabled), EINVAL (no SQE128: kernel older than 5.19).
  int Prepare(uint32_t perQueue);
  bool prepared() const { return ringFd_ >= 0; }
  int fd() const { return ringFd_; }
  uint32_t queues() const { return queues_; }

  // Registers every entry with payloadSize-byte payload buffers on devFd (after the INIT answer).
  // 0, or -errno of the first refusal (then the kernel serves through /dev/fuse).
  int Register(int devFd, size_t payloadSize);
  size_t payloadSize() const { return payloadSize_; }
  uint32_t entries() const { return static_cast<uint32_t>(entries_.size()); }

  // The next completion, without consuming it; false when the CQ ring is empty.
  bool Peek(Completion* c) const;
  void Consume();
  bool Ready() const;  // something to Peek

  UringReqHeader* header(uint32_t e) { return &headers_[e]; }
  uint8_t* payload(uint32_t e) { return payloads_ + static_cast<size_t>(e) * payloadSize_; }
  uint64_t commitId(uint32_t e) const { return entries_[e].commitId; }
  // Remembers what a fresh request in e must be committed with (its commit id, from the header).
  void Fetched(uint32_t e) { entries_[e].commitId = headers_[e].ent.commitId; }

  // Queues the answer already written to e's payload (payloadLen bytes) with this error, and the
  // fetch of e's next request. Submitted by Submit(). 0, or -EBUSY if the SQ is full (never: one
  // command per entry at most).
  int Commit(uint32_t e, uint64_t unique, int32_t error, uint32_t payloadLen);
  // Gives every queued SQE to the kernel. 0 or -errno.
  int Submit();
  bool pendingSubmit() const { return queued_ != 0; }

  // ---- requests and answers (fuse_uring_requests.cc) ----

  // Copies the request in entry e to dst as read(/dev/fuse) would have delivered it: in_header,
  // the op's header, the payload. WRITE's data stays in the payload buffer (*data, *dataLen), as
  // the channel contract allows. The length, 0 if room is too small (the caller retries after
  // emptying its inbox), or -EIO if the entry's lengths do not add up.
  ssize_t CopyRequest(uint32_t e, uint8_t* dst, size_t room, const uint8_t** data, size_t* dataLen);
  // The request's fuse_in_header fields the session keeps.
  uint64_t unique(uint32_t e) const;
  uint32_t opcode(uint32_t e) const;
  // The answers, each queued as the entry's COMMIT_AND_FETCH (see Commit): 0 or -errno.
  int AnswerBytes(uint32_t e, int32_t error, const uint8_t* payload, size_t len);
  int AnswerRead(uint32_t e, int fd, size_t size, off_t offset);
  int AnswerWrite(uint32_t e, int fd, size_t size, off_t offset, bool killPriv);
  // Makes the kernel give up io_uring for this connection (a REGISTER it must refuse), for when
  // our own registration failed before reaching it: otherwise its requests wait for the ring.
  int Refuse(int devFd);

  // Closes the ring (the kernel cancels our commands), then frees the buffers. Idempotent.
  void Close();

 private:
  struct Entry {
    struct iovec iov[2];  // read by the kernel when it issues REGISTER (possibly later, in io-wq)
    uint64_t commitId = 0;
    uint16_t qid = 0;
  };

  uint8_t* NextSqe();
  void QueueCmd(uint32_t e, uint32_t cmdOp, uint64_t commitId);

  int ringFd_ = -1;
  int devFd_ = -1;
  uint32_t queues_ = 0;
  uint32_t perQueue_ = 0;
  // The mmapped SQ/CQ rings and SQE array.
  void* ringMem_ = nullptr;
  size_t ringMemSize_ = 0;
  uint8_t* sqes_ = nullptr;
  size_t sqesSize_ = 0;
  uint32_t* sqHead_ = nullptr;
  uint32_t* sqTail_ = nullptr;
  uint32_t sqMask_ = 0;
  uint32_t sqEntries_ = 0;
  uint32_t* sqArray_ = nullptr;
  uint32_t* cqHead_ = nullptr;
  uint32_t* cqTail_ = nullptr;
  uint32_t cqMask_ = 0;
  uint8_t* cqes_ = nullptr;
  uint32_t queued_ = 0;
  // The entries' buffers.
  std::vector<Entry> entries_;
  std::vector<UringReqHeader> headers_;
  uint8_t* payloads_ = nullptr;
  size_t payloadSize_ = 0;
  size_t payloadsMapped_ = 0;
};

// Number of possible CPUs (the kernel's queue count), from /sys/devices/system/cpu/possible;
// 0 if unreadable.
uint32_t PossibleCpus();

}  // namespace fusedev
}  // namespace vfsd
