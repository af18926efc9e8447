// FUSE over io_uring: the ring, its entries and their commands (see fuse_uring.h).
#include "fuse_uring.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <new>

namespace vfsd {
namespace fusedev {
namespace {

constexpr size_t kSqeSize = 128;  // IORING_SETUP_SQE128
static_assert(offsetof(struct io_uring_sqe, cmd) == 48, "the SQE cmd area starts at byte 48");
static_assert(sizeof(UringCmdReq) <= kSqeSize - 48, "fuse_uring_cmd_req fits the cmd area");

template <typename T>
T* At(void* base, uint32_t off) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(base) + off);
}

uint32_t LoadAcquire(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void StoreRelease(uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

}  // namespace

uint32_t PossibleCpus() {
  int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  // "0-3,8-11\n": a list of ranges. The kernel's queue count is the number of CPUs in it.
  uint32_t count = 0;
  char* p = buf;
  while (*p && *p != '\n') {
    char* end;
    unsigned long lo = strtoul(p, &end, 10);
    if (end == p) return 0;
    unsigned long hi = lo;
    if (*end == '-') {
      p = end + 1;
      hi = strtoul(p, &end, 10);
      if (end == p || hi < lo) return 0;
    }
    count += static_cast<uint32_t>(hi - lo + 1);
    p = *end == ',' ? end + 1 : end;
    if (count > 65536) return 0;  // qid is 16 bits
  }
  return count;
}

int FuseRing::Prepare(uint32_t perQueue) {
  if (ringFd_ >= 0) return -EBUSY;
  uint32_t queues = PossibleCpus();
  if (queues == 0 || perQueue == 0 || perQueue > 256) return -EINVAL;
  uint32_t total = queues * perQueue;
  // One command per entry is ever in flight, so the SQ (and the CQ, twice its size) never fills.
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  // COOP_TASKRUN (5.19): the kernel does not interrupt this thread with an IPI to post a
  // completion while it runs (busy-polling for the next request); it is woken when asleep, and
  // while running sees the completion at its next syscall. On a VM the IPI is a VM exit per
  // request. Without it (older kernels refuse the flag) completions still come, interrupting.
  p.flags = IORING_SETUP_SQE128 | IORING_SETUP_COOP_TASKRUN;
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, total, &p));
  if (fd < 0 && errno == EINVAL) {
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SQE128;
    fd = static_cast<int>(syscall(__NR_io_uring_setup, total, &p));
  }
  if (fd < 0) return -errno;
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {  // 5.4+; anything with SQE128 has it
    close(fd);
    return -EINVAL;
  }
  size_t sqSize = p.sq_off.array + p.sq_entries * sizeof(uint32_t);
  size_t cqSize = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t size = sqSize > cqSize ? sqSize : cqSize;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQ_RING);
  if (mem == MAP_FAILED) {
    int e = errno;
    close(fd);
    return -e;
  }
  size_t sqesSize = p.sq_entries * kSqeSize;
  void* sqes = mmap(nullptr, sqesSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQES);
  if (sqes == MAP_FAILED) {
    int e = errno;
    munmap(mem, size);
    close(fd);
    return -e;
  }
  ringFd_ = fd;
  ringMem_ = mem;
  ringMemSize_ = size;
  sqes_ = static_cast<uint8_t*>(sqes);
  sqesSize_ = sqesSize;
  sqHead_ = At<uint32_t>(mem, p.sq_off.head);
  sqTail_ = At<uint32_t>(mem, p.sq_off.tail);
  sqMask_ = *At<uint32_t>(mem, p.sq_off.ring_mask);
  sqEntries_ = p.sq_entries;
  sqArray_ = At<uint32_t>(mem, p.sq_off.array);
  cqHead_ = At<uint32_t>(mem, p.cq_off.head);
  cqTail_ = At<uint32_t>(mem, p.cq_off.tail);
  cqMask_ = *At<uint32_t>(mem, p.cq_off.ring_mask);
  cqes_ = At<uint8_t>(mem, p.cq_off.cqes);
  queues_ = queues;
  perQueue_ = perQueue;
  return 0;
}

int FuseRing::Register(int devFd, size_t payloadSize) {
  if (ringFd_ < 0) return -EBADF;
  if (!entries_.empty()) return -EBUSY;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  payloadSize = (payloadSize + page - 1) & ~(page - 1);
  uint32_t total = queues_ * perQueue_;
  // One mapping for every payload buffer: untouched pages cost no memory, and the kernel only
  // writes as far as a request reaches.
  size_t mapped = payloadSize * total;
  void* mem = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return -errno;
  try {
    entries_.resize(total);
    headers_.resize(total);
  } catch (const std::bad_alloc&) {
    munmap(mem, mapped);
    entries_.clear();
    headers_.clear();
    return -ENOMEM;
  }
  payloads_ = static_cast<uint8_t*>(mem);
  payloadsMapped_ = mapped;
  payloadSize_ = payloadSize;
  devFd_ = devFd;
  for (uint32_t e = 0; e < total; ++e) {
    Entry& en = entries_[e];
    en.qid = static_cast<uint16_t>(e / perQueue_);
    en.iov[0] = {&headers_[e], sizeof(UringReqHeader)};
    en.iov[1] = {payload(e), payloadSize_};
    QueueCmd(e, kUringCmdRegister, 0);
  }
  int r = Submit();
  if (r < 0) return r;
  // The kernel refuses a REGISTER while submitting it (its CQE is there now); a good one stays
  // pending until a request arrives. Look without consuming: once the last queue is registered,
  // requests may already sit in the CQ behind a refusal, and the session's drain serves them.
  for (uint32_t head = *cqHead_; head != LoadAcquire(cqTail_); ++head) {
    const struct io_uring_cqe* cqe = reinterpret_cast<const struct io_uring_cqe*>(cqes_) + (head & cqMask_);
    if (cqe->res < 0) return cqe->res;
  }
  return 0;
}

