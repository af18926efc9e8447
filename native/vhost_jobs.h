// vhost-user requests on the worker pool: what a worker may touch and how the loop thread keeps
// guest memory safe from it.
//
// A data job (READ into, WRITE from guest buffers) names its buffers by guest-physical address
// and translates them itself, on the worker, inside a "memory use": while any memory use is
// running, the loop thread does not change the memory table. Every change of it (SET_MEM_TABLE,
// ADD/REM_MEM_REG, reset, disconnect, close) and every ring stop is a "memory change" that waits
// for the running uses to end and keeps new ones out until it is done. So:
//  - no worker ever touches a mapping that is being or has been unmapped (the job holds no host
//    pointer across a change: it translates again inside its use);
//  - a job whose ring was stopped or reset before it ran (its ring generation moved on) touches
//    nothing: the guest may already reuse those buffers. It is dropped, like every answer to a
//    stopped ring;
//  - a job still queued when the device closes finds no memory and touches nothing.
// The cost: a memory-table change waits for the reads/writes already running (fsync and other
// file jobs never touch guest memory and are not waited for). Table changes are rare (boot,
// hotplug), and virtiofsd's memory lock behaves the same way.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "vhost_memory.h"
#include "worker_pool.h"

namespace vfsd {

class VhostDevice;

struct VhostJobLink : JobOwner {
  explicit VhostJobLink(uint32_t queues);
  void AfterCompletions() override;

  // Loop thread only: the device to answer through; null once it closed.
  VhostDevice* dev = nullptr;

  // Worker side: enter a memory use; false (and nothing entered) when the ring generation moved
  // on or the memory is gone. Returns the table to translate through.
  const GuestMemory* enter(uint16_t queue, uint32_t ringGen);
  void leave();

  uint32_t ringGen(uint16_t queue) const { return gens_[queue].load(std::memory_order_acquire); }

  // Loop thread: waits for the running uses, keeps new ones out while alive. bumpRing (>= 0)
  // first moves that ring's generation on, so its queued jobs are dropped.
  class Change {
   public:
    Change(VhostJobLink* link, int bumpRing);
    ~Change();
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

   private:
    VhostJobLink* link_;
  };
  // Loop thread: the memory workers translate through (null: none, jobs cancel). Only under a
  // Change.
  void setMemory(const GuestMemory* mem) { mem_ = mem; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int active_ = 0;
  bool changing_ = false;
  const GuestMemory* mem_ = nullptr;
  uint32_t queues_;
  std::unique_ptr<std::atomic<uint32_t>[]> gens_;
};

}  // namespace vfsd
