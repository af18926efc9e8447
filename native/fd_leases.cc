// See fd_leases.h.
#include "fd_leases.h"

#include <errno.h>
#include <unistd.h>

#include <mutex>
#include <new>
#include <unordered_map>

#include "worker_pool.h"

namespace vfsd {
namespace {

struct Lease {
  unsigned jobs = 0;
  bool closeAsked = false;
};

std::mutex g_mu;
std::unordered_map<int, Lease>& Table() {
  static auto* t = new std::unordered_map<int, Lease>();  // never destroyed: workers outlive exit
  return *t;
}

// close() on a worker, answered to nobody: RELEASE has no answer to wait for.
class CloseJob : public Job {
 public:
  explicit CloseJob(int fd) : Job(nullptr), fd_(fd) {}
  ~CloseJob() override {
    if (fd_ >= 0) close(fd_);  // never ran (the pool is going away): close here
  }
  void Run() override {
    close(fd_);
    fd_ = -1;
  }
  void Complete() override {}

 private:
  int fd_;
};

}  // namespace

int LeaseFd(int fd) {
  std::lock_guard<std::mutex> lock(g_mu);
  try {
    Table()[fd].jobs++;
  } catch (const std::bad_alloc&) {
    return -ENOMEM;
  }
  return 0;
}

void EndLease(int fd) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = Table().find(fd);
    if (it == Table().end() || --it->second.jobs > 0) return;
    bool closeIt = it->second.closeAsked;
    Table().erase(it);
    if (!closeIt) return;
  }
  // Outside the lock: the fd is no one's now (the engine forgot it, no job holds it).
  close(fd);
}

int CloseWhenUnleased(int fd, bool onPool) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = Table().find(fd);
    if (it != Table().end()) {
      it->second.closeAsked = true;
      return 0;
    }
  }
  WorkerPool* pool = onPool ? WorkerPool::Get() : nullptr;
  if (pool) {
    try {
      pool->Post(new CloseJob(fd));
      return 0;
    } catch (const std::bad_alloc&) {
      // fall through: close here rather than leak the fd
    }
  }
  return close(fd) < 0 ? -errno : 0;
}

unsigned LeasedFds() {
  std::lock_guard<std::mutex> lock(g_mu);
  return static_cast<unsigned>(Table().size());
}

}  // namespace vfsd
