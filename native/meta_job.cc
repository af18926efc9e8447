// A metadata job's syscalls and completion (see meta_job.h; contract: src/native/meta-jobs.ts).
//
// Ownership: the job dup()s the engine's fd on the loop thread when it is posted (a lock job
// leases it instead: fd_leases.h), so the engine may close its own fd meanwhile (a FORGET, an fd
// budget taking it back) and a reused fd number never reaches the worker. The worker closes the
// dup (ends the lease). A LOOKUP's new fd belongs to the job until
// Complete() hands it to JavaScript, which owns it from then on; a job never completed (the
// environment is gone at exit) closes it in its destructor.
//
// Credentials: the worker switches to the caller's fsuid/fsgid/groups for the syscalls and back
// to the daemon's before the job ends, so the next job on that thread (an fsync, which relies on
// the daemon's capabilities for killPriv) never runs as someone else.
#include "meta_job.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "adaptive_poll.h"  // MonotonicNs
#include "fd_leases.h"
#include "flock_values.h"
#include "statfs_values.h"
#include "thread_creds.h"

namespace vfsd {
namespace {

// What src/passthrough/host-stat.ts asks for: STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID.
constexpr unsigned kStatxWant = 0x7ff | 0x800 | 0x1000;

// "/proc/self/fd/<fd>": a path naming exactly what fd pins, for calls that take no fd.
struct ProcFdPath {
  explicit ProcFdPath(int fd) { snprintf(path, sizeof path, "/proc/self/fd/%d", fd); }
  char path[32];
};

int StatxFd(int fd, uint8_t* out) {
  return syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, kStatxWant, out) < 0 ? -errno : 0;
}

}  // namespace

// What open_by_handle_at reads: handle_bytes (the first u32) bytes after the 8-byte header, all
// inside the buffer (the kernel would read past it otherwise), at most MAX_HANDLE_SZ.
bool IsWholeHandle(const uint8_t* p, size_t len) {
  if (len < 8) return false;
  uint32_t bytes;
  memcpy(&bytes, p, sizeof bytes);
  return bytes <= MAX_HANDLE_SZ && 8 + static_cast<size_t>(bytes) <= len;
}

MetaJob::~MetaJob() {
  EndFdLease();  // a job that never ran
  for (int fd : {fd_, fd2_, newFd_, ioFd_}) {
    if (fd >= 0) close(fd);
  }
}

void MetaJob::EndFdLease() {
  if (!leased) return;
  if (fd_ >= 0) EndLease(fd_);
  fd_ = -1;
}

