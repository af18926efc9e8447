// vhost-user data plane: draining virtqueues into batches for the engine, and writing the
// engine's answers into the guest's reply buffers.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vhost_device.h"
#include "vhost_io.h"
#include "vhost_protocol.h"
#include "transport_common.h"
#include "worker_pool.h"

namespace vfsd {

namespace {
constexpr uint32_t kWriteHeadersSize = kInHeaderSize + kWriteInSize;
constexpr uint32_t kSlotBits = 20;
constexpr uint32_t kMaxSlots = 1u << kSlotBits;
static_assert(VhostDevice::kMaxPending <= kMaxSlots, "tokens name every slot");
// READ and WRITE bytes per request at most. The engine caps them at what INIT negotiated (far
// less); this is the backstop that keeps every length sum here far from 2^32 (a READ of
// 0xfffffff8 bytes would otherwise answer a header len that wrapped to 8), and one request from
// copying gigabytes through aliased guest buffers on the serving thread.
constexpr uint64_t kMaxIoSize = 64u << 20;
// Piece lists a free slot keeps for reuse; a larger one is released, so a guest that once sent
// the largest chains does not leave every slot holding their memory.
constexpr size_t kKeptSegs = 16;

void Recycle(std::vector<GuestSeg>& v) {
  if (v.capacity() > kKeptSegs) std::vector<GuestSeg>().swap(v);
  else v.clear();
}
constexpr uint32_t kGenMask = (1u << (32 - kSlotBits)) - 1;

inline uint32_t TokenOf(uint32_t slot, uint32_t gen) { return ((gen & kGenMask) << kSlotBits) | slot; }

// The guest pieces from byte skip on.
std::vector<GuestSeg> SkipGuest(const std::vector<GuestSeg>& segs, uint64_t skip) {
  std::vector<GuestSeg> out;
  for (const GuestSeg& s : segs) {
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    out.push_back(GuestSeg{s.gpa + skip, static_cast<uint32_t>(s.len - skip)});
    skip = 0;
  }
  return out;
}
}  // namespace

void VhostDevice::drain() {
  if (closed_ || conn_ < 0 || !started_) return;
  // A drain started from inside onBatch (e.g. the engine answering) would reuse the inbox
  // the engine is still reading: the outer loop picks the new requests up instead.
  if (draining_) return;
  draining_ = true;
  for (;;) {
    uint32_t count = fillBatch();
    flushSignals();  // chains we refused natively
    if (count == 0) break;
    inBatch_ = true;
    host_->onBatch(count);
    inBatch_ = false;
    if (closed_ || conn_ < 0) break;
    flushSignals();
  }
  draining_ = false;
  if (!closed_) {
    std::vector<std::string> errs;
    errs.swap(deferredErrors_);
    for (const std::string& e : errs) emit("error", e);
  }
}

uint32_t VhostDevice::fillBatch() {
  const bool indirect = (features_ & vu::F_INDIRECT_DESC) != 0;
  const bool eventIdx = (features_ & vu::F_EVENT_IDX) != 0;
  uint32_t count = 0;
  size_t inboxUsed = 0;
  bool progress = true;
  backlog_ = false;
  batchSerial_++;
  std::fill(batchOpen_.begin(), batchOpen_.end(), 0);
  // Kicks stay off while we drain (we look at every ring again after each batch anyway): only
  // a pass that found nothing at all, after which the loop would sleep, asks for them (arm) and
  // looks once more. A kick for a request that pass already took would only wake the loop for
  // nothing (on a guest that sends one request at a time it often did: the guest's next request
  // arrived while our thread was still on its way out of the last one).
  bool arm = false;
  // Round robin, one chain per queue per pass, so a busy queue cannot starve the others.
  for (;;) {
    if (count >= kTableEntries) break;
    if (!progress) {
      if (count > 0 || arm) break;  // a batch to deliver (the next fill arms), or armed: asleep
      arm = true;
    } else {
      arm = false;
    }
    progress = false;
    for (uint32_t q = 0; q < queues_.size() && count < kTableEntries; q++) {
      Virtqueue& vq = *queues_[q];
      if (!vq.ready()) continue;
      if (freeSlots_.empty() && slots_.size() >= kMaxPending) {
        backlog_ = true;  // the next answer drains again
        return count;
      }
      PopResult r = vq.pop(mem_, indirect, eventIdx, arm, chain_);
      if (r == PopResult::Empty) continue;
      if (r == PopResult::Full) {
        backlog_ = true;  // this queue waits for an answer; the others go on
        continue;
      }
      if (r == PopResult::BrokenRing) {
        deferredErrors_.push_back("queue " + std::to_string(q) +
                                  ": the guest corrupted the available ring; queue stopped");
        continue;
      }
      progress = true;
      if (r == PopResult::BadChain) {
        // Bad descriptors: the request fails without anything being read or written.
        vq.push(chain_.head, 0);
        needSignal_[q] = true;
        continue;
      }
      if (heldSegs_ + chain_.readable.size() + chain_.writable.size() > kMaxHeldSegments) {
        // Held requests already cost all the pieces we allow (a chain has at most
        // kMaxChainDescs, far below the budget, so something is held and will free room).
        vq.unpop();
        backlog_ = true;
        return count;
      }
      int d = deliver(q, count, inboxUsed);
      if (d == 0) {
        vq.unpop();  // inbox full: it goes first into the next batch
        return count;
      }
      if (d > 0) count++;
    }
  }
  return count;
}

// 1: request i of the batch; 0: does not fit in the inbox now; -1: answered natively.
int VhostDevice::deliver(uint32_t q, uint32_t index, size_t& inboxUsed) {
  Virtqueue& vq = *queues_[q];
  hostSegs_.clear();
  if (!mapSegs(chain_.readable, hostSegs_)) {
    vq.push(chain_.head, 0);
    needSignal_[q] = true;
    return -1;
  }
  if (chain_.readLen < kInHeaderSize) {
    // Not even a fuse_in_header: nobody to answer.
    vq.push(chain_.head, 0);
    needSignal_[q] = true;
    return -1;
  }
  uint8_t hdr[kInHeaderSize];
  CopyFromSegs(hostSegs_, hdr, sizeof hdr);
  uint32_t opcode;
  uint64_t unique;
  memcpy(&opcode, hdr + 4, 4);
  memcpy(&unique, hdr + 8, 8);
  uint64_t take = chain_.readLen;
  // WRITE data stays in guest memory for writeFrom(); the engine gets only the headers.
  if (opcode == kOpcodeWrite && take > kWriteHeadersSize) take = kWriteHeadersSize;
  bool tooBig = take > cfg_.maxRequestSize;
  if (!tooBig && inboxUsed + take > inboxSize_) return 0;

  uint32_t slot = allocSlot();
  Pending& p = slots_[slot];
  p.queue = static_cast<uint16_t>(q);
  p.head = chain_.head;
  p.epoch = vq.epoch;
  p.unique = unique;
  p.segs = static_cast<uint32_t>(chain_.readable.size() + chain_.writable.size());
  heldSegs_ += p.segs;
  p.writable = chain_.writable;
  p.dataLen = chain_.readLen - take;
  if (p.dataLen) p.data = SkipGuest(chain_.readable, take);
  else p.data.clear();
  if (tooBig) {
    answerError(p, E2BIG);
    return -1;
  }
  CopyFromSegs(hostSegs_, inbox_ + inboxUsed, static_cast<size_t>(take));
  table_[4 * index] = static_cast<uint32_t>(inboxUsed);
  table_[4 * index + 1] = static_cast<uint32_t>(take);
  table_[4 * index + 2] = TokenOf(slot, p.gen);
  table_[4 * index + 3] = q;
  inboxUsed += (take + 7) & ~uint64_t(7);  // keep each request 8-byte aligned
  p.batch = batchSerial_;
  batchOpen_[q]++;
  return 1;
}

uint32_t VhostDevice::allocSlot() {
  uint32_t s;
  if (!freeSlots_.empty()) {
    s = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    s = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[s].live = true;
  return s;
}

VhostDevice::Pending* VhostDevice::lookup(uint32_t token) {
  uint32_t slot = token & (kMaxSlots - 1);
  if (slot >= slots_.size()) return nullptr;
  Pending& p = slots_[slot];
  if (!p.live || (p.gen & kGenMask) != (token >> kSlotBits)) return nullptr;
  Virtqueue& vq = *queues_[p.queue];
  // The ring was stopped or reset since, or the front end is gone: its used ring is no longer
  // ours to write. The request is dropped.
  if (conn_ < 0 || vq.epoch != p.epoch || vq.broken) {
    finish(p, UINT32_MAX);
    return nullptr;
  }
  return &p;
}

bool VhostDevice::mapSegs(const std::vector<GuestSeg>& segs, std::vector<HostSeg>& out) {
  for (const GuestSeg& s : segs)
    if (!mem_.fromGuest(s.gpa, s.len, out)) return false;
  return true;
}

// The one place a delivered request ends: its chain goes back to the guest (unless usedLen is
// UINT32_MAX: dropped, no used entry), it stops counting as held, its slot is freed, and if a
// fill stopped at a bound, a drain is scheduled for what waits in the avail rings. An answer
// completing later (another thread's I/O, a lock waiter) comes through here too.
void VhostDevice::finish(Pending& p, uint32_t usedLen) {
  Virtqueue& vq = *queues_[p.queue];
  // A request from before the ring stopped or reset is no longer counted by it.
  if (vq.epoch == p.epoch) {
    if (usedLen != UINT32_MAX && conn_ >= 0 && !vq.broken && vq.started && vq.mapped()) {
      vq.push(p.head, usedLen);
      signalQueue(p.queue);
    } else {
      vq.drop(p.head);
    }
  }
  if (inBatch_ && p.batch == batchSerial_ && batchOpen_[p.queue] > 0 && --batchOpen_[p.queue] == 0)
    flushSignal(p.queue);
  heldSegs_ -= p.segs;
  p.segs = 0;
  p.live = false;
  p.gen++;
  Recycle(p.writable);
  Recycle(p.data);
  freeSlots_.push_back(static_cast<uint32_t>(&p - slots_.data()));
  if (backlog_) drainSoon();
}

void VhostDevice::drainSoon() {
  // Inside drain() the loop fills again after the batch; from anywhere else (an answer given
  // from a timer or a completion) we must not call into the engine from inside its own call, so
  // the drain runs from the loop, once, however many answers asked for it.
  if (closed_ || draining_ || !drainLater_) return;
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(drainLater_))) return;
  uv_idle_start(drainLater_, [](uv_idle_t* h) {
    uv_idle_stop(h);
    static_cast<VhostDevice*>(h->data)->drain();
  });
}

