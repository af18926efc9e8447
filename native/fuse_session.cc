// The session that serves a /dev/fuse mount (contract: FuseDevSession in src/native/fuse-dev.ts
// and RequestChannel in src/native/channel.ts). libuv polls the non-blocking /dev/fuse fd on the
// JS thread; when it is readable we read every request that is ready into the inbox back to back
// and call onBatch(count) once; each answer is one write()/writev() to the fd. There is no reader
// thread: the metadata path costs one kernel round trip and no thread hand-off.
// Optionally (uringPrepare before INIT) the requests come over FUSE's io_uring instead
// (fuse_uring.h): libuv then also polls the ring fd, its completions are delivered through the
// same inbox, table and onBatch, and each answer is one COMMIT_AND_FETCH, submitted per batch.
#include "fuse_session.h"

#include <errno.h>
#include <fcntl.h>
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
#include <optional>
#include <string>
#include <vector>

#include "adaptive_poll.h"
#include "worker_pool.h"
#include "fuse_abi.h"
#include "fd_leases.h"
#include "fuse_data_jobs.h"
#include "fuse_mount.h"
#include "fuse_pending.h"
#include "fuse_uring.h"
#include "sys_args.h"
#include "thread_creds.h"

namespace vfsd {
namespace fusedev {
namespace {

// Limits on what JS may ask for. They guard against programming errors, not the kernel.
constexpr size_t kMaxBufferSize = 64u << 20;   // one request buffer (max_write is at most 16 MiB)
constexpr size_t kMaxReadSize = 64u << 20;     // one readInto
constexpr uint32_t kInboxSlots = 4;            // inbox = kInboxSlots * bufferSize
constexpr double kMaxPollNs = 1e6;              // the largest busy-poll window accepted
constexpr uint32_t kMaxBatch = 1024;           // requests per onBatch (table entries)
constexpr uint32_t kOpcodeInit = 26;           // FUSE_INIT
constexpr uint32_t kInitExt = 1u << 30;        // FUSE_INIT_EXT: fuse_init_out.flags2 is valid
constexpr uint32_t kMaxPagesFlag = 1u << 22;   // FUSE_MAX_PAGES: fuse_init_out.max_pages is valid
constexpr uint32_t kOverIoUring2 = 1u << 9;    // FUSE_OVER_IO_URING, in flags2
constexpr uint32_t kDefaultMaxPages = 32;      // FUSE_DEFAULT_MAX_PAGES_PER_REQ
constexpr uint32_t kMaxUringPerQueue = 64;     // ring entries per CPU queue

// Where FUSE over io_uring stands (uringStatus()).
enum class UringState { kOff, kPrepared, kNotNegotiated, kActive, kRefused };
const char* UringStateName(UringState s) {
  switch (s) {
    case UringState::kOff: return "off";
    case UringState::kPrepared: return "prepared";
    case UringState::kNotNegotiated: return "not-negotiated";
    case UringState::kActive: return "active";
    case UringState::kRefused: return "refused";
  }
  return "off";
}

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
                           InstanceMethod("fileJob", &FuseDevSession::FileJob),
                           InstanceMethod("close", &FuseDevSession::Close),
                           InstanceMethod("onClose", &FuseDevSession::OnClose),
                           InstanceMethod("backingOpen", &FuseDevSession::BackingOpen),
                           InstanceMethod("backingClose", &FuseDevSession::BackingClose),
                           InstanceMethod("notify", &FuseDevSession::Notify),
                           InstanceMethod("uringPrepare", &FuseDevSession::UringPrepare),
                           InstanceMethod("uringStatus", &FuseDevSession::UringStatus),
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
    loop_ = loop;
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
    self->Serve(kFromDevice, status >= 0);
    if (status < 0 && self->fd_ >= 0) {
      fprintf(stderr, "vfsd: fuse-dev: poll: %s; ending the session\n", uv_strerror(status));
      self->EndSession();
    }
  }

  // Busy-checks the fd for up to windowNs; true when there is something to read (or an error
  // to learn about by reading).
  // With FUSE over io_uring the requests come from two sources (the ring; FORGETs and
  // INTERRUPTs on /dev/fuse): each bit says one has something.
  static constexpr int kFromDevice = 1;
  static constexpr int kFromRing = 2;

