// File jobs (see data_jobs.h).
#include "data_jobs.h"
#include "fd_leases.h"

#include "transport_common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>


namespace vfsd {

namespace {

bool ToInt64(const Napi::Value& v, int64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<int64_t>(d))) {
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ToFd(const Napi::Value& v, int* out) {
  int64_t x;
  if (!ToInt64(v, &x) || x < -1 || x > 0x7fffffff) return false;
  *out = static_cast<int>(x);
  return true;
}

}  // namespace

bool ParseFileJob(const Napi::CallbackInfo& info, FileJobArgs* out) {
  int64_t op;
  if (!ToInt64(info[1], &op) || op < 1 || op > static_cast<int64_t>(FileOp::Lseek)) return false;
  out->op = static_cast<FileOp>(op);
  if (!ToFd(info[2], &out->fd) || out->fd < 0) return false;
  if (info.Length() > 3 && !info[3].IsUndefined() && !ToFd(info[3], &out->fd2)) return false;
  int64_t* v[3] = {&out->a, &out->b, &out->c};
  for (size_t i = 0; i < 3; i++) {
    if (info.Length() > 4 + i && !info[4 + i].IsUndefined() && !ToInt64(info[4 + i], v[i])) return false;
  }
  bool copy = out->op == FileOp::CopyRange || out->op == FileOp::CopyRange64;
  if (copy && (out->fd2 < 0 || out->c < 0)) return false;
  out->killPriv = info.Length() > 8 && info[8].IsBoolean() && info[8].As<Napi::Boolean>().Value();
  return true;
}

uint32_t PathArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) return kPathInline;
  uint32_t p = info[i].As<Napi::Number>().Uint32Value();
  return p <= kPathTryInline ? p : kPathInline;
}

int TakeJobFds(FileJobArgs* j) {
  if (j->op == FileOp::Flush) {
    int fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return -errno;
    j->fd = fd;
    j->fd2 = -1;
    return 0;
  }
  int r = LeaseFd(j->fd);
  if (r < 0) return r;
  if (j->fd2 >= 0 && (r = LeaseFd(j->fd2)) < 0) {
    EndLease(j->fd);
    return r;
  }
  j->leased = true;
  return 0;
}

void DropJobFds(FileJobArgs* j) {
  for (int* fd : {&j->fd, &j->fd2}) {
    if (*fd < 0) continue;
    if (j->leased) EndLease(*fd);
    else close(*fd);
    *fd = -1;
  }
}

int64_t RunFileOp(FileJobArgs* j) {
  bool modifies = j->op == FileOp::Fallocate || j->op == FileOp::CopyRange || j->op == FileOp::CopyRange64;
  ScopedDropFsetid drop(modifies && j->killPriv);
  if (drop.error()) return -drop.error();
  long r = 0;
  switch (j->op) {
    case FileOp::Fsync:
      r = j->a ? fdatasync(j->fd) : fsync(j->fd);
      break;
    case FileOp::Fallocate:
      r = fallocate(j->fd, static_cast<int>(j->a), j->b, j->c);
      break;
    case FileOp::Syncfs:
      r = syncfs(j->fd);
      break;
    case FileOp::CopyRange:
    case FileOp::CopyRange64: {
      // A negative offset means "the fd's own position" (a NULL pointer), as sys.copyFileRange.
      loff_t in = j->a, out = j->b;
      r = copy_file_range(j->fd, in < 0 ? nullptr : &in, j->fd2, out < 0 ? nullptr : &out,
                          static_cast<size_t>(j->c), 0);
      break;
    }
    case FileOp::Flush:
      // close() of a dup reports deferred write errors (NFS) as a client's close() would. Even
      // on error the fd is gone (Linux never leaves it open).
      r = close(j->fd);
      j->fd = -1;
      break;
    case FileOp::Lseek:
      // The leased fd's position moves, as the inline lseek's does: nothing of ours uses it (I/O
      // is pread/pwrite at the request's offsets).
      r = lseek(j->fd, j->a, static_cast<int>(j->b));
      break;
  }
  return r < 0 ? -errno : r;
}

size_t FileOpPayload(FileOp op, int64_t result, uint8_t out[8]) {
  if (op == FileOp::CopyRange) {  // fuse_write_out { u32 size; u32 padding }
    uint32_t v[2] = {static_cast<uint32_t>(result), 0};
    memcpy(out, v, 8);
    return 8;
  }
  if (op == FileOp::CopyRange64 || op == FileOp::Lseek) {  // fuse_copy_file_range_out { u64 bytes_copied }, fuse_lseek_out { u64 offset }
    uint64_t v = static_cast<uint64_t>(result);
    memcpy(out, &v, 8);
    return 8;
  }
  return 0;
}

}  // namespace vfsd
