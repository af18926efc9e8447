// The session that serves a /dev/fuse mount (contract: FuseDevSession in src/native/fuse-dev.ts
// and RequestChannel in src/native/channel.ts). libuv polls the non-blocking /dev/fuse fd on the
// JS thread; when it is readable we read every request that is ready into the inbox back to back
// and call onBatch(count) once; each answer is one write()/writev() to the fd. There is no reader
// thread: the metadata path costs one kernel round trip and no thread hand-off.
#include "fuse_session.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "adaptive_poll.h"
#include "fuse_abi.h"
#include "fuse_data_jobs.h"
#include "fuse_mount.h"
#include "fuse_pending.h"
#include "sys_args.h"

namespace vfsd {
namespace fusedev {
namespace {

// Limits on what JS may ask for. They guard against programming errors, not the kernel.
constexpr size_t kMaxBufferSize = 64u << 20;   // one request buffer (max_write is at most 16 MiB)
constexpr size_t kMaxReadSize = 64u << 20;     // one readInto
constexpr uint32_t kInboxSlots = 4;            // inbox = kInboxSlots * bufferSize
constexpr double kMaxPollNs = 1e6;              // the largest busy-poll window accepted
constexpr uint32_t kMaxBatch = 1024;           // requests per onBatch (table entries)

class FuseDevSession : public Napi::ObjectWrap<FuseDevSession> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FuseDevSession",
                       {
                           InstanceMethod("start", &FuseDevSession::Start),
                           InstanceMethod("reply", &FuseDevSession::Reply),
                           InstanceMethod("replyError", &FuseDevSession::ReplyError),
                           InstanceMethod("readInto", &FuseDevSession::ReadInto),
                           InstanceMethod("writeFrom", &FuseDevSession::WriteFrom),
                           InstanceMethod("done", &FuseDevSession::Done),
                           InstanceMethod("close", &FuseDevSession::Close),
                           InstanceMethod("onClose", &FuseDevSession::OnClose),
                           InstanceMethod("backingOpen", &FuseDevSession::BackingOpen),
                           InstanceMethod("backingClose", &FuseDevSession::BackingClose),
                           InstanceMethod("notify", &FuseDevSession::Notify),
                       });
  }

  // new FuseDevSession(fd, { bufferSize }). From here on the session owns fd.
  explicit FuseDevSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FuseDevSession>(info) {
    Napi::Env env = info.Env();
    double fd = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
    double bufferSize = -1;
    if (info[1].IsObject()) {
      Napi::Value b = info[1].As<Napi::Object>().Get("bufferSize");
      if (b.IsNumber()) bufferSize = b.As<Napi::Number>().DoubleValue();
      Napi::Value p = info[1].As<Napi::Object>().Get("pollMaxNs");
      if (p.IsNumber()) {
        double ns = p.As<Napi::Number>().DoubleValue();
        if (ns >= 0 && ns <= kMaxPollNs) poller_.setMax(static_cast<uint64_t>(ns));
      }
    }
    if (!(fd >= 0 && fd <= 0x7fffffff && fd == static_cast<int>(fd))) {
      Napi::TypeError::New(env, "FuseDevSession: fd must be a file descriptor")
          .ThrowAsJavaScriptException();
      return;
    }
    if (!(bufferSize >= kMinReadBuffer && bufferSize <= kMaxBufferSize)) {
      Napi::TypeError::New(env, "FuseDevSession: bufferSize must be 8192 .. 64 MiB")
          .ThrowAsJavaScriptException();
      return;
    }
    bufferSize_ = (static_cast<size_t>(bufferSize) + 7) & ~size_t{7};
    inboxSize_ = bufferSize_ * kInboxSlots;

    Napi::Buffer<uint8_t> inbox = Napi::Buffer<uint8_t>::New(env, inboxSize_);
    if (env.IsExceptionPending()) return;
    Napi::Uint32Array table = Napi::Uint32Array::New(env, 4 * kMaxBatch);
    if (env.IsExceptionPending()) return;
    inbox_ = inbox.Data();
    table_ = table.Data();
    inboxRef_ = Napi::Persistent(inbox);
    tableRef_ = Napi::Persistent(table);
    Napi::Object self = info.This().As<Napi::Object>();
    self.DefineProperty(Napi::PropertyDescriptor::Value("inbox", inbox, napi_enumerable));
    self.DefineProperty(Napi::PropertyDescriptor::Value("table", table, napi_enumerable));

    fd_ = static_cast<int>(fd);
    int r = SetNonBlocking(fd_);  // EAGAIN must end a drain, never block the JS thread
    if (r < 0) fprintf(stderr, "vfsd: fuse-dev: O_NONBLOCK: %s\n", strerror(-r));
    env_ = env;
    hookAdded_ = napi_add_env_cleanup_hook(env, &FuseDevSession::EnvCleanup, this) == napi_ok;
  }