  // Serves what woke us (`from`), then, without sleeping, the client's next request if it comes
  // soon (adaptive_poll.h), from either source: spinning on one while the other has a request
  // would make that one wait for the whole window.
  void Serve(int from, bool devicePollable) {
    uint64_t start = MonotonicNs();
    poller_.woke(start);
    uint64_t answers = AnswersWritten();
    if (from & kFromDevice) Drain();
    if (from & kFromRing) DrainRing();
    // Pooled answers waiting for the loop thread end the polling: they are answered by the
    // event loop (the pool's own poll handle), and would otherwise wait for this window.
    while (fd_ >= 0 && devicePollable && MonotonicNs() - start < AdaptivePoll::kMaxCallbackNs && !WorkerPool::CompletionsWaiting()) {
      int ready = ring_.Ready() ? kFromRing : 0;  // our commits often fetched one already
      // Polling pays only right after an answer: a client's next request follows its answer. A
      // batch whose requests all went to the pool (an fsync) has no answer out yet, and spinning
      // would only take the CPU from the worker that runs it (measured: 4 KiB write+fsync
      // 1859/s with the spin, 2408/s without, 2964/s inline). The ring's commits answer there.
      bool answered = AnswersWritten() != answers || ring_.prepared();
      if (!ready && poller_.window() && answered) ready = ReadyWithin(poller_.window());
      if (!ready) break;
      answers = AnswersWritten();
      if (ready & kFromDevice) Drain();
      if (ready & kFromRing) DrainRing();
    }
    if (fd_ >= 0) poller_.sleeping(MonotonicNs());
  }

  // Busy-checks both sources for up to windowNs: which has something (or an error to learn
  // about by reading), 0 if none. The poll() is also the syscall on whose return the kernel
  // posts a ring completion it owes this thread (fuse_uring.h).
  // Without a ring the check is the read itself (a poll that says "ready" is followed by the
  // read anyway: one syscall per request fewer); what it read waits in prefetched_ for Drain.
  int ReadyWithin(uint64_t windowNs) {
    uint64_t until = MonotonicNs() + windowNs;
    do {
      if (!ring_.prepared()) {
        ssize_t n = ReadOne(0);
        if (n != -EAGAIN) {
          prefetched_ = n;
          return kFromDevice;
        }
      } else {
        pollfd p{fd_, POLLIN, 0};
        int r = poll(&p, 1, 0);
        int ready = (r > 0 ? kFromDevice : 0) | (ring_.Ready() ? kFromRing : 0);
        if (ready) return ready;
        if (r < 0 && errno != EINTR) return 0;
      }
      if (WorkerPool::CompletionsWaiting()) return 0;
      // Polite spinning: if another task waits for this CPU (often the very client whose next
      // request we wait for, on a busy machine), it runs now instead of after our window.
      sched_yield();
    } while (MonotonicNs() < until);
    return 0;
  }

  // Request `count` of the batch: n bytes at inbox offset *used, answered by token.
  void List(uint32_t token, size_t n, uint32_t* count, size_t* used) {
    table_[4 * *count + 0] = static_cast<uint32_t>(*used);
    table_[4 * *count + 1] = static_cast<uint32_t>(n);
    table_[4 * *count + 2] = token;
    table_[4 * *count + 3] = 0;
    batchTokens_.push_back(token);
    ++*count;
    *used += (n + 7) & ~size_t{7};
  }

  // One request read into bufferSize free bytes of inbox at `used`: its size, or -errno
  // (-EAGAIN: none waiting).
  ssize_t ReadOne(size_t used) {
    for (;;) {
      ssize_t n = read(fd_, inbox_ + used, bufferSize_);
      if (n >= 0) return n;
      if (errno != EINTR) return -errno;
    }
  }

