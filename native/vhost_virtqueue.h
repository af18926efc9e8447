// One split virtqueue as the device side sees it: the three rings in shared guest memory, our
// private indices, and the kick/call/err eventfds the front end gave us.
//
// The guest can rewrite any ring byte at any moment. So every value is read once into a local
// copy and checked before use: indices against the queue size, chains against a length bound
// (loops), descriptor ranges against guest memory, indirect tables against nesting and size.
// A bad chain fails only that request; a bad ring (head index or avail idx out of range, a head
// published again while we still hold it) marks the queue broken and we stop touching it.
//
// What the queue holds is counted: a chain from pop() until push() gives it back or drop()
// forgets it. A queue holding `num` chains is not popped again (pop says Full) until one is
// answered: without that, a guest re-publishing heads could make us hold requests without
// limit (QEMU and libvhost-user stop at the ring size too). Each head is in flight at most once,
// as virtio requires, so the count can never exceed num.
#pragma once
#include <cstdint>
#include <vector>

#include "vhost_memory.h"
#include "vhost_protocol.h"

namespace vfsd {

struct GuestSeg {
  uint64_t gpa;
  uint32_t len;
};

// One request's descriptor chain, resolved into guest-physical pieces.
struct Chain {
  uint16_t head = 0;
  std::vector<GuestSeg> readable;   // device reads these (request)
  std::vector<GuestSeg> writable;   // device writes these (reply)
  uint64_t readLen = 0;
  uint64_t writeLen = 0;
  void clear() {
    readable.clear();
    writable.clear();
    readLen = writeLen = 0;
  }
};

enum class PopResult { Empty, Full, Ok, BadChain, BrokenRing };

// Descriptors in one chain at most (QEMU's VIRTQUEUE_MAX_SIZE): a Linux virtio-fs request uses
// max_pages + a few. It bounds what one held request costs us, whatever the ring size.
constexpr uint32_t kMaxChainDescs = 1024;

class Virtqueue {
 public:
  Virtqueue() = default;
  Virtqueue(const Virtqueue&) = delete;
  Virtqueue& operator=(const Virtqueue&) = delete;
  ~Virtqueue() { closeFds(); }

  // Configuration from the front end.
  uint32_t num = 0;  // set with setNum()
  bool addrSet = false;
  uint64_t descVa = 0, availVa = 0, usedVa = 0;
  int kickFd = -1, callFd = -1, errFd = -1;
  bool started = false;  // kick fd given, not stopped by GET_VRING_BASE
  bool enabled = false;  // SET_VRING_ENABLE (or no PROTOCOL_FEATURES)
  bool broken = false;   // guest corrupted the ring: stop processing until it is restarted
  // Bumped whenever the ring is stopped or reset (restart()): answers to requests popped before
  // are dropped, and they no longer count as held.
  uint32_t epoch = 0;

  uint16_t lastAvail = 0;  // next avail ring slot we will read
  uint16_t usedIdx = 0;    // our copy of used->idx

  bool mapped() const { return used_ != nullptr; }
  bool ready() const { return started && enabled && !broken && desc_ != nullptr; }

  // Translates the ring addresses; false (rings unusable) if they are not inside guest memory.
  bool map(const GuestMemory& mem);
  void unmap() { desc_ = avail_ = used_ = nullptr; }
  // Takes used->idx from the ring (the front end may restart a ring it used before).
  void syncUsedIdx();
  // A new ring size (SET_VRING_NUM, ring not running): nothing is held.
  void setNum(uint32_t n);
  // The ring stopped or reset: a new epoch, nothing held, not broken (the front end sets the
  // ring up afresh before it runs again, as after a guest's device reset).
  void restart();
  // Takes the next available chain and counts it as held. Full: the queue already holds num
  // chains; the entry stays in the avail ring for later. BadChain still sets out.head (counted)
  // so it can be returned unused.
  // Kicks: a device that is draining looks at the ring again anyway, so a kick then only costs
  // a wake-up with nothing to do. With arm false, pop leaves kicks off (EVENT_IDX: avail_event
  // stays behind the entries we read; without it: VRING_USED_F_NO_NOTIFY). With arm true and
  // the ring empty it asks for a kick at the next entry and looks once more (the driver may
  // have added one before it saw the request): the caller is about to sleep.
  PopResult pop(const GuestMemory& mem, bool indirect, bool eventIdx, bool arm, Chain& out);
  // Gives back the chain most recently popped (it did not fit in this batch): uncounted, and it
  // is read again by the next pop.
  void unpop();
  // Returns a held chain to the guest (used entry) and uncounts it.
  void push(uint16_t head, uint32_t len);
  // Forgets a held chain without a used entry (its answer was dropped).
  void drop(uint16_t head) { release(head); }
  uint32_t inFlight() const { return inFlight_; }
  // Whether the driver wants an interrupt for what we pushed since the last signal.
  bool shouldNotify(bool eventIdx);
  void notify();
  // Forget indices and interrupt state (ring stopped or reset).
  void resetSignalState() { signalledValid_ = false; }
  void closeFds();

 private:
  bool walk(const GuestMemory& mem, bool indirect, Chain& out);
  bool addSeg(const GuestMemory& mem, const vring::Desc& d, Chain& out);
  uint16_t availIdx() const;
  void release(uint16_t head);

  uint8_t* desc_ = nullptr;
  uint8_t* avail_ = nullptr;
  uint8_t* used_ = nullptr;
  uint16_t signalledUsed_ = 0;
  bool signalledValid_ = false;
  std::vector<vring::Desc> indirectCopy_;
  std::vector<HostSeg> scratch_;
  std::vector<uint8_t> held_;  // per head: popped and not yet pushed or dropped
  uint32_t inFlight_ = 0;
  uint16_t lastPopped_ = 0;
};

}  // namespace vfsd
