// Thin wrappers of the file, directory, link, stat, handle, I/O, lock and mount syscalls Node
// lacks (contract: src/native/sys.ts). Each one parses its arguments (sys_args.h), makes exactly
// one syscall on the calling thread, and returns its result or -errno. Out buffers get the raw
// kernel structures; TypeScript decodes them. Every length handed to the kernel is bounded by the
// JS buffer it points into, so a bad length from a client becomes -EINVAL, never an overrun.
#include "fd_leases.h"
#include "flock_values.h"
#include "modules.h"
#include "sys_args.h"
#include "statfs_values.h"
#include "syscall_clock.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef SYS_faccessat2
#define SYS_faccessat2 439  // x86_64, Linux 5.8
#endif

namespace vfsd {
namespace {

constexpr size_t kStatxSize = 256;    // sizeof(struct statx) in linux/stat.h
constexpr unsigned kHandleBytes = 128;  // MAX_HANDLE_SZ
constexpr size_t kHandleHeader = 8;   // struct file_handle: u32 handle_bytes, i32 handle_type

// A struct file_handle with room for the largest handle, suitably aligned for the kernel ABI.
struct HandleBuf {
  alignas(8) unsigned char raw[kHandleHeader + kHandleBytes];
  file_handle* fh() { return reinterpret_cast<file_handle*>(raw); }
};

Napi::Value Statx(const Napi::CallbackInfo& info) {
  Args a(info, "statx", 5);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  int flags = a.Int(2);
  unsigned mask = a.Uint(3);
  Bytes out = a.U8(4, kStatxSize);
  if (!a.Ok()) return a.Bail();
  // The raw syscall: the kernel fills the caller's bytes directly (no glibc struct, no copy).
  SyscallTimer timed;
  return a.Ret(syscall(SYS_statx, dirfd, name.ptr, flags, mask, out.data));
}

Napi::Value Openat(const Napi::CallbackInfo& info) {
  Args a(info, "openat", 4);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  int flags = a.Int(2);
  unsigned mode = a.Uint(3);
  if (!a.Ok()) return a.Bail();
  // O_CLOEXEC always: no fd of ours may leak into a child process (e.g. a spawned helper).
  SyscallTimer timed;
  return a.Ret(openat(dirfd, name.ptr, flags | O_CLOEXEC, mode));
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Args a(info, "close", 1);
  int fd = a.Int(0);
  if (!a.Ok()) return a.Bail();
  return a.Ret(close(fd));
}

// closeFile(fd, onPool): an open file's fd the engine is done with (RELEASE, RELEASEDIR): closed
// when no pooled job leases it any more (fd_leases.h); onPool: the close itself runs on a worker.
Napi::Value CloseFile(const Napi::CallbackInfo& info) {
  Args a(info, "closeFile", 2);
  int fd = a.Int(0);
  bool onPool = a.Bool(1);
  if (!a.Ok()) return a.Bail();
  return a.Num(CloseWhenUnleased(fd, onPool));
}

Napi::Value LeasedFdsNow(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), LeasedFds());
}

Napi::Value Fchdir(const Napi::CallbackInfo& info) {
  Args a(info, "fchdir", 1);
  int fd = a.Int(0);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fchdir(fd));
}

Napi::Value NameToHandleAt(const Napi::CallbackInfo& info) {
  Args a(info, "nameToHandleAt", 4);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  int flags = a.Int(2);
  Bytes out = a.U8(3, kHandleHeader + kHandleBytes);
  if (!a.Ok()) return a.Bail();
  HandleBuf h;
  h.fh()->handle_bytes = kHandleBytes;
  // 64 bits, zeroed: with AT_HANDLE_MNT_ID_UNIQUE the kernel writes a u64 here instead of an
  // int; either way the little-endian value reads back right and nothing overflows.
  uint64_t mountId = 0;
  if (name_to_handle_at(dirfd, name.ptr, h.fh(), reinterpret_cast<int*>(&mountId), flags) < 0)
    return a.Num(-errno);
  unsigned bytes = h.fh()->handle_bytes;
  if (bytes > kHandleBytes) return a.Num(-EOVERFLOW);  // cannot happen; never copy past h
  memcpy(out.data, h.raw, kHandleHeader + bytes);
  return a.Num(static_cast<double>(flags & 0x001 /* AT_HANDLE_MNT_ID_UNIQUE */
                                       ? mountId
                                       : static_cast<uint32_t>(mountId)));
}

