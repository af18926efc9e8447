// The worker pool: threads that run the requests which may block (fsync, fallocate, a read that
// misses the page cache, a large write, ...) so that the JS thread keeps serving everything else.
//
// Shape: the loop thread posts a Job; a worker calls job->Run() (the blocking syscall, on fds and
// buffers the job owns); the job is handed back to the loop thread, which calls job->Complete()
// (writes the answer: /dev/fuse writev, or the virtqueue's used ring) and deletes it. Completions
// travel in batches: a worker signals an eventfd only when the done list was empty, and the loop
// thread (a uv_poll on that eventfd) takes the whole list at once. Answers therefore go back in
// completion order, not request order: /dev/fuse answers by unique and the used ring allows any
// order.
//
// Credentials: a thread inherits its creator's (per-thread fsuid/fsgid/groups and capabilities),
// so Start() must run on the JS thread while it holds the daemon's own credentials and after the
// sandbox dropped its setup capabilities (src/cli/main.ts). Start refuses to run while the thread
// is switched to a caller's fsuid. Jobs never need a caller's identity: they act on fds that were
// opened as the caller.
//
// Lifetime: the pool lives until the process exits (never destroyed: a worker may be blocked in an
// fsync when node exits, and joining it would hang the exit). A job references what it answers to
// through a shared JobOwner, never through a raw session pointer: the owner outlives every job
// that names it, and a session that ends detaches itself from its owner, after which Complete()
// only frees the job.
#pragma once
#include <napi.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace vfsd {

// What a batch of completions reports to once it is done (e.g. vhost-user signals each queue once
// per batch instead of once per answer). Owned jointly by its session and the jobs in flight.
class JobOwner {
 public:
  virtual ~JobOwner() = default;
  // Loop thread, after Complete() of one or more of this owner's jobs.
  virtual void AfterCompletions() {}
};

class Job {
 public:
  explicit Job(std::shared_ptr<JobOwner> owner) : owner_(std::move(owner)) {}
  virtual ~Job() = default;
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  // Worker thread. May block. Must touch only what the job owns (its dup'ed fds, its buffers) or
  // what its owner guards for workers (vhost-user guest memory, under the owner's lock).
  virtual void Run() = 0;
  // Loop thread, after Run(). Answers the request if its session is still there.
  virtual void Complete() = 0;
  JobOwner* owner() const { return owner_.get(); }

 private:
  std::shared_ptr<JobOwner> owner_;
};

class WorkerPool {
 public:
  // Largest --thread-pool-size accepted: more threads than this only add memory; the kernel's
  // queues (FUSE max_background, a virtqueue's size) bound what can be in flight anyway.
  static constexpr unsigned kMaxThreads = 1024;

  // The pool, or null when none was started (or size 0): callers then run the job inline.
  static WorkerPool* Get();
  // Starts `threads` workers on env's loop. Once per process; a second call with the same size is
  // a no-op, with another size -EBUSY. -EPERM if the calling thread is switched to another fsuid.
  static int Start(napi_env env, unsigned threads);

  unsigned size() const { return threads_; }
  // Loop thread: queue the job (the pool owns it from now on).
  void Post(Job* job);
  // Jobs posted and not yet completed (for tests and statistics).
  uint64_t inFlight() const { return inFlight_; }
  // Whether finished jobs wait for the loop thread to complete them. A session that keeps the
  // loop thread busy-polling for its next request checks this and returns to the event loop, so
  // a pooled answer (an fsync's) never waits behind a stream of inline requests.
  static bool CompletionsWaiting() { return g_waiting.load(std::memory_order_relaxed); }

  // Whether every worker has its own umask (and cwd, root: unshare(CLONE_FS) when it started),
  // so a job may set the caller's umask around a creating syscall without racing the loop
  // thread's (src/passthrough/entry-ops.ts underUmask) or another worker's.
  bool ownUmask() const { return ownUmask_; }

 private:
  WorkerPool() = default;
  static void* WorkerMain(void* self);
  static void OnDone(uv_poll_t* handle, int status, int events);
  static void EnvCleanup(void* self);
  void RunWorker();
  void CompleteAll();

  static std::atomic<bool> g_waiting;
  unsigned threads_ = 0;
  bool ownUmask_ = false;
  // Start() waits for each worker's unshare(CLONE_FS) (before the seccomp filter, which has no
  // unshare): started_ counts them, unshared_ those that succeeded.
  std::mutex startMu_;
  std::condition_variable startCv_;
  unsigned started_ = 0;
  unsigned unshared_ = 0;
  int eventFd_ = -1;
  uv_poll_t* poll_ = nullptr;
  uint64_t inFlight_ = 0;  // loop thread only

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;

  std::mutex doneMu_;
  std::vector<Job*> done_;
  std::vector<Job*> completing_;  // loop thread only: the batch being completed
};

// Registers startWorkerPool(n) and workerPoolStats() on exports.
void InitWorkerPool(Napi::Env env, Napi::Object exports);

}  // namespace vfsd
