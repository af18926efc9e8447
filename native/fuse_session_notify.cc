// FuseDevSession (fuse_dev_session.h), passthrough and notifications: backingOpen and
// backingClose (the FUSE passthrough ioctls on /dev/fuse), and notify (a FUSE_NOTIFY_* write).
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

#include "fuse_abi.h"
#include "fuse_data_jobs.h"
#include "fuse_dev_session.h"
#include "sys_args.h"
#include "thread_creds.h"
#include "transport_common.h"
#include "worker_pool.h"

namespace vfsd {
namespace fusedev {

// ---- passthrough and notifications ----

Napi::Value FuseDevSession::BackingOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t fd;
  if (!ArgUint(info[0], &fd) || fd > 0x7fffffff) return Napi::Number::New(env, -EINVAL);
  if (fd_ < 0) return Napi::Number::New(env, -EBADF);
  BackingMap map{static_cast<int32_t>(fd), 0, 0};
  // The backing file keeps this thread's credentials and does every passthrough read and
  // write of the inode with them, for whoever opens it next. withoutFsetid (the caller's
  // choice: a setuid/setgid file): registered without CAP_FSETID, so that no later writer keeps
  // a bit its own write would clear (see thread_creds.h). Not always: lowering a capability
  // is a credentials change (two capset calls, two RCU-freed creds), which cost open+close
  // about a tenth of its rate here.
  bool withoutFsetid = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  std::optional<WithoutFsetid> lowered;
  if (withoutFsetid && lowered.emplace().error()) return Napi::Number::New(env, lowered->error());
  int r = ioctl(fd_, kIocBackingOpen, &map);
  return Napi::Number::New(env, r < 0 ? -errno : r);
}

namespace {

// FUSE_DEV_IOC_BACKING_CLOSE on a worker, answered to nobody. The kernel drops its reference to
// the backing file and defers that final fput to the ioctl's return: when the file was unlinked
// and we hold no other fd on it, that is the eviction that frees its blocks (hundreds of ms for
// a large file on ext4), which must not run on the JS thread. The job owns a dup of /dev/fuse,
// so a session that ends meanwhile closes nothing under it.
class BackingCloseJob : public Job {
 public:
  BackingCloseJob(int devFd, uint32_t id) : Job(nullptr), devFd_(devFd), id_(id) {}
  ~BackingCloseJob() override {
    if (devFd_ >= 0) close(devFd_);
  }
  void Run() override {
    ioctl(devFd_, kIocBackingClose, &id_);  // ENOENT (the session ended, the id with it): nothing to do
    close(devFd_);
    devFd_ = -1;
  }
  void Complete() override {}

 private:
  int devFd_;
  uint32_t id_;
};

}  // namespace

// backingClose(id, onPool): onPool (the caller holds no other fd on the file, which may be
// unlinked) runs the ioctl on a worker when a pool runs; the answer is then 0, the ioctl's own
// result unseen.
Napi::Value FuseDevSession::BackingClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id;
  if (!ArgUint(info[0], &id) || id > 0xffffffffu) return Napi::Number::New(env, -EINVAL);
  if (fd_ < 0) return Napi::Number::New(env, -EBADF);
  uint32_t backingId = static_cast<uint32_t>(id);
  bool onPool = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  WorkerPool* pool = onPool ? WorkerPool::Get() : nullptr;
  if (pool) {
    int dup = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
    if (dup >= 0) {
      try {
        pool->Post(new BackingCloseJob(dup, backingId));
        return Napi::Number::New(env, 0);
      } catch (const std::bad_alloc&) {
        close(dup);  // fall through: close the id here rather than leak it
      }
    }
  }
  int r = ioctl(fd_, kIocBackingClose, &backingId);
  return Napi::Number::New(env, r < 0 ? -errno : r);
}

Napi::Value FuseDevSession::Notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint8_t* buf;
  size_t size;
  uint64_t len;
  if (!ArgBytes(info[0], &buf, &size) || !ArgUint(info[1], &len) || len < sizeof(OutHeader) ||
      len > size || len > 0xffffffffu) {
    return Napi::Number::New(env, -EINVAL);
  }
  if (fd_ < 0) return Napi::Number::New(env, -EBADF);
  OutHeader h;
  memcpy(&h, buf, sizeof h);
  h.len = static_cast<uint32_t>(len);
  h.unique = 0;
  struct iovec iov[2] = {{&h, sizeof h}, {buf + sizeof h, len - sizeof h}};
  return Napi::Number::New(env, WriteAnswer(fd_, iov, 2, len));
}

}  // namespace fusedev
}  // namespace vfsd
