// FuseDevSession (fuse_dev_session.h), passthrough and notifications: backingOpen and
// backingClose (the FUSE passthrough ioctls on /dev/fuse), and notify (a FUSE_NOTIFY_* write).
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>

#include "fuse_abi.h"
#include "fuse_data_jobs.h"
#include "fuse_dev_session.h"
#include "sys_args.h"
#include "thread_creds.h"
#include "transport_common.h"

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

Napi::Value FuseDevSession::BackingClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t id;
  if (!ArgUint(info[0], &id) || id > 0xffffffffu) return Napi::Number::New(env, -EINVAL);
  if (fd_ < 0) return Napi::Number::New(env, -EBADF);
  uint32_t backingId = static_cast<uint32_t>(id);
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
