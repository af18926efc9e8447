// FuseDevSession (fuse_dev_session.h), answers: reply, replyError, done, and the data answers
// (readInto, writeFrom, fileJob) inline, through a ring entry, or posted to the worker pool.
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "data_jobs.h"
#include "fd_leases.h"
#include "fuse_data_jobs.h"
#include "fuse_dev_session.h"
#include "fuse_pending.h"
#include "sys_args.h"
#include "transport_common.h"
#include "worker_pool.h"

namespace vfsd {
namespace fusedev {
namespace {

constexpr uint32_t kOpcodeInit = 26;  // FUSE_INIT

}  // namespace

// ---- answers ----

bool FuseDevSession::GetToken(const Napi::CallbackInfo& info, uint32_t* token) {
  uint64_t t;
  if (!ArgUint(info[0], &t) || t > 0xffffffffu) return false;
  *token = static_cast<uint32_t>(t);
  return true;
}

PendingTable::Slot* FuseDevSession::PendingFor(uint32_t token, int* err) {
  if (fd_ < 0) {
    *err = -EBADF;
    return nullptr;
  }
  PendingTable::Slot* s = pending_.Find(token);
  if (!s) *err = -EINVAL;
  return s;
}

int FuseDevSession::AnswerSlot(const PendingTable::Slot* s, int32_t error, const uint8_t* payload,
                               size_t len) {
  if (s->ringEntry != PendingTable::kNoEntry) {
    return RingAnswered(ring_.AnswerBytes(s->ringEntry, error, payload, len));
  }
  return Answer(fd_, s->unique, error, payload, len);
}

Napi::Value FuseDevSession::Released(Napi::Env env, uint32_t token, int r) {
  pending_.Release(token);
  return Napi::Number::New(env, r);
}

Napi::Value FuseDevSession::Reply(const Napi::CallbackInfo& info) {
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

Napi::Value FuseDevSession::ReplyError(const Napi::CallbackInfo& info) {
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

const std::shared_ptr<FuseJobLink>& FuseDevSession::JobLink() {
  if (!jobs_) {
    jobs_ = std::make_shared<FuseJobLink>();
    jobs_->devFd = fd_;
    jobs_->pending = &pending_;
    jobs_->afterAnswers = [this] { AfterPooledAnswers(); };
  }
  return jobs_;
}

Napi::Value FuseDevSession::ReadInto(const Napi::CallbackInfo& info) {
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

Napi::Value FuseDevSession::WriteFrom(const Napi::CallbackInfo& info) {
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

Napi::Value FuseDevSession::FileJob(const Napi::CallbackInfo& info) {
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

Napi::Value FuseDevSession::Done(const Napi::CallbackInfo& info) {
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

}  // namespace fusedev
}  // namespace vfsd