  ~FuseDevSession() override {
    // Only reached when JS dropped the object, i.e. never started or already closed (a started
    // session holds a reference to itself until it ends).
    ReleaseNative();
  }

 private:
  // ---- polling and delivery ----

  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "start(onBatch: function)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    if (poll_) return Napi::Number::New(env, -EBUSY);
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) {
      return Napi::Number::New(env, -EINVAL);
    }
    uv_poll_t* poll = new uv_poll_t;
    int r = uv_poll_init(loop, poll, fd_);
    if (r < 0) {
      delete poll;
      return Napi::Number::New(env, r);  // libuv errors are -errno on Linux
    }
    poll->data = this;
    r = uv_poll_start(poll, UV_READABLE, &FuseDevSession::OnPoll);
    if (r < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), &FuseDevSession::FreePoll);
      return Napi::Number::New(env, r);
    }
    poll_ = poll;
    onBatch_ = Napi::Persistent(info[0].As<Napi::Function>());
    asyncContext_.reset(new Napi::AsyncContext(env, "vfsd:fuse-dev"));
    Ref();  // polling: the session must outlive JS's references to it until it ends
    selfRef_ = true;
    return Napi::Number::New(env, 0);
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    FuseDevSession* self = static_cast<FuseDevSession*>(handle->data);
    if (!self) return;
    Napi::HandleScope scope(self->env_);
    // Pins the JS object for this whole callback, even if onBatch closes the session and so
    // drops the self reference: nothing below may touch a collected object.
    Napi::Object keep = self->Value();
    (void)keep;
    // libuv turns EPOLLERR into UV_EBADF and stops the handle. /dev/fuse reports EPOLLERR once
    // the connection is gone, so read to learn why: ENODEV (unmounted) ends the session quietly.
    uint64_t start = MonotonicNs();
    self->poller_.woke(start);
    self->Drain();
    // Serve the client's next request without sleeping if it comes soon (adaptive_poll.h).
    while (status >= 0 && self->fd_ >= 0 && self->poller_.window() &&
           MonotonicNs() - start < AdaptivePoll::kMaxCallbackNs) {
      if (!self->ReadableWithin(self->poller_.window())) break;
      self->Drain();
    }
    if (self->fd_ >= 0) self->poller_.sleeping(MonotonicNs());
    if (status < 0 && self->fd_ >= 0) {
      fprintf(stderr, "vfsd: fuse-dev: poll: %s; ending the session\n", uv_strerror(status));
      self->EndSession();
    }
  }

  // Busy-checks the fd for up to windowNs; true when there is something to read (or an error
  // to learn about by reading).
  bool ReadableWithin(uint64_t windowNs) {
    uint64_t until = MonotonicNs() + windowNs;
    do {
      pollfd p{fd_, POLLIN, 0};
      int r = poll(&p, 1, 0);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
      // Polite spinning: if another task waits for this CPU (often the very client whose next
      // request we wait for, on a busy machine), it runs now instead of after our window.
      sched_yield();
    } while (MonotonicNs() < until);
    return false;
  }

  // Reads every request that is ready, back to back, each into bufferSize free bytes of inbox.
  void Drain() {
    uint32_t count = 0;
    size_t used = 0;
    int endError = 0;  // ENODEV: unmounted; anything else unexpected also ends the session
    batchTokens_.clear();
    while (count < kMaxBatch && inboxSize_ - used >= bufferSize_) {
      ssize_t n = read(fd_, inbox_ + used, bufferSize_);
      if (n < 0) {
        int e = errno;
        if (e == EINTR) continue;
        if (e == EAGAIN) break;
        endError = e;
        break;
      }
      if (static_cast<size_t>(n) < kInHeaderSize) {  // the kernel never does this
        endError = EIO;
        break;
      }
      uint32_t opcode;
      uint64_t unique;
      memcpy(&opcode, inbox_ + used + 4, sizeof opcode);
      memcpy(&unique, inbox_ + used + 8, sizeof unique);
      uint32_t token = pending_.Issue(unique, opcode);
      if (token == PendingTable::kNoToken) {
        Answer(fd_, unique, -ENOMEM, nullptr, 0);
        continue;
      }
      if (opcode == kOpcodeWrite && static_cast<size_t>(n) >= kInHeaderSize + kWriteInSize) {
        PendingTable::Slot* slot = pending_.Find(token);
        slot->data = inbox_ + used + kInHeaderSize + kWriteInSize;
        slot->dataLen = static_cast<size_t>(n) - kInHeaderSize - kWriteInSize;
      }
      table_[4 * count + 0] = static_cast<uint32_t>(used);
      table_[4 * count + 1] = static_cast<uint32_t>(n);
      table_[4 * count + 2] = token;
      table_[4 * count + 3] = 0;
      batchTokens_.push_back(token);
      ++count;
      used += (static_cast<size_t>(n) + 7) & ~size_t{7};
    }
    if (count) Deliver(count);
    if (fd_ < 0) return;  // closed during onBatch
    if (endError) {
      if (endError != ENODEV && endError != ECONNABORTED) {
        fprintf(stderr, "vfsd: fuse-dev: read: %s; ending the session\n", strerror(endError));
      }
      EndSession();
    }
  }

  void Deliver(uint32_t count) {
    Napi::Env env = env_;
    inBatch_ = true;
    onBatch_.MakeCallback(Value(), {Napi::Number::New(env, count)}, *asyncContext_);
    inBatch_ = false;
    ReportException("onBatch");
    if (fd_ >= 0) {
      SaveUnansweredWrites();
    } else if (releaseJsAfterBatch_) {
      ReleaseJs();
    }
  }

  // A request may be answered after onBatch returns, but the next drain reuses the inbox; a
  // WRITE still pending keeps its data in its own copy. (Rare: most writes answer in onBatch.)
  void SaveUnansweredWrites() {
    for (uint32_t token : batchTokens_) {
      PendingTable::Slot* s = pending_.Find(token);
      if (!s || !s->data || !s->saved.empty() || s->dataLen == 0) continue;
      try {
        s->saved.assign(s->data, s->data + s->dataLen);
        s->data = s->saved.data();
      } catch (const std::bad_alloc&) {
        // Cannot keep the bytes: fail the WRITE now rather than write garbage later.
        Answer(fd_, s->unique, -ENOMEM, nullptr, 0);
        pending_.Release(token);
      }
    }
    batchTokens_.clear();
  }

  // The JS callback threw: say so and keep serving. One bad request must not stop the mount.
  void ReportException(const char* what) {
    Napi::Env env = env_;
    if (!env.IsExceptionPending()) return;
    Napi::Error e = env.GetAndClearPendingException();
    std::string text = "(unprintable)";
    Napi::Value v = e.Value();
    if (v.IsObject()) {
      Napi::Value stack = v.As<Napi::Object>().Get("stack");
      if (stack.IsString()) text = stack.As<Napi::String>().Utf8Value();
    }
    if (env.IsExceptionPending()) env.GetAndClearPendingException();
    if (text == "(unprintable)") {
      Napi::String s = v.ToString();
      if (!env.IsExceptionPending()) text = s.Utf8Value();
      else env.GetAndClearPendingException();
    }
    fprintf(stderr, "vfsd: fuse-dev: %s threw: %s\n", what, text.c_str());
  }

  // ---- ending ----

  // The kernel ended the session (unmounted) or the device failed: release, then onClose once.
  void EndSession() {
    ReleaseNative();
    if (onClose_.IsEmpty()) {
      ReleaseJs();
      return;
    }
    Napi::FunctionReference cb = std::move(onClose_);
    std::unique_ptr<Napi::AsyncContext> context = std::move(asyncContext_);
    Napi::Object self = Value();  // the receiver (MakeCallback needs an object); pinned by OnPoll
    ReleaseJs();
    if (context) {
      cb.MakeCallback(self, {}, *context);
    } else {
      cb.Call(self, {});
    }
    ReportException("onClose");
  }

  // Everything that is not JS: the poll handle, the fd, the pending table, the scratch buffer.
  // Safe from a destructor and from the env cleanup hook.
  void ReleaseNative() {
    if (poll_) {
      poll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), &FuseDevSession::FreePoll);
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    pending_.Clear();
    batchTokens_.clear();
    std::vector<uint8_t>().swap(readScratch_);
    if (hookAdded_) {
      hookAdded_ = false;
      napi_remove_env_cleanup_hook(env_, &FuseDevSession::EnvCleanup, this);
    }
  }

  // The JS side: buffers, callbacks, the self reference. Deferred while onBatch is running
  // (close() called from inside it) until the callback has returned.
  void ReleaseJs() {
    if (inBatch_) {
      releaseJsAfterBatch_ = true;
      return;
    }
    releaseJsAfterBatch_ = false;
    inbox_ = nullptr;
    table_ = nullptr;
    inboxRef_.Reset();
    tableRef_.Reset();
    onBatch_.Reset();
    asyncContext_.reset();
    if (selfRef_) {
      selfRef_ = false;
      Unref();
    }
  }

  static void FreePoll(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  // The environment is going away (process exit) with the session still open: release what the
  // kernel holds; JS objects are being torn down by Node itself.
  static void EnvCleanup(void* arg) {
    FuseDevSession* self = static_cast<FuseDevSession*>(arg);
    self->hookAdded_ = false;  // it is being run: nothing to remove any more
    self->ReleaseNative();
  }

  // ---- answers ----

  static bool GetToken(const Napi::CallbackInfo& info, uint32_t* token) {
    uint64_t t;
    if (!ArgUint(info[0], &t) || t > 0xffffffffu) return false;
    *token = static_cast<uint32_t>(t);
    return true;
  }

  // reply(token, buf, len): buf[0..len) = fuse_out_header (error filled by the caller) + payload.
  Napi::Value Reply(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint8_t* buf;
    size_t size;
    uint64_t len;
    if (!GetToken(info, &token) || !ArgBytes(info[1], &buf, &size) || !ArgUint(info[2], &len) ||
        len < sizeof(OutHeader) || len > size || len > 0xffffffffu) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int32_t error;
    memcpy(&error, buf + 4, sizeof error);
    int r = Answer(fd_, s->unique, error, buf + sizeof(OutHeader), len - sizeof(OutHeader));
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  Napi::Value ReplyError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t err;
    if (!GetToken(info, &token) || !ArgUint(info[1], &err) || err == 0 || err >= 4096) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int r = Answer(fd_, s->unique, -static_cast<int32_t>(err), nullptr, 0);
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  // readInto(token, fd, size, offset)
  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t fileFd, size, offset;
    if (!GetToken(info, &token) || !ArgUint(info[1], &fileFd) || fileFd > 0x7fffffff ||
        !ArgUint(info[2], &size) || size > kMaxReadSize || !ArgUint(info[3], &offset) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) return Napi::Number::New(env, -EINVAL);
    int r = ReadJob(fd_, s->unique, static_cast<int>(fileFd), size, static_cast<off_t>(offset),
                    &readScratch_);
    pending_.Release(token);
    // A one-off huge read should not pin its buffer for the life of the session.
    if (readScratch_.size() > 2 * bufferSize_) std::vector<uint8_t>().swap(readScratch_);
    return Napi::Number::New(env, r);
  }

  // writeFrom(token, fd, size, offset, killPriv)
  Napi::Value WriteFrom(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t fileFd, size, offset;
    if (!GetToken(info, &token) || !ArgUint(info[1], &fileFd) || fileFd > 0x7fffffff ||
        !ArgUint(info[2], &size) || !ArgUint(info[3], &offset) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Napi::Number::New(env, -EINVAL);
    }
    bool killPriv = info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    PendingTable::Slot* s = pending_.Find(token);
    // Not a WRITE, or more bytes than the request carried: a caller bug. Refused, nothing
    // written; the token stays pending so the caller can still answer it (replyError).
    if (!s || s->opcode != kOpcodeWrite || size > s->dataLen) {
      return Napi::Number::New(env, -EINVAL);
    }
    int r = WriteJob(fd_, s->unique, static_cast<int>(fileFd), s->data, size,
                     static_cast<off_t>(offset), killPriv);
    pending_.Release(token);
    return Napi::Number::New(env, r);
  }

  Napi::Value Done(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    if (!GetToken(info, &token) || !pending_.Find(token)) return Napi::Number::New(env, -EINVAL);
    pending_.Release(token);
    return Napi::Number::New(env, 0);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    ReleaseNative();
    onClose_.Reset();  // close() is the owner's choice: onClose is only for the kernel ending it
    ReleaseJs();
    return info.Env().Undefined();
  }

  Napi::Value OnClose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) {
      Napi::TypeError::New(env, "onClose(cb: function)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fd_ >= 0) onClose_ = Napi::Persistent(info[0].As<Napi::Function>());
    return env.Undefined();
  }

  // ---- passthrough and notifications ----

  Napi::Value BackingOpen(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t fd;
    if (!ArgUint(info[0], &fd) || fd > 0x7fffffff) return Napi::Number::New(env, -EINVAL);
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    BackingMap map{static_cast<int32_t>(fd), 0, 0};
    int r = ioctl(fd_, kIocBackingOpen, &map);
    return Napi::Number::New(env, r < 0 ? -errno : r);
  }

  Napi::Value BackingClose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t id;
    if (!ArgUint(info[0], &id) || id > 0xffffffffu) return Napi::Number::New(env, -EINVAL);
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    uint32_t backingId = static_cast<uint32_t>(id);
    int r = ioctl(fd_, kIocBackingClose, &backingId);
    return Napi::Number::New(env, r < 0 ? -errno : r);
  }

  // notify(buf, len): unique 0; the caller put the notify code in the header's error field.
  // Unlike an answer, ENOENT is meaningful here (e.g. nothing cached to invalidate): passed on.
  Napi::Value Notify(const Napi::CallbackInfo& info) {
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

  napi_env env_ = nullptr;
  int fd_ = -1;
  size_t bufferSize_ = 0;
  size_t inboxSize_ = 0;
  uint8_t* inbox_ = nullptr;
  uint32_t* table_ = nullptr;
  Napi::Reference<Napi::Buffer<uint8_t>> inboxRef_;
  Napi::Reference<Napi::Uint32Array> tableRef_;
  Napi::FunctionReference onBatch_;
  Napi::FunctionReference onClose_;
  std::unique_ptr<Napi::AsyncContext> asyncContext_;
  uv_poll_t* poll_ = nullptr;
  AdaptivePoll poller_;
  bool selfRef_ = false;
  bool hookAdded_ = false;
  bool inBatch_ = false;
  bool releaseJsAfterBatch_ = false;
  PendingTable pending_;
  std::vector<uint32_t> batchTokens_;
  std::vector<uint8_t> readScratch_;
};

}  // namespace

Napi::Function DefineFuseDevSession(Napi::Env env) { return FuseDevSession::Define(env); }

}  // namespace fusedev
}  // namespace vfsd