  // Reads every request that is ready, back to back, each into bufferSize free bytes of inbox.
  // (Reading one request per drain, to save the read that says EAGAIN after a client that sends
  // one at a time, was tried: with the spin off (--poll-us 0, or a window shrunk to 0) the
  // FORGET of an unlinked file was served only after the client's next requests, so its space
  // was freed too late for them (test/mount/faults-resources). Not understood in full: not kept.)
  void Drain() {
    uint32_t count = 0;
    size_t used = 0;
    int endError = 0;  // ENODEV: unmounted; anything else unexpected also ends the session
    batchTokens_.clear();
    while (count < kMaxBatch && inboxSize_ - used >= bufferSize_) {
      ssize_t n = prefetched_;
      prefetched_ = kNothingPrefetched;
      if (n == kNothingPrefetched) n = ReadOne(used);
      if (n < 0) {
        if (n != -EAGAIN) endError = static_cast<int>(-n);
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
      List(token, static_cast<size_t>(n), &count, &used);
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
      SubmitRing();  // the batch's answers to ring requests: one io_uring_enter for all
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
      if (s->ringEntry != PendingTable::kNoEntry) continue;  // its entry keeps it until answered
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
    if (jobs_) {
      // Jobs in flight complete into nothing from now on (fuse_data_jobs.h); the kernel fails
      // their requests itself when the fd closes.
      jobs_->devFd = -1;
      jobs_->pending = nullptr;
      jobs_.reset();
    }
    if (ringPoll_) {
      ringPoll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(ringPoll_), &FuseDevSession::FreePoll);
      ringPoll_ = nullptr;
    }
    ring_.Close();  // before /dev/fuse: the ring's commands hold the device and our buffers
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

  // The pending request a token names, in a session still open. Null otherwise, *err being
  // what JS gets: -EBADF once closed, -EINVAL for a token never issued or already answered
  // (nothing is written then, and a pending token stays pending).
  PendingTable::Slot* PendingFor(uint32_t token, int* err) {
    if (fd_ < 0) {
      *err = -EBADF;
      return nullptr;
    }
    PendingTable::Slot* s = pending_.Find(token);
    if (!s) *err = -EINVAL;
    return s;
  }

  // The answer to s, with error and payload: through its ring entry if it came over io_uring,
  // else one write to /dev/fuse.
  int AnswerSlot(const PendingTable::Slot* s, int32_t error, const uint8_t* payload, size_t len) {
    if (s->ringEntry != PendingTable::kNoEntry) {
      return RingAnswered(ring_.AnswerBytes(s->ringEntry, error, payload, len));
    }
    return Answer(fd_, s->unique, error, payload, len);
  }

  // The token has its answer (r: 0 or -errno, returned to JS): its slot is free again.
  Napi::Value Released(Napi::Env env, uint32_t token, int r) {
    pending_.Release(token);
    return Napi::Number::New(env, r);
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
    int rc;
    PendingTable::Slot* s = PendingFor(token, &rc);
    if (!s) return Napi::Number::New(env, rc);
    int32_t error;
    memcpy(&error, buf + 4, sizeof error);
    const uint8_t* body = buf + sizeof(OutHeader);
    size_t bodyLen = len - sizeof(OutHeader);
    int r = AnswerSlot(s, error, body, bodyLen);
    if (s->ringEntry == PendingTable::kNoEntry && s->opcode == kOpcodeInit && error == 0 && r == 0) {
      StartRingAfterInit(body, bodyLen);
    }
    return Released(env, token, r);
  }

  Napi::Value ReplyError(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t err;
    if (!GetToken(info, &token) || !ArgUint(info[1], &err) || err == 0 || err >= 4096) {
      return Napi::Number::New(env, -EINVAL);
    }
    int rc;
    PendingTable::Slot* s = PendingFor(token, &rc);
    if (!s) return Napi::Number::New(env, rc);
    return Released(env, token, AnswerSlot(s, -static_cast<int32_t>(err), nullptr, 0));
  }

  // The link pooled jobs answer through (made on first use).
  const std::shared_ptr<FuseJobLink>& JobLink() {
    if (!jobs_) {
      jobs_ = std::make_shared<FuseJobLink>();
      jobs_->devFd = fd_;
      jobs_->pending = &pending_;
    }
    return jobs_;
  }

  // readInto(token, fd, size, offset, path)
  Napi::Value ReadInto(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    uint64_t fileFd, size, offset;
    if (!GetToken(info, &token) || !ArgUint(info[1], &fileFd) || fileFd > 0x7fffffff ||
        !ArgUint(info[2], &size) || size > kMaxReadSize || !ArgUint(info[3], &offset) ||
        offset > static_cast<uint64_t>(INT64_MAX)) {
      return Napi::Number::New(env, -EINVAL);
    }
    int rc;
    PendingTable::Slot* s = PendingFor(token, &rc);
    if (!s) return Napi::Number::New(env, rc);
    if (s->ringEntry != PendingTable::kNoEntry) {
      // Over io_uring the answer must be submitted from this thread (the kernel completes a
      // ring request on the task that submitted it): served inline, never on the pool.
      int r = RingAnswered(ring_.AnswerRead(s->ringEntry, static_cast<int>(fileFd), size,
                                            static_cast<off_t>(offset)));
      return Released(env, token, r);
    }
    int fd = static_cast<int>(fileFd);
    uint32_t path = WorkerPool::Get() ? PathArg(info, 4) : kPathInline;
    int r = kAnswered;
    if (path == kPathTryInline) {
      // Page-cache hits are answered here; a miss (EAGAIN, or a partly cached range) is read
      // again whole on a worker, the cached part being cheap to read twice.
      if (readScratch_.size() < sizeof(OutHeader) + size) {
        try {
          readScratch_.resize(sizeof(OutHeader) + size);
        } catch (const std::bad_alloc&) {
          path = kPathPool;
        }
      }
      if (path == kPathTryInline) {
        bool wouldBlock = false;
        ssize_t n = ReadFull(fd, readScratch_.data() + sizeof(OutHeader), size,
                             static_cast<off_t>(offset), RWF_NOWAIT, &wouldBlock);
        if (n == -EOPNOTSUPP) {
          r = ReadJob(fd_, s->unique, fd, size, static_cast<off_t>(offset), &readScratch_);
          r = r < 0 ? r : kNoWaitUnsupported;
        } else if (n != -EAGAIN && !wouldBlock) {
          r = AnswerRead(fd_, s->unique, readScratch_.data(), n);
        } else {
          path = kPathPool;
        }
      }
    } else if (path == kPathInline) {
      r = ReadJob(fd_, s->unique, fd, size, static_cast<off_t>(offset), &readScratch_);
    }
    if (path == kPathPool) {
      if (LeaseFd(fd) == 0) {
        PostRead(JobLink(), token, s->unique, fd, size, static_cast<off_t>(offset));
        return Napi::Number::New(env, kQueued);
      }
      // No memory for the lease: read here rather than fail the READ.
      r = ReadJob(fd_, s->unique, fd, size, static_cast<off_t>(offset), &readScratch_);
    }
    pending_.Release(token);
    // A one-off huge read should not pin its buffer for the life of the session.
    if (readScratch_.size() > 2 * bufferSize_) std::vector<uint8_t>().swap(readScratch_);
    return Napi::Number::New(env, r);
  }

  // writeFrom(token, fd, size, offset, killPriv, path)
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
    int rc;
    PendingTable::Slot* s = PendingFor(token, &rc);
    if (!s) return Napi::Number::New(env, rc);
    // Not a WRITE, or more bytes than the request carried: a caller bug. Refused, nothing
    // written; the token stays pending so the caller can still answer it (replyError).
    if (s->opcode != kOpcodeWrite || size > s->dataLen) return Napi::Number::New(env, -EINVAL);
    if (s->ringEntry != PendingTable::kNoEntry) {
      // Over io_uring: inline, answered through the ring entry (see ReadInto).
      int r = RingAnswered(ring_.AnswerWrite(s->ringEntry, static_cast<int>(fileFd), size,
                                             static_cast<off_t>(offset), killPriv));
      return Released(env, token, r);
    }
    int fd = static_cast<int>(fileFd);
    uint32_t path = WorkerPool::Get() ? PathArg(info, 5) : kPathInline;
    int r = kAnswered;
    size_t put = 0;
    if (path == kPathTryInline) {
      bool wouldBlock = false;
      ssize_t n = WriteFull(fd, s->data, size, static_cast<off_t>(offset), killPriv, RWF_NOWAIT, &wouldBlock);
      if (n == -EOPNOTSUPP) {
        r = WriteJob(fd_, s->unique, fd, s->data, size, static_cast<off_t>(offset), killPriv);
        r = r < 0 ? r : kNoWaitUnsupported;
      } else if (n != -EAGAIN && !wouldBlock) {
        r = AnswerWritten(fd_, s->unique, n);
      } else {
        put = n > 0 ? static_cast<size_t>(n) : 0;
        path = kPathPool;
      }
    } else if (path == kPathInline) {
      r = WriteJob(fd_, s->unique, fd, s->data, size, static_cast<off_t>(offset), killPriv);
    }
    if (path == kPathPool) {
      bool leased = LeaseFd(fd) == 0;
      std::vector<uint8_t> rest;
      if (leased) {
        try {
          rest.assign(s->data + put, s->data + size);  // the inbox is reused by the next drain
        } catch (const std::bad_alloc&) {
          EndLease(fd);
          leased = false;
        }
      }
      if (leased) {
        PostWrite(JobLink(), token, s->unique, fd, std::move(rest),
                  static_cast<off_t>(offset + put), killPriv, put);
        s->data = nullptr;  // nothing for SaveUnansweredWrites to keep: the job has its copy
        s->dataLen = 0;
        return Napi::Number::New(env, kQueued);
      }
      // No memory for the job: write the rest here rather than fail the WRITE.
      ssize_t n = WriteFull(fd, s->data + put, size - put, static_cast<off_t>(offset + put), killPriv, 0, nullptr);
      r = AnswerWritten(fd_, s->unique, static_cast<ssize_t>(Moved(put, n)));
    }
    return Released(env, token, r);
  }

  // fileJob(token, op, fd, fd2, a, b, c, path, killPriv): see data_jobs.h.
  Napi::Value FileJob(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    FileJobArgs args;
    if (!GetToken(info, &token) || !ParseFileJob(info, &args)) return Napi::Number::New(env, -EINVAL);
    int rc;
    PendingTable::Slot* s = PendingFor(token, &rc);
    if (!s) return Napi::Number::New(env, rc);
    if (s->ringEntry != PendingTable::kNoEntry) {
      // Over io_uring: inline, answered through the ring entry (see ReadInto).
      bool dupFds = args.op == FileOp::Flush;
      int d = dupFds ? TakeJobFds(&args) : 0;
      int64_t result = d < 0 ? d : RunFileOp(&args);
      if (d == 0 && dupFds) DropJobFds(&args);
      uint8_t payload[8];
      size_t len = result < 0 ? 0 : FileOpPayload(args.op, result, payload);
      int32_t error = result < 0 ? static_cast<int32_t>(result) : 0;
      return Released(env, token, AnswerSlot(s, error, payload, len));
    }
    bool pool = WorkerPool::Get() && PathArg(info, 7) != kPathInline;
    // The job's hold on its fds: a pooled job may outlive the engine's (RELEASE); FLUSH closes a
    // dup anyway.
    bool own = pool || args.op == FileOp::Flush;
    int d = own ? TakeJobFds(&args) : 0;
    if (d < 0 && args.op == FileOp::Flush) {
      return Released(env, token, AnswerSlot(s, d, nullptr, 0));
    }
    if (pool && d == 0) {
      PostFileOp(JobLink(), token, s->unique, args);
      return Napi::Number::New(env, kQueued);
    }
    // Inline (no pool, or no fd left for the job's own).
    int64_t result = RunFileOp(&args);
    if (d == 0 && own) DropJobFds(&args);
    return Released(env, token, AnswerFileOp(fd_, s->unique, args.op, result));
  }

  Napi::Value Done(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t token;
    PendingTable::Slot* s = GetToken(info, &token) ? pending_.Find(token) : nullptr;
    if (!s) return Napi::Number::New(env, -EINVAL);
    // No answer for a request in a ring entry would keep the entry (and the caller) waiting
    // forever; only FORGETs and INTERRUPTs go unanswered, and those never come over the ring.
    if (s->ringEntry != PendingTable::kNoEntry) {
      RingAnswered(ring_.AnswerBytes(s->ringEntry, -EIO, nullptr, 0));
    }
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


  // ---- FUSE over io_uring ----

  // uringPrepare(perQueue): before INIT, create the io_uring the ring entries will use. 0, or
  // -errno (the kernel or its io_uring_disabled sysctl refused); then INIT may offer
  // FUSE_OVER_IO_URING and the entries are registered right after the INIT answer.
  Napi::Value UringPrepare(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t perQueue;
    if (!ArgUint(info[0], &perQueue) || perQueue == 0 || perQueue > kMaxUringPerQueue) {
      return Napi::Number::New(env, -EINVAL);
    }
    if (fd_ < 0) return Napi::Number::New(env, -EBADF);
    if (uringState_ != UringState::kOff) return Napi::Number::New(env, -EBUSY);
    int r = ring_.Prepare(static_cast<uint32_t>(perQueue));
    if (r == 0) uringState_ = UringState::kPrepared;
    uringErrno_ = -r;
    return Napi::Number::New(env, r);
  }

  Napi::Value UringStatus(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("state", UringStateName(uringState_));
    o.Set("errno", uringErrno_);
    o.Set("queues", ring_.queues());
    o.Set("entries", ring_.entries());
    o.Set("payloadSize", static_cast<double>(ring_.payloadSize()));
    o.Set("lost", lostEntries_);
    return o;
  }

  // The INIT answer just went out. If it took FUSE_OVER_IO_URING, the kernel now waits for an
  // entry on every queue before it sends anything else: register them (payload buffers sized
  // as the kernel will check: max(8192, max_write, max_pages pages)) and poll the ring.
  void StartRingAfterInit(const uint8_t* init, size_t len) {
    if (uringState_ != UringState::kPrepared) return;
    uint32_t flags = 0, flags2 = 0, maxWrite = 0;
    uint16_t maxPages = 0;
    if (len >= 36) {  // fuse_init_out up to flags2
      memcpy(&flags, init + 12, sizeof flags);
      memcpy(&maxWrite, init + 20, sizeof maxWrite);
      memcpy(&maxPages, init + 28, sizeof maxPages);
      memcpy(&flags2, init + 32, sizeof flags2);
    }
    if (!(flags & kInitExt) || !(flags2 & kOverIoUring2)) {
      uringState_ = UringState::kNotNegotiated;  // the kernel did not offer it (or we declined)
      ring_.Close();
      return;
    }
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    size_t pages = (flags & kMaxPagesFlag) && maxPages ? maxPages : kDefaultMaxPages;
    size_t payload = pages * page;
    if (payload < maxWrite) payload = maxWrite;
    if (payload < kMinReadBuffer) payload = kMinReadBuffer;
    int r = ring_.Register(fd_, payload);
    if (r < 0) {
      uringState_ = UringState::kRefused;
      uringErrno_ = -r;
      // A refusal by the kernel has already switched the connection back to /dev/fuse; a failure
      // of ours (memory, io_uring_enter) has not, and its requests would wait for the ring.
      int f = ring_.Refuse(fd_);
      if (f < 0) {
        fprintf(stderr, "vfsd: fuse-uring: cannot hand the connection back to /dev/fuse: %s\n",
                strerror(-f));
      }
    } else {
      uringState_ = UringState::kActive;
    }
    StartRingPoll();
  }

  void StartRingPoll() {
    if (ringPoll_ || !ring_.prepared()) return;
    uv_loop_t* loop = loop_;
    if (!loop && (napi_get_uv_event_loop(env_, &loop) != napi_ok || !loop)) return;
    uv_poll_t* poll = new uv_poll_t;
    if (uv_poll_init(loop, poll, ring_.fd()) < 0) {
      delete poll;
      return;
    }
    poll->data = this;
    if (uv_poll_start(poll, UV_READABLE, &FuseDevSession::OnRingPoll) < 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll), &FuseDevSession::FreePoll);
      return;
    }
    ringPoll_ = poll;
  }

