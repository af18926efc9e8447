// What both transports share about requests that act on an open file and may block: the
// "file jobs" (FSYNC, FSYNCDIR, FALLOCATE, SYNCFS, COPY_FILE_RANGE, FLUSH), the data paths a
// READ/WRITE may take. The contract with
// TypeScript is src/native/channel.ts (fileJob, readInto/writeFrom's `path`).
//
// A job that goes to the worker pool leases the engine's fds (fd_leases.h), taken on the loop
// thread when it is posted and ended by the worker when its syscall is done. So RELEASE may close
// the handle's fd at any time: the close waits for the last job using it, and the fd number is
// never free for another file while a worker uses it. FLUSH alone works on a dup: its close(dup)
// is the op (a client's close(): deferred write errors; vfsd's POSIX locks are OFD locks and flock
// belongs to the open file, so that close drops neither).
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace vfsd {

// fileJob ops (values shared with src/native/channel.ts FileOp).
enum class FileOp : uint32_t {
  Fsync = 1,        // a: 1 = fdatasync
  Fallocate = 2,    // a: mode, b: offset, c: length
  Syncfs = 3,
  CopyRange = 4,    // fd -> fd2, a: offIn, b: offOut, c: length; answer fuse_write_out
  CopyRange64 = 5,  // the same, answer fuse_copy_file_range_out (COPY_FILE_RANGE_64)
  Flush = 6,        // close(dup(fd))
  Lseek = 7,        // a: offset, b: whence (SEEK_DATA, SEEK_HOLE); answer fuse_lseek_out
};

// readInto/writeFrom/fileJob `path` (src/native/channel.ts DataPath).
enum DataPath : uint32_t {
  kPathInline = 0,     // blocking syscall on the loop thread (today's behaviour)
  kPathPool = 1,       // on a worker (inline when there is no pool)
  kPathTryInline = 2,  // READ/WRITE: RWF_NOWAIT inline; what would block goes to the pool
};

// What readInto/writeFrom/fileJob return besides -errno.
enum PathResult : int {
  kAnswered = 0,           // answered before returning
  kQueued = 1,             // on the pool: answered when it completes
  kNoWaitUnsupported = 2,  // answered inline with a plain syscall: the fd has no RWF_NOWAIT
};

struct FileJobArgs {
  FileOp op = FileOp::Fsync;
  int fd = -1;
  int fd2 = -1;  // CopyRange: the destination
  int64_t a = 0, b = 0, c = 0;
  // Fallocate/CopyRange modify the file, which clears suid/sgid unless the writer has
  // CAP_FSETID: a worker (root) drops it when the caller would not have had it.
  bool killPriv = false;
  // fd/fd2 are leases (fd_leases.h), not dups of the job's own
  bool leased = false;
};

// The result of a READ/WRITE finished on a worker after `already` bytes moved inline: what
// was moved counts even if the rest failed (a short transfer, as pread/pwrite report it).
inline int64_t Moved(uint64_t already, int64_t n) {
  return n < 0 ? (already ? static_cast<int64_t>(already) : n) : n + static_cast<int64_t>(already);
}

// Reads fileJob(token, op, fd, fd2, a, b, c, path, killPriv) from info[1..6] and info[8]. False on
// a malformed call.
bool ParseFileJob(const Napi::CallbackInfo& info, FileJobArgs* out);
// The optional DataPath argument info[i] of readInto/writeFrom/fileJob; anything else (absent,
// not a number, an unknown path) is kPathInline.
uint32_t PathArg(const Napi::CallbackInfo& info, size_t i);
// The job's hold on its fds: a dup of fd for FLUSH (its close is the op), leases of fd and fd2
// for the others. 0 or -errno (nothing held on failure).
int TakeJobFds(FileJobArgs* j);
// Lets go of what TakeJobFds took (the dups still open are closed, the leases ended).
void DropJobFds(FileJobArgs* j);
// Runs the op; >= 0 (bytes for copies) or -errno. Flush closes j->fd (which must be a dup).
int64_t RunFileOp(FileJobArgs* j);
// The answer's payload for a successful result; returns its length (0, 8).
size_t FileOpPayload(FileOp op, int64_t result, uint8_t out[8]);

}  // namespace vfsd