void VhostDevice::signalQueue(uint32_t q) {
  // Inside a batch the interrupt waits for the end: one per queue per batch.
  if (inBatch_ || draining_ || completingJobs_) {
    needSignal_[q] = true;
    return;
  }
  Virtqueue& vq = *queues_[q];
  if (vq.mapped() && vq.shouldNotify((features_ & vu::F_EVENT_IDX) != 0)) vq.notify();
}

void VhostDevice::flushSignal(uint32_t q) {
  if (!needSignal_[q]) return;
  needSignal_[q] = false;
  Virtqueue& vq = *queues_[q];
  if (vq.started && !vq.broken && vq.mapped() && vq.shouldNotify((features_ & vu::F_EVENT_IDX) != 0))
    vq.notify();
}

void VhostDevice::flushSignals() {
  for (uint32_t q = 0; q < queues_.size(); q++) flushSignal(q);
}

void VhostDevice::dropAllPending() {
  for (Pending& p : slots_)
    if (p.live) finish(p, UINT32_MAX);
}

int VhostDevice::answerBytes(Pending& p, const uint8_t* buf, size_t len) {
  hostSegs_.clear();
  if (!mapSegs(p.writable, hostSegs_)) {
    finish(p, 0);  // the reply buffer is no longer guest memory
    return -EFAULT;
  }
  size_t space = SegsLength(hostSegs_);
  if (len > space) {
    // Never write past the guest's buffer: say the answer did not fit, if even that fits.
    answerError(p, ERANGE);
    return -ERANGE;
  }
  OutHeader h;
  memcpy(&h, buf, sizeof h);
  h.len = static_cast<uint32_t>(len);
  h.unique = p.unique;
  CopyToSegs(hostSegs_, 0, reinterpret_cast<const uint8_t*>(&h), sizeof h);
  CopyToSegs(hostSegs_, sizeof h, buf + sizeof h, len - sizeof h);
  finish(p, static_cast<uint32_t>(len));
  return 0;
}

