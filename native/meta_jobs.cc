// The metadata jobs' N-API posts (see meta_jobs.h; contract: src/native/meta-jobs.ts): each
// checks its arguments on the loop thread — a malformed post is -EINVAL and queues nothing —,
// takes its own dups of the engine's fds (a lock job leases the open file's instead:
// fd_leases.h), so the engine may close its fds at once (a FORGET, the fd budget) and a reused
// fd number never reaches a worker, and queues one MetaJob (meta_job.h) on the pool.
#include "meta_jobs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <memory>

#include "fd_leases.h"
#include "flock_values.h"
#include "meta_job.h"
#include "statfs_values.h"
#include "sys_args.h"
#include "worker_pool.h"

namespace vfsd {
namespace {

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
