// One metadata job: the syscalls of one metadata request (a LOOKUP's openat + statx, a GETATTR's
// statx, a READDIR's getdents64, an open_by_handle_at, a SETATTR change, an xattr or lock call,
// a create) run on a worker (as the caller where the syscall checks permission), and the result
// goes to a JavaScript callback on the loop thread. MetaOp numbers are shared with
// src/native/meta-jobs.ts; meta_jobs.cc checks a post's arguments and queues the job.
#pragma once
#include <napi.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "worker_pool.h"

namespace vfsd {

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

inline bool IsIntoOp(uint32_t op) {
  return (op >= kFirstIntoOp && op <= kLastIntoOp) || op == static_cast<uint32_t>(MetaOp::OpenHandle);
}

// Whether out holds a whole struct file_handle (meta_job.cc).
bool IsWholeHandle(const uint8_t* p, size_t len);

inline bool IsMakeOp(uint32_t op) {
  return (op >= kFirstMakeOp && op <= kLastMakeOp) || op == static_cast<uint32_t>(MetaOp::Link);
}

inline bool IsMetaJobOp(uint32_t op) {
  return (op >= 1 && op < kFirstIntoOp) || op == static_cast<uint32_t>(MetaOp::Unlink) || op == static_cast<uint32_t>(MetaOp::Rename);
}


constexpr size_t kStatxSize = 256;  // sizeof(struct statx)

class MetaJob : public Job {
 public:
  MetaJob(napi_env env, MetaOp op, int fd, int fd2, Napi::Function done)
      : Job(nullptr), env_(env), op_(op), fd_(fd), fd2_(fd2), done_(Napi::Persistent(done)) {}

  ~MetaJob() override;

  // fd is the engine's own, leased (fd_leases.h), not a dup: a lock job's (its close would be a
  // flush of the file: a writeback on NFS, a FLUSH round trip on FUSE, for every lock call).
  bool leased = false;

  // A leased fd is the engine's: the job ends its lease (once) instead of closing it.
  void EndFdLease();

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

  // Worker thread: the syscalls, as the caller or the daemon.
  void Run() override;
  // Loop thread: the new fds to JavaScript, the result to its callback.
  void Complete() override;

 private:
  // The creating syscall under the request's umask (this thread's own: WorkerPool::ownUmask).
  int Made();

  // The label on what Made() made, as the daemon (the guest's LSM chose it; a security.* xattr
  // needs privilege no guest user has: src/passthrough/xattr-ops.ts setSecurityLabel). If the
  // host refuses it, the object is removed again (as the daemon) and the make fails with that
  // errno: nothing stays behind without the label the guest's LSM gave it.
  int Labelled();

  int Unmade(int err);

  // SETATTR's change (metaAttrJob): through the job's own dup, as the other ops.
  int Changed();

  // An xattr call on what fd is (metaXattrJob); out/outLen: Getxattr's and Listxattr's buffer.
  int Xattr();

  // A lock call (metaLockJob) on the leased fd; out holds the lock as its four numbers (checked
  // when posted).
  int Locked();

  int Syscalls();

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

}  // namespace vfsd
