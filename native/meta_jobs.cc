// Metadata jobs (see meta_jobs.h; contract: src/native/meta-jobs.ts).
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
#include "meta_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "adaptive_poll.h"  // MonotonicNs
#include "fd_leases.h"
#include "flock_values.h"
#include "statfs_values.h"
#include "sys_args.h"
#include "thread_creds.h"
#include "worker_pool.h"

namespace vfsd {
namespace {

// Values shared with src/native/meta-jobs.ts MetaOp.
enum class MetaOp : uint32_t {
  Lookup = 1,  // openat(fd, name, O_PATH|O_NOFOLLOW) then statx of the new fd
  Stat = 2,    // statx of fd itself
  Reopen = 3,  // openat(fd2, "<fd>", flags): fd2 is /proc/self/fd, so this opens what fd is
  Access = 4,  // faccessat(fd2, "<fd>", flags = mask, AT_EACCESS)
  // metaIntoJob's: the daemon's credentials, the result written into the caller's buffer.
  Getdents = 5,  // getdents64(fd, out): bytes or -errno
  Readlink = 6,  // readlinkat(fd, "", out): bytes or -errno
  Statfs = 7,    // fstatfs(fd) as FstatfsValues' ten doubles in out
  // metaJob's again: status-only, as the caller (the permission checks are the host's).
  Unlink = 8,  // unlinkat(fd, name, flags): 0 or -errno
  Rename = 9,  // renameat2(fd, name, fd2, name2, flags): 0 or -errno
  // metaMakeJob's: a creating syscall in fd (the parent) as the caller under the request's
  // umask, then the new name opened O_PATH|O_NOFOLLOW and its statx, as Lookup.
  Mkdir = 10,    // mkdirat(fd, name, mode)
  Mknod = 11,    // mknodat(fd, name, mode, rdev)
  Symlink = 12,  // symlinkat(name2, fd, name)
  Create = 13,   // openat(fd, name, openFlags, mode): that fd (ioFd) too; the O_PATH fd is
                 // opened through fd2 = /proc/self/fd, so it is the very file the open made
  // metaAttrJob's: one of SETATTR's changes to what fd is, status-only, as the caller (or the
  // daemon); the numbers a..d are the change's.
  Chmod = 14,     // fchmodat(fd2 = /proc/self/fd, "<fd>", a, 0)
  Chown = 15,     // fchownat(fd, "", a, b, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW); -1 keeps one
  Truncate = 16,  // fd2 -1: ftruncate(fd, a) (an open file); else truncate("/proc/self/fd/<fd>", a)
  Utimens = 17,   // utimensat(fd, "", {a, b}, {c, d}, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
  // metaXattrJob's: by the name "/proc/self/fd/<fd>" (an O_PATH fd carries no xattr calls; the
  // magic link resolves to exactly what fd pins), as the caller.
  Getxattr = 18,     // getxattr(path, name, out): the value's size, or into out
  Listxattr = 19,    // listxattr(path, out): the list's size, or into out
  Setxattr = 20,     // setxattr(path, name, value, flags): 0 (the value is the job's copy)
  Removexattr = 21,  // removexattr(path, name): 0
  // metaMakeJob's too: linkat(AT_FDCWD, "/proc/self/fd/<fd2>", fd, name, AT_SYMLINK_FOLLOW) (the
  // magic link needs no CAP_DAC_READ_SEARCH, AT_EMPTY_PATH would), then as the other make ops.
  Link = 22,
  // metaLockJob's: a lock call on a lease of the engine's open file (fd_leases.h: its close would
  // be a flush), the daemon's credentials (no lock call checks permission). The lock is four
  // doubles [type, start, len, pid] in out (flock_values.h), read on the worker and, for GetLk,
  // written back.
  GetLk = 23,  // fcntl(fd, F_OFD_GETLK, lock)
  SetLk = 24,  // fcntl(fd, F_OFD_SETLK, lock): never waits (SETLKW retries: server/blocking-locks)
  Flock = 25,  // flock(fd, flags) (flags carry LOCK_NB for a lock)
  // metaIntoJob's too, with out the input: open_by_handle_at(fd = a mount's fd, out = a struct
  // file_handle, O_PATH) with the daemon's credentials (it needs CAP_DAC_READ_SEARCH): an inode
  // whose fd the budget took back, opened again. It reads the inode from the disk, or asks the
  // server, when the host's cache let it go.
  OpenHandle = 26,
};
constexpr uint32_t kFirstAttrOp = 14;
constexpr uint32_t kLastAttrOp = 17;
constexpr uint32_t kFirstXattrOp = 18;
constexpr uint32_t kLastXattrOp = 21;
constexpr uint32_t kFirstMakeOp = 10;
constexpr uint32_t kLastMakeOp = 13;
constexpr uint32_t kFirstLockOp = 23;
constexpr uint32_t kLastLockOp = 25;
constexpr uint32_t kFirstIntoOp = 5;
constexpr uint32_t kLastIntoOp = 7;

bool IsIntoOp(uint32_t op) {
  return (op >= kFirstIntoOp && op <= kLastIntoOp) || op == static_cast<uint32_t>(MetaOp::OpenHandle);
}

// What open_by_handle_at reads: handle_bytes (the first u32) bytes after the 8-byte header, all
// inside the buffer (the kernel would read past it otherwise), at most MAX_HANDLE_SZ.
bool IsWholeHandle(const uint8_t* p, size_t len) {
  if (len < 8) return false;
  uint32_t bytes;
  memcpy(&bytes, p, sizeof bytes);
  return bytes <= MAX_HANDLE_SZ && 8 + static_cast<size_t>(bytes) <= len;
}

bool IsMakeOp(uint32_t op) {
  return (op >= kFirstMakeOp && op <= kLastMakeOp) || op == static_cast<uint32_t>(MetaOp::Link);
}

bool IsMetaJobOp(uint32_t op) {
  return (op >= 1 && op < kFirstIntoOp) || op == static_cast<uint32_t>(MetaOp::Unlink) || op == static_cast<uint32_t>(MetaOp::Rename);
}

constexpr size_t kStatxSize = 256;  // sizeof(struct statx)
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

class MetaJob : public Job {
 public:
  MetaJob(napi_env env, MetaOp op, int fd, int fd2, Napi::Function done)
      : Job(nullptr), env_(env), op_(op), fd_(fd), fd2_(fd2), done_(Napi::Persistent(done)) {}