  static void OnRingPoll(uv_poll_t* handle, int status, int events) {
    FuseDevSession* self = static_cast<FuseDevSession*>(handle->data);
    if (!self) return;
    Napi::HandleScope scope(self->env_);
    Napi::Object keep = self->Value();  // as in OnPoll: onBatch may close the session
    (void)keep;
    self->Serve(kFromRing, true);
    if (status < 0 && self->ringPoll_) {
      // The ring cannot be polled any more; /dev/fuse still tells when the session ends.
      fprintf(stderr, "vfsd: fuse-uring: poll: %s\n", uv_strerror(status));
      self->ringPoll_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(self->ringPoll_), &FuseDevSession::FreePoll);
      self->ringPoll_ = nullptr;
    }
  }

  // Every request waiting in the ring, each copied into the inbox as /dev/fuse would deliver
  // it, then one onBatch; the batch's answers are submitted together when it returns.
  void DrainRing() {
    uint32_t count = 0;
    size_t used = 0;
    batchTokens_.clear();
    FuseRing::Completion c;
    while (count < kMaxBatch && fd_ >= 0 && ring_.Peek(&c)) {
      if (c.entry == FuseRing::kNoEntry) {  // our deliberate refusal (Refuse)
        ring_.Consume();
        continue;
      }
      if (c.res < 0) {
        EntryLost(c.res);
        ring_.Consume();
        continue;
      }
      uint32_t e = c.entry;
      ring_.Fetched(e);
      const uint8_t* data = nullptr;
      size_t dataLen = 0;
      ssize_t n = ring_.CopyRequest(e, inbox_ + used, inboxSize_ - used, &data, &dataLen);
      if (n == 0 && used > 0) break;  // the inbox is full: deliver these, the rest next round
      ring_.Consume();
      if (n <= 0) {  // lengths that do not add up, or larger than the whole inbox
        ring_.AnswerBytes(e, -EIO, nullptr, 0);
        continue;
      }
      uint32_t token = pending_.Issue(ring_.unique(e), ring_.opcode(e));
      if (token == PendingTable::kNoToken) {
        ring_.AnswerBytes(e, -ENOMEM, nullptr, 0);
        continue;
      }
      PendingTable::Slot* slot = pending_.Find(token);
      slot->ringEntry = e;
      slot->data = data;
      slot->dataLen = dataLen;
      List(token, static_cast<size_t>(n), &count, &used);
    }
    if (count) {
      Deliver(count);
    } else {
      SubmitRing();  // the refusals above
    }
  }

