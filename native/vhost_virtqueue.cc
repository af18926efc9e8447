// Split virtqueue processing: popping chains with every hostile-guest check, pushing used
// entries, EVENT_IDX interrupt suppression.
#include "vhost_virtqueue.h"

#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace vfsd {

namespace {
// Shared memory the guest writes concurrently: single loads/stores, never re-read a field.
inline uint16_t load16(const uint8_t* p) { return __atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED); }
inline void store16(uint8_t* p, uint16_t v) { __atomic_store_n(reinterpret_cast<uint16_t*>(p), v, __ATOMIC_RELAXED); }
inline void store32(uint8_t* p, uint32_t v) { __atomic_store_n(reinterpret_cast<uint32_t*>(p), v, __ATOMIC_RELAXED); }
}  // namespace

bool Virtqueue::map(const GuestMemory& mem) {
  unmap();
  if (!addrSet || num == 0) return false;
  // Alignment as the spec requires (desc 16, avail 2, used 4); it also keeps our atomic
  // accesses aligned.
  if ((descVa & 15) || (availVa & 1) || (usedVa & 3)) return false;
  uint8_t* d = mem.fromUser(descVa, 16ull * num);
  uint8_t* a = mem.fromUser(availVa, 6ull + 2ull * num);   // flags, idx, ring[num], used_event
  uint8_t* u = mem.fromUser(usedVa, 6ull + 8ull * num);    // flags, idx, ring[num], avail_event
  if (!d || !a || !u) return false;
  desc_ = d;
  avail_ = a;
  used_ = u;
  return true;
}

void Virtqueue::syncUsedIdx() {
  if (used_) usedIdx = load16(used_ + 2);
}

uint16_t Virtqueue::availIdx() const { return load16(avail_ + 2); }

void Virtqueue::setNum(uint32_t n) {
  num = n;
  held_.assign(n, 0);
  inFlight_ = 0;
  unmap();
}

void Virtqueue::restart() {
  epoch++;
  broken = false;
  held_.assign(num, 0);
  inFlight_ = 0;
}

void Virtqueue::release(uint16_t head) {
  if (head < held_.size() && held_[head]) {
    held_[head] = 0;
    inFlight_--;
  }
}

void Virtqueue::unpop() {
  lastAvail--;
  release(lastPopped_);
}