bool FuseRing::Ready() const { return cqHead_ && *cqHead_ != LoadAcquire(cqTail_); }

bool FuseRing::Peek(Completion* c) const {
  if (!Ready()) return false;
  const struct io_uring_cqe* cqe =
      reinterpret_cast<const struct io_uring_cqe*>(cqes_) + (*cqHead_ & cqMask_);
  c->entry = cqe->user_data < entries_.size() ? static_cast<uint32_t>(cqe->user_data) : kNoEntry;
  c->res = cqe->res;
  return true;
}

void FuseRing::Consume() { StoreRelease(cqHead_, *cqHead_ + 1); }

uint8_t* FuseRing::NextSqe() {
  uint32_t tail = *sqTail_;
  if (tail - LoadAcquire(sqHead_) >= sqEntries_) return nullptr;
  uint32_t index = tail & sqMask_;
  uint8_t* sqe = sqes_ + static_cast<size_t>(index) * kSqeSize;
  memset(sqe, 0, kSqeSize);
  sqArray_[index] = index;
  return sqe;
}

void FuseRing::QueueCmd(uint32_t e, uint32_t cmdOp, uint64_t commitId) {
  uint8_t* raw = NextSqe();
  if (!raw) return;  // cannot happen: one command per entry, SQ as large as the entry count
  struct io_uring_sqe* sqe = reinterpret_cast<struct io_uring_sqe*>(raw);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = devFd_;
  sqe->cmd_op = cmdOp;
  sqe->addr = reinterpret_cast<uint64_t>(entries_[e].iov);
  sqe->len = 2;
  sqe->user_data = e;
  UringCmdReq req{0, commitId, entries_[e].qid, {}};
  memcpy(sqe->cmd, &req, sizeof req);
  StoreRelease(sqTail_, *sqTail_ + 1);
  ++queued_;
}

int FuseRing::Commit(uint32_t e, uint64_t unique, int32_t error, uint32_t payloadLen) {
  if (ringFd_ < 0 || e >= entries_.size()) return -EBADF;
  UringReqHeader& h = headers_[e];
  // With an error the kernel takes only the header; the length must still describe the answer.
  OutHeader out{static_cast<uint32_t>(sizeof(OutHeader) + (error ? 0 : payloadLen)), error, unique};
  memcpy(h.inOut, &out, sizeof out);
  h.ent.payloadSize = error ? 0 : payloadLen;
  QueueCmd(e, kUringCmdCommitAndFetch, entries_[e].commitId);
  return 0;
}

int FuseRing::Refuse(int devFd) {
  if (ringFd_ < 0) return -EBADF;
  uint8_t* raw = NextSqe();
  if (!raw) return -EBUSY;
  struct io_uring_sqe* sqe = reinterpret_cast<struct io_uring_sqe*>(raw);
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = devFd;
  sqe->cmd_op = kUringCmdRegister;
  sqe->len = 0;  // not the iovec[2] REGISTER needs: refused, and io_uring is off for the connection
  sqe->user_data = ~0ull;
  StoreRelease(sqTail_, *sqTail_ + 1);
  ++queued_;
  return Submit();
}

int FuseRing::Submit() {
  while (queued_) {
    long n = syscall(__NR_io_uring_enter, ringFd_, queued_, 0, 0, nullptr, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EAGAIN;  // the kernel took none: do not spin
    queued_ -= static_cast<uint32_t>(n) < queued_ ? static_cast<uint32_t>(n) : queued_;
  }
  return 0;
}

void FuseRing::Close() {
  // The ring first: closing it cancels the commands that still hold buffers and /dev/fuse.
  // After close() returns the ring is dying, so no late task work copies into the buffers.
  if (ringFd_ >= 0) {
    close(ringFd_);
    ringFd_ = -1;
  }
  if (ringMem_) munmap(ringMem_, ringMemSize_);
  if (sqes_) munmap(sqes_, sqesSize_);
  ringMem_ = nullptr;
  sqes_ = nullptr;
  sqHead_ = sqTail_ = sqArray_ = cqHead_ = cqTail_ = nullptr;
  cqes_ = nullptr;
  queued_ = 0;
  if (payloads_) munmap(payloads_, payloadsMapped_);
  payloads_ = nullptr;
  payloadsMapped_ = 0;
  entries_.clear();
  headers_.clear();
}

}  // namespace fusedev
}  // namespace vfsd