int VhostDevice::answerError(Pending& p, int err) {
  hostSegs_.clear();
  if (!mapSegs(p.writable, hostSegs_) || SegsLength(hostSegs_) < kOutHeaderSize) {
    finish(p, 0);
    return 0;
  }
  OutHeader h{kOutHeaderSize, -err, p.unique};
  CopyToSegs(hostSegs_, 0, reinterpret_cast<const uint8_t*>(&h), sizeof h);
  finish(p, kOutHeaderSize);
  return 0;
}

int VhostDevice::reply(uint32_t token, const uint8_t* buf, size_t len) {
  if (len < kOutHeaderSize || len > UINT32_MAX) return -EINVAL;
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  return answerBytes(*p, buf, len);
}

int VhostDevice::replyError(uint32_t token, int err) {
  if (err <= 0) return -EINVAL;
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  return answerError(*p, err);
}

int VhostDevice::done(uint32_t token) {
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  finish(*p, 0);
  return 0;
}

// The answer to a READ whose n bytes (or -errno) are in the guest's buffers after the header.
int VhostDevice::answerRead(Pending& p, const std::vector<HostSeg>& out, ssize_t n) {
  if (n < 0) {
    answerError(p, static_cast<int>(-n));
    return static_cast<int>(n);
  }
  OutHeader h{static_cast<uint32_t>(kOutHeaderSize + n), 0, p.unique};
  CopyToSegs(out, 0, reinterpret_cast<const uint8_t*>(&h), sizeof h);
  finish(p, h.len);
  return 0;
}

