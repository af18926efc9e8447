// The syscalls Node lacks, as the addon exposes them (native/sys_*.cc). Contract:
// - every function returns a number: >= 0 on success, -errno on failure. Nothing throws on an
//   errno; a wrong argument type throws TypeError (a programming error, not a runtime one).
// - a Name is either a JS string (UTF-8) or raw bytes (Uint8Array, no NUL): file names from the
//   client are bytes and must never pass through a JS string. Names must not contain NUL; the
//   native side answers -EINVAL if they do, and -ENAMETOOLONG past PATH_MAX.
// - 64-bit sizes and offsets are JS numbers (exact up to 2^53, i.e. 8 PiB).
// - "out" buffers receive raw kernel structures (documented per function) so the native side
//   stays a thin wrapper and TypeScript decodes what it needs.
import { addon } from './addon';
import { errnoName } from '../log/errno-name';

export type Name = string | Uint8Array;
export const AT_FDCWD = -100;

/** The result of a call that must succeed: rc itself, or thrown as `${what}: ENOENT`. */
export function must(rc: number, what: string, Failure: new (message: string) => Error = Error): number {
  if (rc < 0) throw new Failure(`${what}: ${errnoName(-rc)}`);
  return rc;
}

export interface NativeSys {
  /** statx(2). out (>= 256 bytes) receives the raw `struct statx` of linux/stat.h. */
  statx(dirfd: number, name: Name, flags: number, mask: number, out: Uint8Array): number;
  /** openat(2); returns the fd (always O_CLOEXEC added). */
  openat(dirfd: number, name: Name, flags: number, mode: number): number;
  close(fd: number): number;
  /** An open file's fd the engine is done with (RELEASE): closed once no pooled job leases it
   *  (native/fd_leases.h); onPool: the close runs on a worker (its filesystem may wait in it). */
  closeFile(fd: number, onPool: boolean): number;
  /** fds leased by pooled jobs right now (tests) */
  leasedFds(): number;
  /** fchdir(2): the process's (every thread's) working directory becomes fd's directory. */
  fchdir(fd: number): number;
  /** name_to_handle_at(2). out (>= 8 + 128 bytes) receives `struct file_handle` (u32 handle_bytes,
   *  i32 handle_type, bytes). Returns the mount id (>= 0) or -errno. */
  nameToHandleAt(dirfd: number, name: Name, flags: number, out: Uint8Array): number;
  /** open_by_handle_at(2); handle is a `struct file_handle` as nameToHandleAt wrote it. */
  openByHandleAt(mountFd: number, handle: Uint8Array, flags: number): number;
  /** faccessat2(2) (raw syscall, so AT_EACCESS checks the thread's fs ids). */
  faccessat(dirfd: number, name: Name, mode: number, flags: number): number;
  /** One element: the slowest of statx, openat, faccessat and openByHandleAt (the syscall
   *  alone, in ns) since it was last set to 0 (native/syscall_clock.h). JS thread only. */
  syscallClock(): Float64Array;
  mkdirat(dirfd: number, name: Name, mode: number): number;
  /** mknodat(2) with rdev = makedev(major, minor). */
  mknodat(dirfd: number, name: Name, mode: number, major: number, minor: number): number;
  symlinkat(target: Name, dirfd: number, name: Name): number;
  /** readlinkat(2) into out; returns the length (not NUL-terminated). */
  readlinkat(dirfd: number, name: Name, out: Uint8Array): number;
  unlinkat(dirfd: number, name: Name, flags: number): number;
  renameat2(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number): number;
  linkat(olddirfd: number, oldname: Name, newdirfd: number, newname: Name, flags: number): number;
  /** fchmodat(2) (flags 0: follows; use it on "/proc/self/fd/N" relative to procSelfFd). */
  fchmodat(dirfd: number, name: Name, mode: number, flags: number): number;
  fchmod(fd: number, mode: number): number;
  /** fchownat(2); uid/gid -1 (as 0xffffffff or -1) leaves that one unchanged. */
  fchownat(dirfd: number, name: Name, uid: number, gid: number, flags: number): number;
  /** utimensat(2); nsec may be UTIME_NOW or UTIME_OMIT (see constants). */
  utimensat(dirfd: number, name: Name, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number, flags: number): number;
  ftruncate(fd: number, size: number): number;
  /** truncate(2) by path (used with "/proc/self/fd/N" for O_PATH fds). */
  truncate(path: Name, size: number): number;
  fallocate(fd: number, mode: number, offset: number, length: number): number;
  /** lseek(2); returns the new offset or -errno (-ENXIO past the last data/hole). */
  lseek(fd: number, offset: number, whence: number): number;
  copyFileRange(fdIn: number, offIn: number, fdOut: number, offOut: number, length: number, flags: number): number;
  fsync(fd: number, datasync: boolean): number;
  syncfs(fd: number): number;
  /** fstatfs(2); out (Float64Array >= 10) = [bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, type, flags]. */
  fstatfs(fd: number, out: Float64Array): number;
  /** getdents64(2) into out; returns bytes filled (raw `struct linux_dirent64` records). */
  getdents64(fd: number, out: Uint8Array): number;
  pread(fd: number, out: Uint8Array, length: number, offset: number): number;
  pwrite(fd: number, data: Uint8Array, length: number, offset: number): number;
  flock(fd: number, operation: number): number;
  /** fcntl(2) lock commands (F_OFD_GETLK/F_OFD_SETLK/F_OFD_SETLKW/F_GETLK/F_SETLK...).
   *  lock (Float64Array >= 4) = [type, start, len, pid] in/out (whence is always SEEK_SET). */
  fcntlLock(fd: number, cmd: number, lock: Float64Array): number;
  /** fcntl(F_SETFL/F_GETFL) and friends with an int argument. */
  fcntlInt(fd: number, cmd: number, arg: number): number;
  dup(fd: number): number;
  /** umask(2); returns the old mask. */
  umask(mask: number): number;
  mount(source: Name, target: Name, fstype: string, flags: number, data: string): number;
  umount2(target: Name, flags: number): number;