PopResult Virtqueue::pop(const GuestMemory& mem, bool indirect, bool eventIdx, bool arm, Chain& out) {
  out.clear();
  // Back-pressure: nothing is read (not even the index) until an answer frees room; the device
  // drains again then, so the guest needs no new kick.
  if (inFlight_ >= num) return PopResult::Full;
  // Without EVENT_IDX the flag says it; with it, an avail_event left behind means no kick until
  // the driver's index comes round to it again (65536 entries on: one spurious kick at worst).
  if (!eventIdx && !arm) store16(used_, vring::USED_F_NO_NOTIFY);
  uint16_t idx = availIdx();
  if (idx == lastAvail && arm) {
    // Ask for a kick when anything new arrives, then look once more: the driver may have
    // added a buffer before it saw our avail_event (or the cleared flag).
    if (eventIdx) store16(used_ + 4 + 8 * num, lastAvail);
    else store16(used_, 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    idx = availIdx();
  }
  if (idx == lastAvail) return PopResult::Empty;
  // More entries than the ring holds: the guest's index is garbage.
  if (static_cast<uint16_t>(idx - lastAvail) > num) {
    broken = true;
    return PopResult::BrokenRing;
  }
  // Read the ring entry only after seeing the index that published it.
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  uint16_t head = load16(avail_ + 4 + 2 * (lastAvail % num));
  lastAvail++;
  if (head >= num || head >= held_.size() || held_[head]) {
    // Out of range: nothing sane to put in the used ring. Already held: the guest published a
    // head it does not own (virtio forbids it; QEMU fails the device the same way); serving it
    // twice would put two used entries for one chain and let the guest make us hold any number
    // of requests.
    broken = true;
    return PopResult::BrokenRing;
  }
  held_[head] = 1;
  inFlight_++;
  lastPopped_ = head;
  out.head = head;
  return walk(mem, indirect, out) ? PopResult::Ok : PopResult::BadChain;
}

bool Virtqueue::addSeg(const GuestMemory& mem, const vring::Desc& d, Chain& out) {
  // Check the whole range now, so a request is refused before anything else sees it. The
  // translation is repeated when answering because the memory table may change in between.
  scratch_.clear();
  if (!mem.fromGuest(d.addr, d.len, scratch_)) return false;
  if (d.len == 0) return true;
  if (d.flags & vring::DESC_F_WRITE) {
    out.writable.push_back(GuestSeg{d.addr, d.len});
    out.writeLen += d.len;
  } else {
    // The request comes first, then the reply space: readable after writable is malformed.
    if (!out.writable.empty()) return false;
    out.readable.push_back(GuestSeg{d.addr, d.len});
    out.readLen += d.len;
  }
  return true;
}

bool Virtqueue::walk(const GuestMemory& mem, bool indirect, Chain& out) {
  vring::Desc d;
  memcpy(&d, desc_ + 16 * out.head, sizeof d);
  const vring::Desc* table = nullptr;
  uint32_t tableSize = num;
  uint32_t i = out.head;
  if (d.flags & vring::DESC_F_INDIRECT) {
    if (!indirect) return false;
    // An indirect descriptor is the whole chain: it may not also continue (NEXT) and its table
    // is whole 16-byte descriptors, no more than the queue size.
    if (d.flags & vring::DESC_F_NEXT) return false;
    if (d.len == 0 || d.len % 16 != 0 || d.len / 16 > num || d.len / 16 > kMaxChainDescs) return false;
    uint32_t n = d.len / 16;
    scratch_.clear();
    if (!mem.fromGuest(d.addr, d.len, scratch_)) return false;
    // Work on a private copy so the guest cannot change the table while we walk it.
    indirectCopy_.resize(n);
    uint8_t* dst = reinterpret_cast<uint8_t*>(indirectCopy_.data());
    for (const HostSeg& s : scratch_) {
      memcpy(dst, s.p, s.len);
      dst += s.len;
    }
    table = indirectCopy_.data();
    tableSize = n;
    i = 0;
  }
  // A chain visits each descriptor at most once, so more than tableSize steps means a loop;
  // more than kMaxChainDescs is more than any driver sends, and would make a held request cost
  // up to a whole ring's worth of pieces.
  for (uint32_t steps = 0;; steps++) {
    if (steps >= tableSize || steps >= kMaxChainDescs) return false;
    if (table) d = table[i];
    else memcpy(&d, desc_ + 16 * i, sizeof d);
    if (d.flags & vring::DESC_F_INDIRECT) return false;  // nested, or inside a direct chain
    if (!addSeg(mem, d, out)) return false;
    if (!(d.flags & vring::DESC_F_NEXT)) return true;
    i = d.next;
    if (i >= tableSize) return false;
  }
}

void Virtqueue::push(uint16_t head, uint32_t len) {
  release(head);
  uint8_t* e = used_ + 4 + 8 * (usedIdx % num);
  store32(e, head);
  store32(e + 4, len);
  usedIdx++;
  // The entry must be visible before the index that publishes it.
  __atomic_thread_fence(__ATOMIC_RELEASE);
  store16(used_ + 2, usedIdx);
}

bool Virtqueue::shouldNotify(bool eventIdx) {
  // Our used idx store must be visible before we read the driver's suppression fields.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!eventIdx) return !(load16(avail_) & vring::AVAIL_F_NO_INTERRUPT);
  bool valid = signalledValid_;
  uint16_t old = signalledUsed_;
  signalledValid_ = true;
  signalledUsed_ = usedIdx;
  uint16_t ev = load16(avail_ + 4 + 2 * num);
  // Interrupt if used_event lies in [old, new): the driver asked to hear about that entry.
  return !valid || static_cast<uint16_t>(usedIdx - ev - 1) < static_cast<uint16_t>(usedIdx - old);
}

void Virtqueue::notify() {
  if (callFd < 0) return;
  uint64_t one = 1;
  // EAGAIN means the counter is saturated: the front end has a pending wakeup anyway.
  while (write(callFd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Virtqueue::closeFds() {
  if (kickFd >= 0) close(kickFd);
  if (callFd >= 0) close(callFd);
  if (errFd >= 0) close(errFd);
  kickFd = callFd = errFd = -1;
}

}  // namespace vfsd