  ~MetaJob() override {
    EndFdLease();  // a job that never ran
    for (int fd : {fd_, fd2_, newFd_, ioFd_}) {
      if (fd >= 0) close(fd);
    }
  }

  // fd is the engine's own, leased (fd_leases.h), not a dup: a lock job's (its close would be a
  // flush of the file: a writeback on NFS, a FLUSH round trip on FUSE, for every lock call).
  bool leased = false;

  // A leased fd is the engine's: the job ends its lease (once) instead of closing it.
  void EndFdLease() {
    if (!leased) return;
    if (fd_ >= 0) EndLease(fd_);
    fd_ = -1;
  }

  // metaIntoJob: where the result goes (OpenHandle: the handle it reads), kept alive by outRef
  // until the job is destroyed on the loop thread. TypeScript does not touch it while the job
  // runs (src/native/meta-jobs.ts).
  uint8_t* out = nullptr;
  size_t outLen = 0;
  Napi::Reference<Napi::Value> outRef;

  uint32_t flags = 0;
  // metaAttrJob's
  int64_t num[4] = {0, 0, 0, 0};
  // metaXattrJob's Setxattr value (copied: the request's bytes live only during its batch)
  std::vector<uint8_t> value;
  // metaMakeJob's
  bool make = false;
  uint32_t mode = 0;
  uint32_t umaskBits = 0;
  dev_t rdev = 0;
  std::string name;
  std::string name2;  // Rename's new name (in fd2)
  // metaMakeJob's security label (FUSE_SECURITY_CTX): set on what was made, with the daemon's
  // credentials, before JavaScript hears of it; empty labelName: none.
  std::string labelName;
  std::vector<uint8_t> labelValue;
  bool asCaller = false;
  bool keepGroups = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;