  // xattrs: by path (use "/proc/self/fd/N" for an O_PATH fd), never following the last symlink
  // when nofollow is true.
  getxattr(path: Name, name: Name, out: Uint8Array, nofollow: boolean): number;
  setxattr(path: Name, name: Name, value: Uint8Array, flags: number, nofollow: boolean): number;
  listxattr(path: Name, out: Uint8Array, nofollow: boolean): number;
  removexattr(path: Name, name: Name, nofollow: boolean): number;
  fgetxattr(fd: number, name: Name, out: Uint8Array): number;
  fsetxattr(fd: number, name: Name, value: Uint8Array, flags: number): number;
  flistxattr(fd: number, out: Uint8Array): number;
  fremovexattr(fd: number, name: Name): number;

  /** getrlimit(2): [soft, hard], -1 for unlimited; or -errno. */
  getrlimit(resource: number): number[] | number;
  /** setrlimit(2); -1 for unlimited. */
  setrlimit(resource: number, soft: number, hard: number): number;

  /** Switch the calling thread's fsuid, fsgid and supplementary groups (raw per-thread
   *  syscalls, not glibc's process-wide broadcast). groups null: leave groups as they are. */
  setCreds(uid: number, gid: number, groups: Uint32Array | null): number;
  /** Back to the thread's real credentials (fsuid/fsgid 0 for root, groups as at start). */
  resetCreds(): number;
  /** Drop or keep effective capabilities of this thread: capset by bit mask (lo, hi 32 bits). */
  getCaps(): number[]; // [effLo, effHi, permLo, permHi]
  setCaps(effLo: number, effHi: number, permLo: number, permHi: number): number;
}

// A copy, not the addon's exports object itself: that one is in V8's dictionary mode (55
// properties defined one by one by the addon), so every `sys.x(...)` call site was a generic
// property lookup (LoadIC) — measured as a third of the instructions of a GETATTR. The spread
// copy is a plain object with fast properties, whose loads the JIT turns into field loads.
export const sys: NativeSys = { ...addon } as NativeSys;

// Linux x86_64 constants the wrappers need (fcntl.h, linux/stat.h, linux/fs.h).
export const C = {
  O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_ACCMODE: 3, O_CREAT: 0o100, O_EXCL: 0o200, O_NOCTTY: 0o400,
  O_TRUNC: 0o1000, O_APPEND: 0o2000, O_NONBLOCK: 0o4000, O_DSYNC: 0o10000, O_DIRECT: 0o40000,
  O_LARGEFILE: 0o100000, O_DIRECTORY: 0o200000, O_NOFOLLOW: 0o400000, O_NOATIME: 0o1000000,
  O_CLOEXEC: 0o2000000, O_SYNC: 0o4010000, O_PATH: 0o10000000, O_TMPFILE: 0o20200000,
  AT_SYMLINK_NOFOLLOW: 0x100, AT_REMOVEDIR: 0x200, AT_SYMLINK_FOLLOW: 0x400, AT_NO_AUTOMOUNT: 0x800,
  AT_EMPTY_PATH: 0x1000, AT_EACCESS: 0x200, AT_STATX_SYNC_AS_STAT: 0, AT_STATX_DONT_SYNC: 0x4000,
  STATX_NLINK: 0x4, STATX_BLOCKS: 0x400, STATX_BASIC_STATS: 0x7ff, STATX_BTIME: 0x800, STATX_MNT_ID: 0x1000,
  RENAME_NOREPLACE: 1, RENAME_EXCHANGE: 2, RENAME_WHITEOUT: 4,
  UTIME_NOW: (1 << 30) - 1, UTIME_OMIT: (1 << 30) - 2,
  SEEK_SET: 0, SEEK_CUR: 1, SEEK_END: 2, SEEK_DATA: 3, SEEK_HOLE: 4,
  F_GETFL: 3, F_SETFL: 4, F_GETLK: 5, F_SETLK: 6, F_SETLKW: 7, F_OFD_GETLK: 36, F_OFD_SETLK: 37, F_OFD_SETLKW: 38,
  F_RDLCK: 0, F_WRLCK: 1, F_UNLCK: 2,
  LOCK_SH: 1, LOCK_EX: 2, LOCK_NB: 4, LOCK_UN: 8,
  XATTR_CREATE: 1, XATTR_REPLACE: 2,
  S_IFMT: 0o170000, S_IFSOCK: 0o140000, S_IFLNK: 0o120000, S_IFREG: 0o100000, S_IFBLK: 0o60000,
  S_IFDIR: 0o40000, S_IFCHR: 0o20000, S_IFIFO: 0o10000, S_ISUID: 0o4000, S_ISGID: 0o2000,
  RLIMIT_NOFILE: 7,
  MS_RDONLY: 1, MS_NOSUID: 2, MS_NODEV: 4, MS_BIND: 4096, MNT_DETACH: 2, MNT_FORCE: 1,
} as const;
