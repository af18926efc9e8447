// Answers and the bulk-data jobs of /dev/fuse (see fuse_data_jobs.h).
#include "fuse_data_jobs.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <new>

#include "fd_leases.h"
#include "transport_common.h"

namespace vfsd {
namespace fusedev {

namespace {
uint64_t g_answersWritten = 0;  // loop thread only: every answer goes through WriteAnswer there
}  // namespace

uint64_t AnswersWritten() { return g_answersWritten; }

// Writes the whole iovec to the device. The kernel takes a FUSE answer in one write or rejects it,
// so a short write is an error, never something to continue.
int WriteAnswer(int devFd, const struct iovec* iov, int iovcnt, size_t total) {
  g_answersWritten++;
  for (;;) {
    ssize_t n = writev(devFd, iov, iovcnt);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    return static_cast<size_t>(n) == total ? 0 : -EIO;
  }
}

// An answer to a request. ENOENT means the request was interrupted and the kernel already dropped
// it: the answer simply has no one left to go to, which is not an error for the engine.
int Answer(int devFd, uint64_t unique, int32_t error, const uint8_t* payload, size_t len) {
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + len), error, unique};
  struct iovec iov[2] = {{&h, sizeof h}, {const_cast<uint8_t*>(payload), len}};
  int r = WriteAnswer(devFd, iov, len ? 2 : 1, h.len);
  return r == -ENOENT ? 0 : r;
}

namespace {

// The loop of ReadFull and WriteFull: move(done) transfers bytes from `done` on. EINTR is
// retried; 0 (EOF) ends it; an error ends it short, -errno when nothing moved yet, and an
// EAGAIN after some bytes sets *wouldBlock. oneCall: the first count is the answer.
template <typename Move>
ssize_t MoveFull(size_t size, bool oneCall, bool* wouldBlock, Move move) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = move(done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (done == 0) return -errno;
      if (errno == EAGAIN && wouldBlock) *wouldBlock = true;
      break;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
    if (oneCall) break;
  }
  return static_cast<ssize_t>(done);
}

}  // namespace

ssize_t ReadFull(int fd, uint8_t* data, size_t size, off_t offset, int flags, bool* wouldBlock) {
  return MoveFull(size, false, wouldBlock, [&](size_t got) {
    struct iovec v = {data + got, size - got};
    return preadv2(fd, &v, 1, offset + static_cast<off_t>(got), flags);
  });
}

ssize_t WriteFull(int fd, const uint8_t* data, size_t size, off_t offset, bool killPriv, int flags,
                  bool* wouldBlock) {
  ScopedDropFsetid drop(killPriv);
  // Writing with the privilege still in place would keep suid/sgid the caller asked to kill.
  if (drop.error()) return -drop.error();
  // A blocking pwrite's short count is the answer, as before; RWF_NOWAIT goes on after one.
  bool oneCall = !(flags & RWF_NOWAIT);
  return MoveFull(size, oneCall, wouldBlock, [&](size_t put) {
    struct iovec v = {const_cast<uint8_t*>(data) + put, size - put};
    return pwritev2(fd, &v, 1, offset + static_cast<off_t>(put), flags);
  });
}

int AnswerRead(int devFd, uint64_t unique, uint8_t* buf, ssize_t n) {
  if (n < 0) return Answer(devFd, unique, static_cast<int32_t>(n), nullptr, 0);
  OutHeader h{static_cast<uint32_t>(sizeof(OutHeader) + n), 0, unique};
  memcpy(buf, &h, sizeof h);
  struct iovec iov = {buf, h.len};
  int r = WriteAnswer(devFd, &iov, 1, h.len);
  return r == -ENOENT ? 0 : r;
}

int AnswerWritten(int devFd, uint64_t unique, ssize_t n) {
  if (n < 0) return Answer(devFd, unique, static_cast<int32_t>(n), nullptr, 0);
  WriteOut out{static_cast<uint32_t>(n), 0};
  return Answer(devFd, unique, 0, reinterpret_cast<const uint8_t*>(&out), sizeof out);
}

int AnswerFileOp(int devFd, uint64_t unique, FileOp op, int64_t result) {
  if (result < 0) return Answer(devFd, unique, static_cast<int32_t>(result), nullptr, 0);
  uint8_t payload[8];
  size_t len = FileOpPayload(op, result, payload);
  return Answer(devFd, unique, 0, payload, len);
}

// READ: pread into `scratch` after room for the out header, answer header + data in one write.
// Short reads are answered short (FUSE's EOF); an error before any byte is answered as the error.
int ReadJob(int devFd, uint64_t unique, int fd, size_t size, off_t offset,
            std::vector<uint8_t>* scratch) {
  if (scratch->size() < sizeof(OutHeader) + size) {
    try {
      scratch->resize(sizeof(OutHeader) + size);
    } catch (const std::bad_alloc&) {
      return Answer(devFd, unique, -ENOMEM, nullptr, 0);
    }
  }
  ssize_t n = ReadFull(fd, scratch->data() + sizeof(OutHeader), size, offset, 0, nullptr);
  return AnswerRead(devFd, unique, scratch->data(), n);
}