  void Run() override {
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

  void Complete() override {
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

 private:
  // The creating syscall under the request's umask (this thread's own: WorkerPool::ownUmask).
  int Made() {
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

  // The label on what Made() made, as the daemon (the guest's LSM chose it; a security.* xattr
  // needs privilege no guest user has: src/passthrough/xattr-ops.ts setSecurityLabel). If the
  // host refuses it, the object is removed again (as the daemon) and the make fails with that
  // errno: nothing stays behind without the label the guest's LSM gave it.
  int Labelled() {
    if (asCaller) {
      int e = ResetThreadCreds();
      if (e < 0) return Unmade(e);
    }
    const uint8_t* v = labelValue.data();
    int r = op_ == MetaOp::Create ? fsetxattr(ioFd_, labelName.c_str(), v, labelValue.size(), 0)
                                  : setxattr(ProcFdPath(newFd_).path, labelName.c_str(), v, labelValue.size(), 0);
    return r < 0 ? Unmade(-errno) : 0;
  }

  int Unmade(int err) {
    // "." is TMPFILE's (O_TMPFILE in the directory): the file has no name to remove, and goes
    // with its last fd.
    if (name != ".") unlinkat(fd_, name.c_str(), op_ == MetaOp::Mkdir ? AT_REMOVEDIR : 0);
    for (int* fd : {&newFd_, &ioFd_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
    return err;
  }

  // SETATTR's change (metaAttrJob): through the job's own dup, as the other ops.
  int Changed() {
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

  // An xattr call on what fd is (metaXattrJob); out/outLen: Getxattr's and Listxattr's buffer.
  int Xattr() {
    ProcFdPath p(fd_);
    const char* path = p.path;
    ssize_t r = -1;
    if (op_ == MetaOp::Getxattr) r = getxattr(path, name.c_str(), out, outLen);
    if (op_ == MetaOp::Listxattr) r = listxattr(path, reinterpret_cast<char*>(out), outLen);
    if (op_ == MetaOp::Setxattr) r = setxattr(path, name.c_str(), value.data(), value.size(), static_cast<int>(flags));
    if (op_ == MetaOp::Removexattr) r = removexattr(path, name.c_str());
    return r < 0 ? -errno : static_cast<int>(r);
  }

  // A lock call (metaLockJob) on the leased fd; out holds the lock as its four numbers (checked
  // when posted).
  int Locked() {
    if (op_ == MetaOp::Flock) return ::flock(fd_, static_cast<int>(flags)) < 0 ? -errno : 0;
    double* lock = reinterpret_cast<double*>(out);
    struct flock fl;
    if (!FlockFromValues(lock, &fl)) return -EINVAL;
    if (fcntl(fd_, op_ == MetaOp::GetLk ? F_OFD_GETLK : F_OFD_SETLK, &fl) < 0) return -errno;
    if (op_ == MetaOp::GetLk) FlockToValues(fl, lock);
    return 0;
  }

  int Syscalls() {
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

  napi_env env_;
  MetaOp op_;
  int fd_;
  int fd2_;
  int newFd_ = -1;
  int ioFd_ = -1;  // Create's open file
  int result_ = -EIO;
  uint64_t elapsedNs_ = 0;
  uint8_t statx_[kStatxSize] = {};
  Napi::FunctionReference done_;
};

// A job on its own dups of fd and (withFd2) fd2, taken now: the engine may close its fds at once.
// null with *err = -errno when a dup fails.
std::unique_ptr<MetaJob> JobOnDups(napi_env env, MetaOp kind, int fd, int fd2, bool withFd2, Napi::Function done, int* err) {
  int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) {
    *err = -errno;
    return nullptr;
  }
  int dup2 = withFd2 ? fcntl(fd2, F_DUPFD_CLOEXEC, 0) : -1;
  if (withFd2 && dup2 < 0) {
    *err = -errno;
    close(dup);
    return nullptr;
  }
  return std::make_unique<MetaJob>(env, kind, dup, dup2, done);
}

// uid -1: the daemon's credentials; else the caller's, with exactly `groups` (a null or undefined
// argument: the thread's own supplementary groups, where setgroups is denied).
void RunAs(MetaJob* job, int32_t uid, uint32_t gid, const uint32_t* groups, size_t ngroups, const Napi::Value& groupsArg) {
  if (uid < 0) return;
  job->asCaller = true;
  job->uid = static_cast<uid_t>(uid);
  job->gid = gid;
  job->groups.assign(groups, groups + ngroups);
  job->keepGroups = groupsArg.IsNull() || groupsArg.IsUndefined();
}

// What every post ends with: the job on its dups of fd (and fd2), its fields set by fill, queued
// on the pool. 1, -ENOSYS without a pool, or a dup's -errno (then nothing is queued).
template <typename Fill>
Napi::Value Queue(const Napi::CallbackInfo& info, Args& a, MetaOp kind, int fd, int fd2, bool withFd2, size_t doneArg, Fill fill) {
  WorkerPool* pool = WorkerPool::Get();
  if (!pool) return a.Num(-ENOSYS);
  int err = 0;
  auto job = JobOnDups(info.Env(), kind, fd, fd2, withFd2, info[doneArg].As<Napi::Function>(), &err);
  if (!job) return a.Num(err);
  fill(job.get());
  pool->Post(job.release());
  return a.Num(1);
}

// metaJob(op, fd, fd2, name|null, flags, uid|-1, gid, groups|null (null: keep the thread's), done,
// name2?) -> 1 (queued) or -errno: -ENOSYS without a pool (the caller then runs it inline),
// -EINVAL for a malformed call. name2: Rename's new name only.
Napi::Value PostMetaJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaJob", 9);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  int fd2 = a.Int(2);
  NameBuf name;
  a.Name(3, name, true);
  uint32_t flags = a.Uint(4);
  int32_t uid = a.Int(5);
  uint32_t gid = a.Uint(6);
  size_t ngroups = 0;
  const uint32_t* groups = a.U32OrNull(7, &ngroups);
  NameBuf name2;
  if (info.Length() > 9) a.Name(9, name2, true);
  if (!a.Ok()) return a.Bail();
  if (!info[8].IsFunction()) return a.Num(-EINVAL);
  if (!IsMetaJobOp(op)) return a.Num(-EINVAL);
  MetaOp kind = static_cast<MetaOp>(op);
  bool named = kind == MetaOp::Lookup || kind == MetaOp::Unlink || kind == MetaOp::Rename;
  if (named && !name.ptr) return a.Num(-EINVAL);
  if ((kind == MetaOp::Rename) != (name2.ptr != nullptr)) return a.Num(-EINVAL);
  // fd2: /proc/self/fd (Reopen, Access) or Rename's new parent; the job dups it like fd.
  bool withFd2 = kind == MetaOp::Reopen || kind == MetaOp::Access || kind == MetaOp::Rename;
  return Queue(info, a, kind, fd, fd2, withFd2, 8, [&](MetaJob* job) {
    job->flags = flags;
    if (name.ptr) job->name = name.ptr;
    if (name2.ptr) job->name2 = name2.ptr;
    RunAs(job, uid, gid, groups, ngroups, info[7]);
  });
}

// metaIntoJob(op, fd, out, done) -> 1 (queued) or -errno (-ENOSYS without a pool). Getdents and
// Readlink fill out (the result is the byte count), Statfs needs 80 bytes; OpenHandle reads its
// handle from out (the result is the new fd). All run with the daemon's credentials (none of
// them checks the caller's permission: the fd was opened already, or is opened O_PATH).
Napi::Value PostMetaIntoJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaIntoJob", 4);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  Bytes out = a.U8(2);
  if (!a.Ok()) return a.Bail();
  if (!info[3].IsFunction() || !IsIntoOp(op)) return a.Num(-EINVAL);
  MetaOp kind = static_cast<MetaOp>(op);
  if (kind == MetaOp::Statfs && out.len < kStatfsValues * sizeof(double)) return a.Num(-EINVAL);
  if (kind == MetaOp::OpenHandle && !IsWholeHandle(out.data, out.len)) return a.Num(-EINVAL);
  if (out.len > 1u << 30) return a.Num(-EINVAL);  // a result must fit the int it is returned in
  return Queue(info, a, kind, fd, -1, false, 3, [&](MetaJob* job) {
    job->out = out.data;
    job->outLen = out.len;
    job->outRef = Napi::Persistent(info[2]);
  });
}

// metaMakeJob(op, fd, fd2, name, name2|null, mode, rdevMajor, rdevMinor, umask, openFlags, uid,
// gid, groups|null, done, labelName?, labelValue?) -> 1 (queued), 0 (not queued: the workers
// cannot have their own umask; the caller runs it inline), -ENOSYS without a pool, or -errno. uid -1: the daemon's
// credentials (the caller is the daemon's own uid), as metaJob. fd2:
// /proc/self/fd (Create), the source (Link), else unused; name2: Symlink's target only.
Napi::Value PostMetaMakeJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaMakeJob", 14);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  int fd2 = a.Int(2);
  NameBuf name;
  a.Name(3, name);
  NameBuf name2;
  a.Name(4, name2, true);
  uint32_t mode = a.Uint(5);
  uint32_t major = a.Uint(6);
  uint32_t minor = a.Uint(7);
  uint32_t umaskBits = a.Uint(8);
  uint32_t openFlags = a.Uint(9);
  int32_t uid = a.Int(10);
  uint32_t gid = a.Uint(11);
  size_t ngroups = 0;
  const uint32_t* groups = a.U32OrNull(12, &ngroups);
  NameBuf labelName;
  Bytes labelValue{};
  bool labelled = info.Length() > 14 && !info[14].IsNull() && !info[14].IsUndefined();
  if (labelled) {
    a.Name(14, labelName);
    labelValue = a.U8(15);
  }
  if (!a.Ok()) return a.Bail();
  if (!info[13].IsFunction() || !IsMakeOp(op)) return a.Num(-EINVAL);
  MetaOp kind = static_cast<MetaOp>(op);
  if ((kind == MetaOp::Symlink) != (name2.ptr != nullptr)) return a.Num(-EINVAL);
  // LINK makes no new object: nothing to label. xattr values are at most 64 KiB.
  if (labelled && (kind == MetaOp::Link || labelValue.len > 65536 || !labelName.ptr || !labelName.ptr[0])) return a.Num(-EINVAL);
  WorkerPool* pool = WorkerPool::Get();
  if (pool && !pool->ownUmask()) return a.Num(0);
  return Queue(info, a, kind, fd, fd2, kind == MetaOp::Create || kind == MetaOp::Link, 13, [&](MetaJob* job) {
    job->make = true;
    job->flags = openFlags;
    job->mode = mode;
    job->umaskBits = umaskBits;
    job->rdev = makedev(major, minor);
    job->name = name.ptr;
    if (name2.ptr) job->name2 = name2.ptr;
    if (labelled) {
      job->labelName = labelName.ptr;
      job->labelValue.assign(labelValue.data, labelValue.data + labelValue.len);
    }
    RunAs(job, uid, gid, groups, ngroups, info[12]);
  });
}

// metaAttrJob(op, fd, fd2, a, b, c, d, uid|-1, gid, groups|null, done) -> 1 (queued) or -errno
// (-ENOSYS without a pool). One of SETATTR's changes (MetaOp Chmod..Utimens); fd2:
// /proc/self/fd (Chmod, and Truncate by path) or -1. a..d are integers (a size, times, ids;
// -1 for an id left as it is); what they mean is the op's.
Napi::Value PostMetaAttrJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaAttrJob", 11);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  int fd2 = a.Int(2);
  int64_t num[4] = {a.Int64(3), a.Int64(4), a.Int64(5), a.Int64(6)};
  int32_t uid = a.Int(7);
  uint32_t gid = a.Uint(8);
  size_t ngroups = 0;
  const uint32_t* groups = a.U32OrNull(9, &ngroups);
  if (!a.Ok()) return a.Bail();
  if (!info[10].IsFunction() || op < kFirstAttrOp || op > kLastAttrOp) return a.Num(-EINVAL);
  MetaOp kind = static_cast<MetaOp>(op);
  bool withFd2 = kind == MetaOp::Chmod || (kind == MetaOp::Truncate && fd2 >= 0);
  if (kind == MetaOp::Chmod && fd2 < 0) return a.Num(-EINVAL);
  return Queue(info, a, kind, fd, fd2, withFd2, 10, [&](MetaJob* job) {
    for (int i = 0; i < 4; i++) job->num[i] = num[i];
    RunAs(job, uid, gid, groups, ngroups, info[9]);
  });
}

// metaXattrJob(op, fd, name|null, buf|null, flags, uid|-1, gid, groups|null, done) -> 1 (queued)
// or -errno (-ENOSYS without a pool). Getxattr and Listxattr read into buf (empty: the size is
// asked), which the caller must neither read nor write until done runs (the job keeps it alive);
// Setxattr sets buf's bytes (copied now) with flags; Removexattr takes no buf. Getxattr,
// Setxattr and Removexattr need a name.
Napi::Value PostMetaXattrJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaXattrJob", 9);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  NameBuf name;
  a.Name(2, name, true);
  bool hasBuf = !info[3].IsNull() && !info[3].IsUndefined();
  Bytes buf = hasBuf ? a.U8(3) : Bytes{};
  uint32_t flags = a.Uint(4);
  int32_t uid = a.Int(5);
  uint32_t gid = a.Uint(6);
  size_t ngroups = 0;
  const uint32_t* groups = a.U32OrNull(7, &ngroups);
  if (!a.Ok()) return a.Bail();
  if (!info[8].IsFunction() || op < kFirstXattrOp || op > kLastXattrOp) return a.Num(-EINVAL);
  MetaOp kind = static_cast<MetaOp>(op);
  if ((kind == MetaOp::Listxattr) == (name.ptr != nullptr)) return a.Num(-EINVAL);
  bool reads = kind == MetaOp::Getxattr || kind == MetaOp::Listxattr;
  if ((reads || kind == MetaOp::Setxattr) != hasBuf) return a.Num(-EINVAL);
  if (hasBuf && buf.len > 1u << 20) return a.Num(-EINVAL);  // xattr values are at most 64 KiB
  return Queue(info, a, kind, fd, -1, false, 8, [&](MetaJob* job) {
    job->flags = flags;
    if (name.ptr) job->name = name.ptr;
    if (reads) {
      job->out = buf.data;
      job->outLen = buf.len;
      job->outRef = Napi::Persistent(info[3]);
    }
    if (kind == MetaOp::Setxattr) job->value.assign(buf.data, buf.data + buf.len);
    RunAs(job, uid, gid, groups, ngroups, info[7]);
  });
}

// metaLockJob(op, fd, lock, flags, done) -> 1 (queued) or -errno (-ENOSYS without a pool). fd is
// an open file; lock is a Float64Array(4) [type, start, len, pid] (GetLk, SetLk: whence SEEK_SET,
// pid 0 as F_OFD_* want), which the caller must neither read nor write until done runs (the job
// keeps it alive; GetLk writes the answer into it); flags: Flock's operation.
Napi::Value PostMetaLockJob(const Napi::CallbackInfo& info) {
  Args a(info, "metaLockJob", 5);
  uint32_t op = a.Uint(0);
  int fd = a.Int(1);
  double* lock = a.F64(2, kFlockValues);
  uint32_t flags = a.Uint(3);
  if (!a.Ok()) return a.Bail();
  if (!info[4].IsFunction() || op < kFirstLockOp || op > kLastLockOp) return a.Num(-EINVAL);
  struct flock checked;  // refused here, while the caller can still be told
  if (!FlockFromValues(lock, &checked)) return a.Num(-EINVAL);
  WorkerPool* pool = WorkerPool::Get();
  if (!pool) return a.Num(-ENOSYS);
  if (fd < 0) return a.Num(-EBADF);
  int err = LeaseFd(fd);
  if (err < 0) return a.Num(err);
  auto job = std::make_unique<MetaJob>(info.Env(), static_cast<MetaOp>(op), fd, -1, info[4].As<Napi::Function>());
  job->leased = true;
  job->flags = flags;
  job->out = reinterpret_cast<uint8_t*>(lock);
  job->outLen = kFlockValues * sizeof(double);
  job->outRef = Napi::Persistent(info[2]);
  pool->Post(job.release());
  return a.Num(1);
}

}  // namespace

void InitMetaJobs(Napi::Env env, Napi::Object exports) {
  exports.Set("metaLockJob", Napi::Function::New(env, PostMetaLockJob, "metaLockJob"));
  exports.Set("metaXattrJob", Napi::Function::New(env, PostMetaXattrJob, "metaXattrJob"));
  exports.Set("metaAttrJob", Napi::Function::New(env, PostMetaAttrJob, "metaAttrJob"));
  exports.Set("metaJob", Napi::Function::New(env, PostMetaJob, "metaJob"));
  exports.Set("metaIntoJob", Napi::Function::New(env, PostMetaIntoJob, "metaIntoJob"));
  exports.Set("metaMakeJob", Napi::Function::New(env, PostMetaMakeJob, "metaMakeJob"));
}

}  // namespace vfsd
