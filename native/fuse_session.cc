// The session that serves a /dev/fuse mount (contract: FuseDevSession in src/native/fuse-dev.ts
// and RequestChannel in src/native/channel.ts). libuv polls the non-blocking /dev/fuse fd on the
// JS thread; when it is readable we read every request that is ready into the inbox back to back
// and call onBatch(count) once; each answer is one write()/writev() to the fd. There is no reader
// thread: the metadata path costs one kernel round trip and no thread hand-off.
// Optionally (uringPrepare before INIT) the requests come over FUSE's io_uring instead
// (fuse_uring.h): libuv then also polls the ring fd, its completions are delivered through the
// same inbox, table and onBatch, and each answer is one COMMIT_AND_FETCH, submitted per batch.
// This file: construction, polling /dev/fuse, draining it and delivery to onBatch. The class, and
// the files that hold the rest of it (ending, answers, io_uring, notifications): fuse_dev_session.h.
#include "fuse_session.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include "adaptive_poll.h"
#include "fuse_abi.h"
#include "fuse_data_jobs.h"
#include "fuse_dev_session.h"
#include "fuse_mount.h"
#include "fuse_pending.h"
#include "worker_pool.h"

namespace vfsd {
namespace fusedev {

Napi::Function FuseDevSession::Define(Napi::Env env) {
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

FuseDevSession::FuseDevSession(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<FuseDevSession>(info) {
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

FuseDevSession::~FuseDevSession() {
  // Only reached when JS dropped the object, i.e. never started or already closed (a started
  // session holds a reference to itself until it ends).
  ReleaseNative();
}

// ---- polling and delivery ----

Napi::Value FuseDevSession::Start(const Napi::CallbackInfo& info) {
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

void FuseDevSession::OnPoll(uv_poll_t* handle, int status, int events) {
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

void FuseDevSession::Serve(int from, bool devicePollable) {
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

// The pool's answers of a round were just written (an FSYNC, a pooled READ): the client's next
// request often follows at once, as after an inline answer, and without a poll here the loop
// thread goes to sleep and must be woken for it. So the same window as Serve's: a request that
// comes within it is served now. Called from the pool's completion callback (never inside a
// batch); not with the ring, whose commits fetch the next request themselves.
void FuseDevSession::AfterPooledAnswers() {
  if (fd_ < 0 || !poll_ || inBatch_ || ring_.prepared() || !poller_.window()) return;
  Napi::HandleScope scope(env_);
  Napi::Object keep = Value();  // onBatch may close the session: see OnPoll
  (void)keep;
  poller_.sleeping(MonotonicNs());
  int ready = ReadyWithin(poller_.window());
  if (ready) Serve(ready, true);
}

// Without a ring the check is the read itself (a poll that says "ready" is followed by the
// read anyway: one syscall per request fewer); what it read waits in prefetched_ for Drain.
int FuseDevSession::ReadyWithin(uint64_t windowNs) {
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

void FuseDevSession::List(uint32_t token, size_t n, uint32_t* count, size_t* used) {
  table_[4 * *count + 0] = static_cast<uint32_t>(*used);
  table_[4 * *count + 1] = static_cast<uint32_t>(n);
  table_[4 * *count + 2] = token;
  table_[4 * *count + 3] = 0;
  batchTokens_.push_back(token);
  ++*count;
  *used += (n + 7) & ~size_t{7};
}

ssize_t FuseDevSession::ReadOne(size_t used) {
  for (;;) {
    ssize_t n = read(fd_, inbox_ + used, bufferSize_);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

// (Reading one request per drain, to save the read that says EAGAIN after a client that sends
// one at a time, was tried: with the spin off (--poll-us 0, or a window shrunk to 0) the
// FORGET of an unlinked file was served only after the client's next requests, so its space
// was freed too late for them (test/mount/faults-resources). Not understood in full: not kept.)
void FuseDevSession::Drain() {
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

void FuseDevSession::Deliver(uint32_t count) {
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

void FuseDevSession::SaveUnansweredWrites() {
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

void FuseDevSession::ReportException(const char* what) {
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

Napi::Function DefineFuseDevSession(Napi::Env env) { return FuseDevSession::Define(env); }

}  // namespace fusedev
}  // namespace vfsd
