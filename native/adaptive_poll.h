// Adaptive busy polling before sleeping, the idea of QEMU's iothread `poll-max-ns`.
// (Measured on this kind of machine, a 2-vCPU VM: a client's next request comes 50-200 us after
// our answer, so vfsd's default maximum is 200 us; stat and unlink loops ran 1.5-3x faster with
// it, and the server used less CPU per request, not more: sleeping and waking cost more here.)
//
// A client that waits for each answer (one `stat` after another) sends its next request a few
// microseconds after our reply reaches it. Going back to epoll in between costs a sleep, a wake-up
// (an IPI, and a VM exit on a virtual machine) and cold caches for the next request, which on
// this kind of machine is more than the request itself. So after answering, the session keeps
// checking for the next request for a short window, and only then sleeps.
//
// The window adapts to the gaps it sees, so an idle or slow client costs (almost) nothing:
// - a request that arrives within the window: the window stays;
// - we slept, and the gap was shorter than the maximum: polling a little longer would have caught
//   it, so the window grows (doubling, from kInitialNs);
// - we slept, and the gap was longer than the maximum: polling cannot help, the window halves
//   and drops to zero below kInitialNs.
// Polling never delays anything: the requests already there are served first, and the time spent
// per event-loop callback is capped (kMaxCallbackNs) so timers, signals and other sessions run.
#pragma once
#include <stdint.h>
#include <time.h>

namespace vfsd {

inline uint64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

class AdaptivePoll {
 public:
  static constexpr uint64_t kInitialNs = 4000;
  static constexpr uint64_t kMaxCallbackNs = 2000000;  // 2 ms of serving per event-loop callback

  void setMax(uint64_t maxNs) {
    maxNs_ = maxNs;
    if (windowNs_ > maxNs_) windowNs_ = maxNs_;
  }
  uint64_t window() const { return windowNs_; }

  // The event loop woke us for a request after we had gone to sleep at idleSince_.
  void woke(uint64_t now) {
    if (maxNs_ == 0 || idleSince_ == 0) return;
    uint64_t gap = now - idleSince_ + windowNs_;  // since the last answer, the poll included
    idleSince_ = 0;
    if (gap > maxNs_) {
      windowNs_ /= 2;
      if (windowNs_ < kInitialNs) windowNs_ = 0;
    } else if (gap > windowNs_) {
      windowNs_ = windowNs_ ? windowNs_ * 2 : kInitialNs;
      if (windowNs_ > maxNs_) windowNs_ = maxNs_;
    }
  }

  // Going back to the event loop (to sleep) now.
  void sleeping(uint64_t now) { idleSince_ = now ? now : 1; }

 private:
  uint64_t maxNs_ = 0;
  uint64_t windowNs_ = 0;
  uint64_t idleSince_ = 0;
};

}  // namespace vfsd