int VhostDevice::answerWritten(Pending& p, const std::vector<HostSeg>& out, ssize_t n) {
  if (n < 0) {
    answerError(p, static_cast<int>(-n));
    return static_cast<int>(n);
  }
  struct {
    OutHeader h;
    uint32_t size;
    uint32_t padding;
  } r{{kOutHeaderSize + kWriteOutSize, 0, p.unique}, static_cast<uint32_t>(n), 0};
  CopyToSegs(out, 0, reinterpret_cast<const uint8_t*>(&r), sizeof r);
  finish(p, sizeof r);
  return 0;
}

// path: inline (blocking), pool, or try inline with RWF_NOWAIT first and hand to the pool what
// would block (the part not yet read: a partly cached range is read partly here).
int VhostDevice::readInto(uint32_t token, int fd, uint64_t size, int64_t offset, uint32_t path) {
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  if (size > kMaxIoSize) {
    answerError(*p, EINVAL);
    return -EINVAL;
  }
  std::vector<HostSeg> out;
  if (!mapSegs(p->writable, out)) {
    finish(*p, 0);
    return -EFAULT;
  }
  if (SegsLength(out) < kOutHeaderSize + size) {
    answerError(*p, ERANGE);
    return -ERANGE;
  }
  // File bytes go straight into the guest's buffers after the header.
  std::vector<HostSeg> dst = SliceSegs(out, kOutHeaderSize, size);
  bool pool = WorkerPool::Get() != nullptr && path != kPathInline;
  if (!pool) return answerRead(*p, out, ReadFileToSegs(fd, dst, offset));
  uint64_t got = 0;
  if (path == kPathTryInline) {
    bool wouldBlock = false;
    ssize_t n = ReadFileToSegs(fd, dst, offset, RWF_NOWAIT, &wouldBlock);
    if (n == -EOPNOTSUPP) {
      answerRead(*p, out, ReadFileToSegs(fd, dst, offset));
      return kNoWaitUnsupported;
    }
    if (n != -EAGAIN && !wouldBlock) return answerRead(*p, out, n);  // done, EOF or an error
    got = n > 0 ? static_cast<uint64_t>(n) : 0;
  }
  return postData(*p, token, false, fd, static_cast<uint32_t>(size), offset, false, got);
}