void MetaJob::Run() {
  uint64_t t0 = MonotonicNs();
  result_ = asCaller ? SetThreadCreds(uid, gid, keepGroups, groups.size(), groups.data()) : 0;
  if (result_ == 0) result_ = Syscalls();
  if (asCaller) ResetThreadCreds();
  elapsedNs_ = MonotonicNs() - t0;
  EndFdLease();  // a close the engine asked for meanwhile runs here
  for (int* fd : {&fd_, &fd2_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

void MetaJob::Complete() {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Value stat = env.Null();
  if (result_ >= 0 && (op_ == MetaOp::Lookup || op_ == MetaOp::Stat)) stat = Napi::Buffer<uint8_t>::Copy(env, statx_, kStatxSize);
  if (result_ >= 0 && make) stat = Napi::Buffer<uint8_t>::Copy(env, statx_, kStatxSize);
  int res = result_;
  if ((op_ == MetaOp::Lookup || op_ == MetaOp::Reopen || op_ == MetaOp::OpenHandle || make) && result_ >= 0) {
    res = newFd_;
    newFd_ = -1;  // JavaScript owns it now
  }
  int io = ioFd_;
  ioFd_ = -1;  // JavaScript owns it now (Create; -1 otherwise)
  // The callback catches its own errors (src/native/meta-jobs.ts); MakeCallback runs the
  // microtasks its promises queue before returning to the loop.
  done_.MakeCallback(env.Global(), {Napi::Number::New(env, res), stat, Napi::Number::New(env, static_cast<double>(elapsedNs_ / 1000)), Napi::Number::New(env, io)});
}

int MetaJob::Made() {
  mode_t own = umask(static_cast<mode_t>(umaskBits & 0777));
  int r = 0;
  if (op_ == MetaOp::Mkdir) r = mkdirat(fd_, name.c_str(), static_cast<mode_t>(mode));
  if (op_ == MetaOp::Mknod) r = mknodat(fd_, name.c_str(), static_cast<mode_t>(mode), rdev);
  if (op_ == MetaOp::Symlink) r = symlinkat(name2.c_str(), fd_, name.c_str());
  if (op_ == MetaOp::Create) r = openat(fd_, name.c_str(), static_cast<int>(flags) | O_CLOEXEC, static_cast<mode_t>(mode));
  if (op_ == MetaOp::Link) {
    r = linkat(AT_FDCWD, ProcFdPath(fd2_).path, fd_, name.c_str(), AT_SYMLINK_FOLLOW);
  }
  int e = r < 0 ? -errno : 0;
  umask(own);
  if (e < 0) return e;
  if (op_ == MetaOp::Create) ioFd_ = r;
  int nfd;
  if (op_ == MetaOp::Create) {
    char self[16];
    snprintf(self, sizeof self, "%d", r);
    nfd = openat(fd2_, self, O_PATH | O_CLOEXEC);
  } else {
    nfd = openat(fd_, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  }
  if (nfd < 0) return -errno;  // made, but not to be found: the error is the answer (as inline)
  e = StatxFd(nfd, statx_);
  if (e < 0) {
    close(nfd);
    return e;
  }
  newFd_ = nfd;
  return labelName.empty() ? 0 : Labelled();
}

int MetaJob::Labelled() {
  if (asCaller) {
    int e = ResetThreadCreds();
    if (e < 0) return Unmade(e);
  }
  const uint8_t* v = labelValue.data();
  int r = op_ == MetaOp::Create ? fsetxattr(ioFd_, labelName.c_str(), v, labelValue.size(), 0)
                                : setxattr(ProcFdPath(newFd_).path, labelName.c_str(), v, labelValue.size(), 0);
  return r < 0 ? Unmade(-errno) : 0;
}

int MetaJob::Unmade(int err) {
  // "." is TMPFILE's (O_TMPFILE in the directory): the file has no name to remove, and goes
  // with its last fd.
  if (name != ".") unlinkat(fd_, name.c_str(), op_ == MetaOp::Mkdir ? AT_REMOVEDIR : 0);
  for (int* fd : {&newFd_, &ioFd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  return err;
}

int MetaJob::Changed() {
  char self[32];
  snprintf(self, sizeof self, "%d", fd_);
  int r = -1;
  if (op_ == MetaOp::Chmod) r = fchmodat(fd2_, self, static_cast<mode_t>(num[0]), 0);
  if (op_ == MetaOp::Chown) {
    r = fchownat(fd_, "", static_cast<uid_t>(num[0]), static_cast<gid_t>(num[1]), AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  }
  if (op_ == MetaOp::Truncate) {
    if (fd2_ < 0) {
      r = ftruncate(fd_, static_cast<off_t>(num[0]));
    } else {
      r = truncate(ProcFdPath(fd_).path, static_cast<off_t>(num[0]));
    }
  }
  if (op_ == MetaOp::Utimens) {
    timespec ts[2] = {{static_cast<time_t>(num[0]), static_cast<long>(num[1])}, {static_cast<time_t>(num[2]), static_cast<long>(num[3])}};
    r = utimensat(fd_, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
  }
  return r < 0 ? -errno : 0;
}

int MetaJob::Xattr() {
  ProcFdPath p(fd_);
  const char* path = p.path;
  ssize_t r = -1;
  if (op_ == MetaOp::Getxattr) r = getxattr(path, name.c_str(), out, outLen);
  if (op_ == MetaOp::Listxattr) r = listxattr(path, reinterpret_cast<char*>(out), outLen);
  if (op_ == MetaOp::Setxattr) r = setxattr(path, name.c_str(), value.data(), value.size(), static_cast<int>(flags));
  if (op_ == MetaOp::Removexattr) r = removexattr(path, name.c_str());
  return r < 0 ? -errno : static_cast<int>(r);
}

int MetaJob::Locked() {
  if (op_ == MetaOp::Flock) return ::flock(fd_, static_cast<int>(flags)) < 0 ? -errno : 0;
  double* lock = reinterpret_cast<double*>(out);
  struct flock fl;
  if (!FlockFromValues(lock, &fl)) return -EINVAL;
  if (fcntl(fd_, op_ == MetaOp::GetLk ? F_OFD_GETLK : F_OFD_SETLK, &fl) < 0) return -errno;
  if (op_ == MetaOp::GetLk) FlockToValues(fl, lock);
  return 0;
}

int MetaJob::Syscalls() {
  if (make) return Made();
  if (static_cast<uint32_t>(op_) >= kFirstLockOp && static_cast<uint32_t>(op_) <= kLastLockOp) return Locked();
  if (static_cast<uint32_t>(op_) >= kFirstXattrOp && static_cast<uint32_t>(op_) <= kLastXattrOp) return Xattr();
  if (static_cast<uint32_t>(op_) >= kFirstAttrOp && static_cast<uint32_t>(op_) <= kLastAttrOp) return Changed();
  if (op_ == MetaOp::Stat) return StatxFd(fd_, statx_);
  if (op_ == MetaOp::Unlink) return unlinkat(fd_, name.c_str(), static_cast<int>(flags)) < 0 ? -errno : 0;
  if (op_ == MetaOp::Rename) {
    return syscall(SYS_renameat2, fd_, name.c_str(), fd2_, name2.c_str(), flags) < 0 ? -errno : 0;
  }
  if (op_ == MetaOp::Getdents) {
    long n = syscall(SYS_getdents64, fd_, out, outLen);
    return n < 0 ? -errno : static_cast<int>(n);
  }
  if (op_ == MetaOp::Readlink) {
    ssize_t n = readlinkat(fd_, "", reinterpret_cast<char*>(out), outLen);
    return n < 0 ? -errno : static_cast<int>(n);
  }
  if (op_ == MetaOp::OpenHandle) {
    int nfd = open_by_handle_at(fd_, reinterpret_cast<struct file_handle*>(out), O_PATH | O_CLOEXEC);
    if (nfd < 0) return -errno;
    newFd_ = nfd;
    return 0;
  }
  if (op_ == MetaOp::Statfs) {
    double v[kStatfsValues];
    int e = FstatfsValues(fd_, v);
    if (e == 0) memcpy(out, v, sizeof v);
    return e;
  }
  if (op_ == MetaOp::Reopen || op_ == MetaOp::Access) {
    // The job's own dup, named in /proc/self/fd: the same open file as the engine's fd, and a
    // number nobody else can close or reuse while the job runs.
    char self[16];
    snprintf(self, sizeof self, "%d", fd_);
    if (op_ == MetaOp::Access) return faccessat(fd2_, self, static_cast<int>(flags), AT_EACCESS) < 0 ? -errno : 0;
    int nfd = openat(fd2_, self, static_cast<int>(flags) | O_CLOEXEC);
    if (nfd < 0) return -errno;
    newFd_ = nfd;
    return 0;
  }
  int nfd = openat(fd_, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (nfd < 0) return -errno;
  int e = StatxFd(nfd, statx_);
  if (e < 0) {
    close(nfd);
    return e;
  }
  newFd_ = nfd;
  return 0;
}

}  // namespace vfsd