Napi::Value OpenByHandleAt(const Napi::CallbackInfo& info) {
  Args a(info, "openByHandleAt", 3);
  int mountFd = a.Int(0);
  Bytes handle = a.U8(1, kHandleHeader);
  int flags = a.Int(2);
  if (!a.Ok()) return a.Bail();
  // The handle comes back from a client (in a file handle or node id): trust none of its sizes.
  HandleBuf h;
  uint32_t bytes;
  memcpy(&bytes, handle.data, sizeof(bytes));
  if (bytes > kHandleBytes || kHandleHeader + bytes > handle.len) return a.Num(-EINVAL);
  memcpy(h.raw, handle.data, kHandleHeader + bytes);
  SyscallTimer timed;
  return a.Ret(open_by_handle_at(mountFd, h.fh(), flags | O_CLOEXEC));
}

// faccessat2 as a raw syscall: with AT_EACCESS the kernel checks the thread's fsuid/fsgid (the
// caller's, after setCreds); without it, the real uid (root). glibc's faccessat would emulate
// AT_EACCESS in user space with process-wide ids.
Napi::Value Faccessat(const Napi::CallbackInfo& info) {
  Args a(info, "faccessat", 4);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  int mode = a.Int(2);
  int flags = a.Int(3);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;
  return a.Ret(syscall(SYS_faccessat2, dirfd, name.ptr, mode, flags));
}

Napi::Value Mkdirat(const Napi::CallbackInfo& info) {
  Args a(info, "mkdirat", 3);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  unsigned mode = a.Uint(2);
  if (!a.Ok()) return a.Bail();
  return a.Ret(mkdirat(dirfd, name.ptr, mode));
}

Napi::Value Mknodat(const Napi::CallbackInfo& info) {
  Args a(info, "mknodat", 5);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  unsigned mode = a.Uint(2);
  unsigned major = a.Uint(3), minor = a.Uint(4);
  if (!a.Ok()) return a.Bail();
  return a.Ret(mknodat(dirfd, name.ptr, mode, makedev(major, minor)));
}

Napi::Value Symlinkat(const Napi::CallbackInfo& info) {
  Args a(info, "symlinkat", 3);
  NameBuf target, name;
  a.Name(0, target);
  int dirfd = a.Int(1);
  a.Name(2, name);
  if (!a.Ok()) return a.Bail();
  return a.Ret(symlinkat(target.ptr, dirfd, name.ptr));
}

Napi::Value Readlinkat(const Napi::CallbackInfo& info) {
  Args a(info, "readlinkat", 3);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  Bytes out = a.U8(2);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;
  return a.Ret(readlinkat(dirfd, name.ptr, reinterpret_cast<char*>(out.data), out.len));
}

Napi::Value Unlinkat(const Napi::CallbackInfo& info) {
  Args a(info, "unlinkat", 3);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  int flags = a.Int(2);
  if (!a.Ok()) return a.Bail();
  return a.Ret(unlinkat(dirfd, name.ptr, flags));
}

Napi::Value Renameat2(const Napi::CallbackInfo& info) {
  Args a(info, "renameat2", 5);
  int olddirfd = a.Int(0);
  NameBuf oldname, newname;
  a.Name(1, oldname);
  int newdirfd = a.Int(2);
  a.Name(3, newname);
  unsigned flags = a.Uint(4);
  if (!a.Ok()) return a.Bail();
  return a.Ret(syscall(SYS_renameat2, olddirfd, oldname.ptr, newdirfd, newname.ptr, flags));
}

Napi::Value Linkat(const Napi::CallbackInfo& info) {
  Args a(info, "linkat", 5);
  int olddirfd = a.Int(0);
  NameBuf oldname, newname;
  a.Name(1, oldname);
  int newdirfd = a.Int(2);
  a.Name(3, newname);
  int flags = a.Int(4);
  if (!a.Ok()) return a.Bail();
  return a.Ret(linkat(olddirfd, oldname.ptr, newdirfd, newname.ptr, flags));
}

Napi::Value Fchmodat(const Napi::CallbackInfo& info) {
  Args a(info, "fchmodat", 4);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  unsigned mode = a.Uint(2);
  int flags = a.Int(3);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fchmodat(dirfd, name.ptr, mode, flags));
}

Napi::Value Fchmod(const Napi::CallbackInfo& info) {
  Args a(info, "fchmod", 2);
  int fd = a.Int(0);
  unsigned mode = a.Uint(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fchmod(fd, mode));
}

Napi::Value Fchownat(const Napi::CallbackInfo& info) {
  Args a(info, "fchownat", 5);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  uid_t uid = a.Uint(2);
  gid_t gid = a.Uint(3);
  int flags = a.Int(4);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fchownat(dirfd, name.ptr, uid, gid, flags));
}

