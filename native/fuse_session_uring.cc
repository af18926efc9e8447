// FuseDevSession (fuse_dev_session.h), FUSE over io_uring: uringPrepare and uringStatus, the
// ring started after the INIT answer, its poll, its requests drained into the inbox, and the
// submission of its answers. The ring itself is fuse_uring.h.
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstdio>

#include "fuse_abi.h"
#include "fuse_dev_session.h"
#include "fuse_pending.h"
#include "fuse_uring.h"
#include "sys_args.h"

namespace vfsd {
namespace fusedev {
namespace {

constexpr uint32_t kInitExt = 1u << 30;        // FUSE_INIT_EXT: fuse_init_out.flags2 is valid
constexpr uint32_t kMaxPagesFlag = 1u << 22;   // FUSE_MAX_PAGES: fuse_init_out.max_pages is valid
constexpr uint32_t kOverIoUring2 = 1u << 9;    // FUSE_OVER_IO_URING, in flags2
constexpr uint32_t kDefaultMaxPages = 32;      // FUSE_DEFAULT_MAX_PAGES_PER_REQ

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

}  // namespace

// ---- FUSE over io_uring ----

Napi::Value FuseDevSession::UringPrepare(const Napi::CallbackInfo& info) {
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

Napi::Value FuseDevSession::UringStatus(const Napi::CallbackInfo& info) {
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

void FuseDevSession::StartRingAfterInit(const uint8_t* init, size_t len) {
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

void FuseDevSession::StartRingPoll() {
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

void FuseDevSession::OnRingPoll(uv_poll_t* handle, int status, int events) {
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

void FuseDevSession::DrainRing() {
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

void FuseDevSession::EntryLost(int res) {
  ++lostEntries_;
  if (res != -ENOTCONN && res != -ECONNABORTED && res != -ECANCELED && !lostLogged_) {
    lostLogged_ = true;
    fprintf(stderr, "vfsd: fuse-uring: a ring entry failed: %s\n", strerror(-res));
  }
}

int FuseDevSession::RingAnswered(int r) {
  if (r < 0) return r;
  return inBatch_ ? 0 : SubmitRing();
}

int FuseDevSession::SubmitRing() {
  if (!ring_.pendingSubmit()) return 0;
  int r = ring_.Submit();
  if (r < 0) fprintf(stderr, "vfsd: fuse-uring: io_uring_enter: %s\n", strerror(-r));
  return r;
}

}  // namespace fusedev
}  // namespace vfsd