int WriteJob(int devFd, uint64_t unique, int fd, const uint8_t* data, size_t size, off_t offset,
             bool killPriv) {
  return AnswerWritten(devFd, unique, WriteFull(fd, data, size, offset, killPriv, 0, nullptr));
}

namespace {

// Base of the pooled /dev/fuse jobs: answers through the link if the request is still pending.
class FuseJob : public Job {
 public:
  FuseJob(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique)
      : Job(link), link_(link.get()), token_(token), unique_(unique) {}

  void Complete() override {
    if (!link_->pending || link_->devFd < 0) return;  // the session ended: nothing to answer
    PendingTable::Slot* s = link_->pending->Find(token_);
    if (!s || s->unique != unique_) return;  // answered meanwhile (a caller bug): not twice
    Answer(link_->devFd);
    link_->pending->Release(token_);
  }

 protected:
  virtual void Answer(int devFd) = 0;
  uint64_t unique() const { return unique_; }

 private:
  FuseJobLink* link_;  // kept alive by Job's owner reference
  uint32_t token_;
  uint64_t unique_;
};

class ReadFileJob : public FuseJob {
 public:
  ReadFileJob(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int fd,
              size_t size, off_t offset)
      : FuseJob(link, token, unique), fd_(fd), size_(size), offset_(offset) {}
  ~ReadFileJob() override {
    if (fd_ >= 0) EndLease(fd_);
  }
  void Run() override {
    try {
      buf_.resize(sizeof(OutHeader) + size_);
      result_ = ReadFull(fd_, buf_.data() + sizeof(OutHeader), size_, offset_, 0, nullptr);
    } catch (const std::bad_alloc&) {
      result_ = -ENOMEM;
    }
    EndLease(fd_);  // a close RELEASE asked for meanwhile happens here, off the loop
    fd_ = -1;
  }

 protected:
  void Answer(int devFd) override {
    if (result_ < 0) fusedev::Answer(devFd, unique(), static_cast<int32_t>(result_), nullptr, 0);
    else AnswerRead(devFd, unique(), buf_.data(), result_);
  }

 private:
  int fd_;
  size_t size_;
  off_t offset_;
  std::vector<uint8_t> buf_;
  ssize_t result_ = 0;
};

class WriteFileJob : public FuseJob {
 public:
  WriteFileJob(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int fd,
               std::vector<uint8_t> data, off_t offset, bool killPriv, size_t already)
      : FuseJob(link, token, unique), fd_(fd), data_(std::move(data)), offset_(offset),
        killPriv_(killPriv), already_(already) {}
  ~WriteFileJob() override {
    if (fd_ >= 0) EndLease(fd_);
  }
  void Run() override {
    ssize_t n = WriteFull(fd_, data_.data(), data_.size(), offset_, killPriv_, 0, nullptr);
    result_ = static_cast<ssize_t>(Moved(already_, n));
    EndLease(fd_);  // a close RELEASE asked for meanwhile happens here, off the loop
    fd_ = -1;
    std::vector<uint8_t>().swap(data_);
  }

 protected:
  void Answer(int devFd) override { AnswerWritten(devFd, unique(), result_); }

 private:
  int fd_;
  std::vector<uint8_t> data_;
  off_t offset_;
  bool killPriv_;
  size_t already_;
  ssize_t result_ = 0;
};

class FileOpJob : public FuseJob {
 public:
  FileOpJob(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique,
            const FileJobArgs& args)
      : FuseJob(link, token, unique), args_(args) {}
  ~FileOpJob() override { DropJobFds(&args_); }
  void Run() override {
    result_ = RunFileOp(&args_);
    DropJobFds(&args_);
  }

 protected:
  void Answer(int devFd) override { AnswerFileOp(devFd, unique(), args_.op, result_); }

 private:
  FileJobArgs args_;
  int64_t result_ = 0;
};

}  // namespace

void PostRead(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int ownFd,
              size_t size, off_t offset) {
  WorkerPool::Get()->Post(new ReadFileJob(link, token, unique, ownFd, size, offset));
}

void PostWrite(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int ownFd,
               std::vector<uint8_t> data, off_t offset, bool killPriv, size_t already) {
  WorkerPool::Get()->Post(new WriteFileJob(link, token, unique, ownFd, std::move(data), offset, killPriv, already));
}

void PostFileOp(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique,
                const FileJobArgs& args) {
  WorkerPool::Get()->Post(new FileOpJob(link, token, unique, args));
}

}  // namespace fusedev
}  // namespace vfsd