  // A command of an entry failed: the entry is gone. ENOTCONN/ECONNABORTED: the connection is
  // ending (unmount), and /dev/fuse says so too. Anything else is worth a line.
  void EntryLost(int res) {
    ++lostEntries_;
    if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED && !lostLogged_) {
      lostLogged_ = true;
      fprintf(stderr, "vfsd: fuse-uring: a ring entry failed: %s\n", strerror(-res));
    }
  }

  // An answer to a ring request was queued: submit it now, or with the batch it is part of.
  int RingAnswered(int r) {
    if (r < 0) return r;
    return inBatch_ ? 0 : SubmitRing();
  }

  int SubmitRing() {
    if (!ring_.pendingSubmit()) return 0;
    int r = ring_.Submit();
    if (r < 0) fprintf(stderr, "vfsd: fuse-uring: io_uring_enter: %s\n", strerror(-r));
    return r;
  }

  // ---- passthrough and notifications ----

  Napi::Value BackingOpen(const Napi::CallbackInfo& info) {
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
  uv_poll_t* ringPoll_ = nullptr;
  uv_loop_t* loop_ = nullptr;
  FuseRing ring_;
  UringState uringState_ = UringState::kOff;
  int uringErrno_ = 0;
  uint32_t lostEntries_ = 0;
  bool lostLogged_ = false;
  AdaptivePoll poller_;
  // A request ReadyWithin read (its size, or -errno), for the next Drain to take first.
  static constexpr ssize_t kNothingPrefetched = -1000000;
  ssize_t prefetched_ = kNothingPrefetched;
  bool selfRef_ = false;
  bool hookAdded_ = false;
  bool inBatch_ = false;
  bool releaseJsAfterBatch_ = false;
  PendingTable pending_;
  std::shared_ptr<FuseJobLink> jobs_;  // pooled jobs answer through it; detached at the end
  std::vector<uint32_t> batchTokens_;
  std::vector<uint8_t> readScratch_;
};

}  // namespace

Napi::Function DefineFuseDevSession(Napi::Env env) { return FuseDevSession::Define(env); }

}  // namespace fusedev
}  // namespace vfsd