Napi::Value Utimensat(const Napi::CallbackInfo& info) {
  Args a(info, "utimensat", 7);
  int dirfd = a.Int(0);
  NameBuf name;
  a.Name(1, name);
  timespec ts[2];
  ts[0].tv_sec = a.Int64(2);
  ts[0].tv_nsec = a.Int64(3);
  ts[1].tv_sec = a.Int64(4);
  ts[1].tv_nsec = a.Int64(5);
  int flags = a.Int(6);
  if (!a.Ok()) return a.Bail();
  return a.Ret(syscall(SYS_utimensat, dirfd, name.ptr, ts, flags));
}

Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  Args a(info, "ftruncate", 2);
  int fd = a.Int(0);
  int64_t size = a.Int64(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(ftruncate(fd, size));
}

Napi::Value Truncate(const Napi::CallbackInfo& info) {
  Args a(info, "truncate", 2);
  NameBuf path;
  a.Name(0, path);
  int64_t size = a.Int64(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(truncate(path.ptr, size));
}

Napi::Value Fallocate(const Napi::CallbackInfo& info) {
  Args a(info, "fallocate", 4);
  int fd = a.Int(0);
  int mode = a.Int(1);
  int64_t offset = a.Int64(2), length = a.Int64(3);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fallocate(fd, mode, offset, length));
}

Napi::Value Lseek(const Napi::CallbackInfo& info) {
  Args a(info, "lseek", 3);
  int fd = a.Int(0);
  int64_t offset = a.Int64(1);
  int whence = a.Int(2);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;  // SEEK_DATA on NFS is a round trip (src/passthrough/off-loop.ts)
  return a.Ret(lseek(fd, offset, whence));
}

// A negative offset means "use and advance the fd's file position" (a NULL pointer to the kernel).
Napi::Value CopyFileRange(const Napi::CallbackInfo& info) {
  Args a(info, "copyFileRange", 6);
  int fdIn = a.Int(0);
  loff_t offIn = a.Int64(1);
  int fdOut = a.Int(2);
  loff_t offOut = a.Int64(3);
  int64_t length = a.Int64(4);
  unsigned flags = a.Uint(5);
  if (length < 0) a.Fail(EINVAL);
  if (!a.Ok()) return a.Bail();
  return a.Ret(copy_file_range(fdIn, offIn < 0 ? nullptr : &offIn, fdOut,
                               offOut < 0 ? nullptr : &offOut, static_cast<size_t>(length), flags));
}

Napi::Value Fsync(const Napi::CallbackInfo& info) {
  Args a(info, "fsync", 2);
  int fd = a.Int(0);
  bool datasync = a.Bool(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(datasync ? fdatasync(fd) : fsync(fd));
}

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Args a(info, "syncfs", 1);
  int fd = a.Int(0);
  if (!a.Ok()) return a.Bail();
  return a.Ret(syncfs(fd));
}

Napi::Value Fstatfs(const Napi::CallbackInfo& info) {
  Args a(info, "fstatfs", 2);
  int fd = a.Int(0);
  double* out = a.F64(1, 10);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;
  return a.Num(FstatfsValues(fd, out));
}

Napi::Value Getdents64(const Napi::CallbackInfo& info) {
  Args a(info, "getdents64", 2);
  int fd = a.Int(0);
  Bytes out = a.U8(1);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;
  return a.Ret(syscall(SYS_getdents64, fd, out.data, out.len));
}

// pread/pwrite: `length` comes from a client request; past the buffer it is -EINVAL.
Napi::Value Pread(const Napi::CallbackInfo& info) {
  Args a(info, "pread", 4);
  int fd = a.Int(0);
  Bytes out = a.U8(1);
  int64_t length = a.Int64(2), offset = a.Int64(3);
  if (length < 0 || static_cast<uint64_t>(length) > out.len) a.Fail(EINVAL);
  if (!a.Ok()) return a.Bail();
  return a.Ret(pread(fd, out.data, static_cast<size_t>(length), offset));
}

Napi::Value Pwrite(const Napi::CallbackInfo& info) {
  Args a(info, "pwrite", 4);
  int fd = a.Int(0);
  Bytes data = a.U8(1);
  int64_t length = a.Int64(2), offset = a.Int64(3);
  if (length < 0 || static_cast<uint64_t>(length) > data.len) a.Fail(EINVAL);
  if (!a.Ok()) return a.Bail();
  return a.Ret(pwrite(fd, data.data, static_cast<size_t>(length), offset));
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Args a(info, "flock", 2);
  int fd = a.Int(0);
  int op = a.Int(1);
  if (!a.Ok()) return a.Bail();
  SyscallTimer timed;  // a network filesystem's lock is a round trip (src/passthrough/off-loop.ts)
  return a.Ret(flock(fd, op));
}