int VhostDevice::writeFrom(uint32_t token, int fd, uint64_t size, int64_t offset, bool killPriv,
                           uint32_t path) {
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  if (size > kMaxIoSize || size > p->dataLen) {
    // fuse_write_in.size claims more than the guest supplied (or more than any WRITE carries).
    answerError(*p, EINVAL);
    return -EINVAL;
  }
  std::vector<HostSeg> out, src;
  if (!mapSegs(p->writable, out) || !mapSegs(p->data, src)) {
    finish(*p, 0);
    return -EFAULT;
  }
  if (SegsLength(out) < kOutHeaderSize + kWriteOutSize) {
    answerError(*p, ERANGE);
    return -ERANGE;
  }
  std::vector<HostSeg> from = SliceSegs(src, 0, size);
  bool pool = WorkerPool::Get() != nullptr && path != kPathInline;
  if (!pool) return answerWritten(*p, out, WriteFileFromSegs(fd, from, offset, killPriv));
  uint64_t put = 0;
  if (path == kPathTryInline) {
    bool wouldBlock = false;
    ssize_t n = WriteFileFromSegs(fd, from, offset, killPriv, RWF_NOWAIT, &wouldBlock);
    if (n == -EOPNOTSUPP) {
      answerWritten(*p, out, WriteFileFromSegs(fd, from, offset, killPriv));
      return kNoWaitUnsupported;
    }
    if (n != -EAGAIN && !wouldBlock) return answerWritten(*p, out, n);
    put = n > 0 ? static_cast<uint64_t>(n) : 0;
  }
  return postData(*p, token, true, fd, static_cast<uint32_t>(size), offset, killPriv, put);
}

// FSYNC, FALLOCATE, SYNCFS, COPY_FILE_RANGE, FLUSH: on the pool (or inline), answered with a
// status, fuse_write_out or fuse_copy_file_range_out. Nothing of it touches guest memory but the
// answer, which the loop thread writes.
int VhostDevice::fileJob(uint32_t token, FileJobArgs args, uint32_t path) {
  Pending* p = lookup(token);
  if (!p) return -ENOENT;
  if (WorkerPool::Get() && path != kPathInline) {
    int r = TakeJobFds(&args);
    if (r == 0) return postFile(token, args);
    // No fd left for FLUSH's dup (EMFILE), no memory for a lease: serve it inline instead.
  }
  bool flush = args.op == FileOp::Flush;
  if (flush) {
    int r = TakeJobFds(&args);  // FLUSH closes a dup of the handle's fd
    if (r < 0) return answerError(*p, -r);
  }
  int64_t result = RunFileOp(&args);
  if (flush) DropJobFds(&args);
  completeFile(token, args.op, result);
  return kAnswered;
}

void VhostDevice::completeFile(uint32_t token, FileOp op, int64_t result) {
  Pending* p = lookup(token);
  if (!p) return;  // the ring stopped or the device reset meanwhile: dropped, like any answer
  if (result < 0) {
    answerError(*p, static_cast<int>(-result));
    return;
  }
  uint8_t buf[kOutHeaderSize + 8];
  size_t len = kOutHeaderSize + FileOpPayload(op, result, buf + kOutHeaderSize);
  OutHeader h{static_cast<uint32_t>(len), 0, p->unique};
  memcpy(buf, &h, sizeof h);
  answerBytes(*p, buf, len);
}

// A READ/WRITE back from the pool: result is every byte moved (the inline part included) or
// -errno. The data is already in place; only the header (and the ring) are written here.
void VhostDevice::completeData(uint32_t token, bool write, int64_t result) {
  Pending* p = lookup(token);
  if (!p) return;
  std::vector<HostSeg> out;
  if (!mapSegs(p->writable, out)) {
    finish(*p, 0);
    return;
  }
  if (write) answerWritten(*p, out, result);
  else answerRead(*p, out, result);
}

}  // namespace vfsd
