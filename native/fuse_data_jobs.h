// Answers to /dev/fuse and the bulk-data jobs (READ and WRITE bytes move here, never through JS),
// inline on the loop thread or on the worker pool (worker_pool.h).
//
// A pooled job owns what it works on: its dup of the file's fd, its buffer (a WRITE's data is
// copied out of the inbox, which the next drain reuses). It answers through a FuseJobLink that
// its session detaches when it ends (devFd -1, pending null): from then on a completing job only
// frees itself, so it never writes to a /dev/fuse fd number that may already name another file
// nor touches a freed session.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <functional>
#include <memory>
#include <vector>

#include "data_jobs.h"
#include "fuse_pending.h"
#include "worker_pool.h"

namespace vfsd {
namespace fusedev {

// Writes the whole iovec to the device: 0, or -errno (-EIO for a short write).
int WriteAnswer(int devFd, const struct iovec* iov, int iovcnt, size_t total);
// How many answers WriteAnswer has written (a counter the session's busy-poll compares).
uint64_t AnswersWritten();
// Answers request `unique` with error and payload; 0 also when the kernel already dropped it.
int Answer(int devFd, uint64_t unique, int32_t error, const uint8_t* payload, size_t len);

// pread/pwrite (preadv2/pwritev2 with flags) until size bytes, EOF or an error: bytes moved, or
// -errno when none were. With RWF_NOWAIT an EAGAIN after some bytes sets *wouldBlock.
ssize_t ReadFull(int fd, uint8_t* data, size_t size, off_t offset, int flags, bool* wouldBlock);
ssize_t WriteFull(int fd, const uint8_t* data, size_t size, off_t offset, bool killPriv, int flags,
                  bool* wouldBlock);
// The answer to a READ whose n bytes (or -errno) are at buf + 16; buf[0..16) is overwritten.
int AnswerRead(int devFd, uint64_t unique, uint8_t* buf, ssize_t n);
int AnswerWritten(int devFd, uint64_t unique, ssize_t n);
int AnswerFileOp(int devFd, uint64_t unique, FileOp op, int64_t result);

// READ inline: into *scratch (grown as needed), then answered.
int ReadJob(int devFd, uint64_t unique, int fd, size_t size, off_t offset,
            std::vector<uint8_t>* scratch);
// WRITE inline: pwrite the request's data and answer the count; killPriv drops CAP_FSETID.
int WriteJob(int devFd, uint64_t unique, int fd, const uint8_t* data, size_t size, off_t offset,
             bool killPriv);

// What pooled jobs answer through (loop thread only).
struct FuseJobLink : JobOwner {
  int devFd = -1;
  PendingTable* pending = nullptr;
  // Run once the pool's completions of a round are answered: the session polls for the
  // client's next request there (FuseDevSession::AfterPooledAnswers). Cleared with devFd.
  std::function<void()> afterAnswers;
  void AfterCompletions() override {
    // A copy runs: the session may end inside it (an unmount read by the poll) and clear
    // afterAnswers, which must not destroy the function while it is running.
    std::function<void()> run = afterAnswers;
    if (run) run();
  }
};

// Post to the pool (which must exist). ownFd is leased (fd_leases.h), the lease ended when the job is.
void PostRead(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int ownFd,
              size_t size, off_t offset);
// data: the bytes still to write (after `already` written inline), copied by the caller.
void PostWrite(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique, int ownFd,
               std::vector<uint8_t> data, off_t offset, bool killPriv, size_t already);
void PostFileOp(const std::shared_ptr<FuseJobLink>& link, uint32_t token, uint64_t unique,
                const FileJobArgs& args);

}  // namespace fusedev
}  // namespace vfsd