// lock = [type, start, len, pid] in and out; whence is always SEEK_SET. For the F_OFD_* commands
// the kernel wants pid 0 on input (EINVAL otherwise): that is the caller's to pass.
Napi::Value FcntlLock(const Napi::CallbackInfo& info) {
  Args a(info, "fcntlLock", 3);
  int fd = a.Int(0);
  int cmd = a.Int(1);
  double* lock = a.F64(2, kFlockValues);
  if (!a.Ok()) return a.Bail();
  struct flock fl;
  if (!FlockFromValues(lock, &fl)) return a.Num(-EINVAL);
  int r;
  {
    SyscallTimer timed;
    r = fcntl(fd, cmd, &fl);
  }
  if (r < 0) return a.Num(-errno);
  FlockToValues(fl, lock);
  return a.Num(r);
}

Napi::Value FcntlInt(const Napi::CallbackInfo& info) {
  Args a(info, "fcntlInt", 3);
  int fd = a.Int(0);
  int cmd = a.Int(1);
  int arg = a.Int(2);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fcntl(fd, cmd, arg));
}

// The copy is close-on-exec, like every fd openat gives out.
Napi::Value Dup(const Napi::CallbackInfo& info) {
  Args a(info, "dup", 1);
  int fd = a.Int(0);
  if (!a.Ok()) return a.Bail();
  return a.Ret(fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

Napi::Value Umask(const Napi::CallbackInfo& info) {
  Args a(info, "umask", 1);
  unsigned mask = a.Uint(0);
  if (!a.Ok()) return a.Bail();
  return a.Num(umask(mask & 0777));
}

// source, fstype and data may also be null (NULL to the kernel, e.g. for remounts and binds).
Napi::Value Mount(const Napi::CallbackInfo& info) {
  Args a(info, "mount", 5);
  NameBuf source, target, fstype, data;
  a.Name(0, source, true);
  a.Name(1, target);
  a.Name(2, fstype, true);
  int64_t flags = a.Int64(3);
  a.Name(4, data, true);
  if (!a.Ok()) return a.Bail();
  return a.Ret(mount(source.ptr, target.ptr, fstype.ptr, static_cast<unsigned long>(flags), data.ptr));
}

Napi::Value Umount2(const Napi::CallbackInfo& info) {
  Args a(info, "umount2", 2);
  NameBuf target;
  a.Name(0, target);
  int flags = a.Int(1);
  if (!a.Ok()) return a.Bail();
  return a.Ret(umount2(target.ptr, flags));
}

// syscallClock(): a Float64Array over the one double the SyscallTimers write (syscall_clock.h).
Napi::Value SyscallClock(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buf = Napi::ArrayBuffer::New(info.Env(), SlowestSyscallNs(), sizeof(double));
  return Napi::Float64Array::New(info.Env(), 1, buf, 0);
}

}  // namespace

double* SlowestSyscallNs() {
  static double slowest = 0;
  return &slowest;
}

void InitSysFiles(Napi::Env env, Napi::Object exports) {
  struct Fn { const char* name; Napi::Value (*fn)(const Napi::CallbackInfo&); };
  static const Fn fns[] = {
      {"statx", Statx}, {"openat", Openat}, {"close", Close}, {"closeFile", CloseFile}, {"leasedFds", LeasedFdsNow}, {"fchdir", Fchdir},
      {"nameToHandleAt", NameToHandleAt}, {"openByHandleAt", OpenByHandleAt},
      {"faccessat", Faccessat}, {"syscallClock", SyscallClock},
      {"mkdirat", Mkdirat}, {"mknodat", Mknodat}, {"symlinkat", Symlinkat},
      {"readlinkat", Readlinkat}, {"unlinkat", Unlinkat}, {"renameat2", Renameat2},
      {"linkat", Linkat}, {"fchmodat", Fchmodat}, {"fchmod", Fchmod}, {"fchownat", Fchownat},
      {"utimensat", Utimensat}, {"ftruncate", Ftruncate}, {"truncate", Truncate},
      {"fallocate", Fallocate}, {"lseek", Lseek}, {"copyFileRange", CopyFileRange},
      {"fsync", Fsync}, {"syncfs", Syncfs}, {"fstatfs", Fstatfs}, {"getdents64", Getdents64},
      {"pread", Pread}, {"pwrite", Pwrite}, {"flock", Flock}, {"fcntlLock", FcntlLock},
      {"fcntlInt", FcntlInt}, {"dup", Dup}, {"umask", Umask}, {"mount", Mount},
      {"umount2", Umount2},
  };
  for (const Fn& f : fns) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace vfsd
