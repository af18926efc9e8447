// vhost-user requests on the worker pool (see vhost_jobs.h for what keeps guest memory safe).
#include "vhost_jobs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "vhost_device.h"
#include "fd_leases.h"
#include "vhost_io.h"
#include "transport_common.h"

namespace vfsd {

VhostJobLink::VhostJobLink(uint32_t queues) : queues_(queues), gens_(new std::atomic<uint32_t>[queues]) {
  for (uint32_t i = 0; i < queues; i++) gens_[i].store(0, std::memory_order_relaxed);
}

void VhostJobLink::AfterCompletions() {
  if (!dev) return;
  dev->completingJobs_ = false;
  dev->flushSignals();
}

const GuestMemory* VhostJobLink::enter(uint16_t queue, uint32_t ringGen) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !changing_; });
  if (!mem_ || queue >= queues_ || gens_[queue].load(std::memory_order_acquire) != ringGen) return nullptr;
  active_++;
  return mem_;
}

void VhostJobLink::leave() {
  std::lock_guard<std::mutex> lock(mu_);
  if (--active_ == 0) cv_.notify_all();
}

VhostJobLink::Change::Change(VhostJobLink* link, int bumpRing) : link_(link) {
  if (!link_) return;
  if (bumpRing >= 0 && static_cast<uint32_t>(bumpRing) < link_->queues_) {
    link_->gens_[bumpRing].fetch_add(1, std::memory_order_acq_rel);
  }
  std::unique_lock<std::mutex> lock(link_->mu_);
  link_->changing_ = true;
  link_->cv_.wait(lock, [this] { return link_->active_ == 0; });
}

VhostJobLink::Change::~Change() {
  if (!link_) return;
  std::lock_guard<std::mutex> lock(link_->mu_);
  link_->changing_ = false;
  link_->cv_.notify_all();
}

// READ into / WRITE from guest buffers, named by guest address until the worker translates them.
class VhostDataJob : public Job {
 public:
  VhostDataJob(std::shared_ptr<VhostJobLink> link, uint32_t token, uint16_t queue, uint32_t gen,
               bool write, int fd, std::vector<GuestSeg> segs, uint64_t skip, uint64_t len,
               int64_t offset, bool killPriv, uint64_t already)
      : Job(link), link_(std::move(link)), token_(token), queue_(queue), gen_(gen), write_(write),
        fd_(fd), segs_(std::move(segs)), skip_(skip), len_(len), offset_(offset),
        killPriv_(killPriv), already_(already) {}
  ~VhostDataJob() override {
    if (fd_ >= 0) EndLease(fd_);
  }

  void Run() override {
    const GuestMemory* mem = link_->enter(queue_, gen_);
    if (mem) {
      std::vector<HostSeg> host;
      bool mapped = true;
      for (const GuestSeg& s : segs_) mapped = mapped && mem->fromGuest(s.gpa, s.len, host);
      if (!mapped) {
        result_ = -EFAULT;
      } else {
        std::vector<HostSeg> io = SliceSegs(host, skip_, len_);
        off_t at = static_cast<off_t>(offset_);
        ssize_t n = write_ ? WriteFileFromSegs(fd_, io, at, killPriv_) : ReadFileToSegs(fd_, io, at);
        result_ = Moved(already_, n);
      }
      link_->leave();
    } else {
      result_ = -EINTR;  // cancelled: the ring was stopped or the device closed; touched nothing
    }
    EndLease(fd_);  // a close RELEASE asked for meanwhile happens here, off the loop
    fd_ = -1;
  }

  void Complete() override {
    if (!link_->dev) return;
    link_->dev->completingJobs_ = true;  // signals wait for AfterCompletions
    link_->dev->completeData(token_, write_, result_);
  }

 private:
  std::shared_ptr<VhostJobLink> link_;
  uint32_t token_;
  uint16_t queue_;
  uint32_t gen_;
  bool write_;
  int fd_;
  std::vector<GuestSeg> segs_;  // the reply space (READ) or the data (WRITE)
  uint64_t skip_, len_;         // the part of segs_ still to move
  int64_t offset_;
  bool killPriv_;
  uint64_t already_;
  int64_t result_ = 0;
};

class VhostFileJob : public Job {
 public:
  VhostFileJob(std::shared_ptr<VhostJobLink> link, uint32_t token, const FileJobArgs& args)
      : Job(link), link_(std::move(link)), token_(token), args_(args) {}
  ~VhostFileJob() override { DropJobFds(&args_); }

  void Run() override {
    result_ = RunFileOp(&args_);
    DropJobFds(&args_);
  }
  void Complete() override {
    if (!link_->dev) return;
    link_->dev->completingJobs_ = true;
    link_->dev->completeFile(token_, args_.op, result_);
  }

 private:
  std::shared_ptr<VhostJobLink> link_;
  uint32_t token_;
  FileJobArgs args_;
  int64_t result_ = 0;
};

VhostJobLink* VhostDevice::jobLink() {
  if (!jobs_) {
    jobs_ = std::make_shared<VhostJobLink>(static_cast<uint32_t>(queues_.size()));
    jobs_->dev = this;
    // No job runs yet, so no Change is needed to publish it. From now on the loop thread changes
    // mem_ only under a Change (memoryChange()).
    jobs_->setMemory(&mem_);
  }
  return jobs_.get();
}

int VhostDevice::postData(Pending& p, uint32_t token, bool write, int fd, uint32_t size,
                          int64_t offset, bool killPriv, uint64_t already) {
  if (LeaseFd(fd) < 0) {
    // No memory for the lease: finish the transfer here rather than fail it.
    std::vector<HostSeg> out, src;
    if (!mapSegs(p.writable, out) || (write && !mapSegs(p.data, src))) {
      finish(p, 0);
      return -EFAULT;
    }
    ssize_t n;
    if (write) n = WriteFileFromSegs(fd, SliceSegs(src, already, size - already), offset + already, killPriv);
    else n = ReadFileToSegs(fd, SliceSegs(out, kOutHeaderSize + already, size - already), offset + already);
    n = static_cast<ssize_t>(Moved(already, n));
    return write ? answerWritten(p, out, n) : answerRead(p, out, n);
  }
  jobLink();
  uint64_t skip = write ? already : kOutHeaderSize + already;
  WorkerPool::Get()->Post(new VhostDataJob(jobs_, token, p.queue, jobs_->ringGen(p.queue), write, fd,
                                           write ? p.data : p.writable, skip, size - already,
                                           offset + static_cast<int64_t>(already), killPriv, already));
  return kQueued;
}

int VhostDevice::postFile(uint32_t token, const FileJobArgs& args) {
  jobLink();
  WorkerPool::Get()->Post(new VhostFileJob(jobs_, token, args));
  return kQueued;
}

// The device is closing: wait for the jobs inside guest memory, then leave every job without a
// device to answer through or memory to touch (they complete into nothing).
void VhostDevice::detachJobs() {
  if (!jobs_) return;
  {
    VhostJobLink::Change quiet(jobs_.get(), -1);
    jobs_->setMemory(nullptr);
  }
  jobs_->dev = nullptr;
  jobs_.reset();
}

}  // namespace vfsd
