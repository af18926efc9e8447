// Typed face of native/meta_jobs.cc: a metadata request's syscalls run on the worker pool as the
// caller, off the JS thread, and the result comes back to a callback on the JS thread.
//  - Lookup: openat(fd, name, O_PATH|O_NOFOLLOW) then statx of the new fd; result = the new fd
//    (the callback owns it) or -errno.
//  - Stat: statx of fd; result 0 or -errno.
//  - Reopen: opens what fd is with `flags` through fd2 = /proc/self/fd (as PassthroughFs.reopen
//    does inline); result = the new fd (the callback owns it) or -errno.
//  - Access: faccessat of what fd is through fd2 = /proc/self/fd, mask = `flags`, AT_EACCESS.
//  - Unlink: unlinkat(fd, name, flags) (UNLINK, RMDIR with AT_REMOVEDIR); result 0 or -errno.
//  - Rename: renameat2(fd, name, fd2, name2, flags) (name2: the last argument, this op's only);
//    result 0 or -errno.
// metaIntoJob (the daemon's credentials: none of these checks the caller's permission) writes
// into `out` on the worker, which the caller must neither read nor write until done runs (the
// job keeps it alive): result = the byte count or -errno, stat null.
//  - Getdents: getdents64(fd, out).
//  - Readlink: readlinkat(fd, "", out) (fd an O_PATH fd of the symlink).
//  - Statfs: fstatfs(fd) as sys.fstatfs's ten numbers (out: the bytes of a Float64Array(10)).
//  - OpenHandle: open_by_handle_at(fd = the mount's fd, out, O_PATH|O_CLOEXEC), out the input: a
//    struct file_handle (handle_bytes and its bytes inside out, else -EINVAL at the post); result
//    = the new fd (the callback owns it) or -errno.
// metaMakeJob (as the caller, under `umask`: each worker has its own, unshare(CLONE_FS)) makes
// `name` in the parent fd, opens what it made O_PATH|O_NOFOLLOW and statx'es it: result = that
// O_PATH fd (the callback owns it) or -errno, stat its statx. Returns 0 (nothing queued: the
// workers could not get their own umask) for the caller to run it inline.
//  - Mkdir: mkdirat(fd, name, mode). Mknod: mknodat(fd, name, mode, makedev(major, minor)).
//  - Symlink: symlinkat(target, fd, name).
//  - Create: openat(fd, name, openFlags, mode) (TMPFILE: name ".", openFlags with O_TMPFILE);
//    ioFd (the callback's last argument, owned by it) is that open file, and the O_PATH fd is
//    opened through fd2 = /proc/self/fd from it, so it is the very file the open made (a name
//    swapped on the host meanwhile cannot change it).
//  - Link: linkat(AT_FDCWD, "/proc/self/fd/<fd2>", fd, name, AT_SYMLINK_FOLLOW): fd2 is the
//    source (the magic link needs no CAP_DAC_READ_SEARCH, which AT_EMPTY_PATH would).
//  With labelName/labelValue (FUSE_SECURITY_CTX; not Link): the worker then sets that xattr on
//  what it made with the daemon's credentials (fsetxattr of Create's open file, else setxattr of
//  /proc/self/fd/<the O_PATH fd>); if the host refuses it, it unlinks the name again (as the
//  daemon) and the result is that -errno.
// metaAttrJob (as the caller, or the daemon with uid -1) makes one of SETATTR's changes to what
// fd is, through the job's dup: result 0 or -errno, stat null.
//  - Chmod: fchmodat(fd2 = /proc/self/fd, "<fd>", a, 0).
//  - Chown: fchownat(fd, "", a, b, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW); -1 leaves that id.
//  - Truncate: ftruncate(fd, a) with fd2 -1 (fd an open file); else truncate() of
//    /proc/self/fd/<fd> (fd2 = /proc/self/fd), which checks write permission as the caller.
//  - Utimens: utimensat(fd, "", {a, b}, {c, d}, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW).
// metaXattrJob (as the caller) makes one xattr call by the name /proc/self/fd/<dup> (an O_PATH fd
// carries none; the magic link resolves to exactly what it pins): result = the byte count (Get,
// List), 0 (Set, Remove) or -errno, stat null.
//  - Getxattr: getxattr(path, name, buf) (buf empty: the size only). Listxattr: into buf.
//    buf must be neither read nor written until done runs (the job keeps it alive).
//  - Setxattr: setxattr(path, name, buf, flags) (buf copied when posted). Removexattr.
// metaLockJob (the daemon's credentials: no lock call checks permission) on a lease of the
// engine's open file (not a dup, whose close would be a flush), so on its open file description
// and its OFD locks; `lock` is a
// Float64Array(4) [type, start, len, pid] (whence SEEK_SET), which the caller must neither read
// nor write until done runs: result 0 or -errno, stat null.
//  - GetLk: fcntl(F_OFD_GETLK), the answer written into `lock`. SetLk: fcntl(F_OFD_SETLK) (never
//    waits: a SETLKW retries, server/blocking-locks.ts). Flock: flock(fd, flags).
// stat (Lookup, Stat, the make ops): the raw struct statx (256 bytes, src/passthrough/host-stat.ts decodes it;
// asked with AT_SYMLINK_NOFOLLOW and STATX_BASIC_STATS | STATX_BTIME | STATX_MNT_ID), else null.
// micros: how long the syscalls took on the worker (the engine's measure of the source).
// The job works on its own dups of fd (and fd2), taken before metaJob returns: the engine may
// close its fds at once. uid -1: the daemon's credentials; else uid/gid with exactly `groups`
// (null: the supplementary groups stay the daemon's, where setgroups is denied).
// Returns 1 (queued: the callback runs later, once), -ENOSYS when no pool runs (the engine then
// does the work inline), or another -errno (nothing queued, the callback never runs).
import { addon } from './addon';

export const MetaOp = {
  Lookup: 1, Stat: 2, Reopen: 3, Access: 4, Getdents: 5, Readlink: 6, Statfs: 7, Unlink: 8, Rename: 9,
  Mkdir: 10, Mknod: 11, Symlink: 12, Create: 13, Chmod: 14, Chown: 15, Truncate: 16, Utimens: 17,
  Getxattr: 18, Listxattr: 19, Setxattr: 20, Removexattr: 21, Link: 22, GetLk: 23, SetLk: 24, Flock: 25,
  OpenHandle: 26,
} as const;

export type MetaDone = (result: number, stat: Buffer | null, micros: number, ioFd: number) => void;

export interface MetaJobsNative {
  metaJob(op: number, fd: number, fd2: number, name: Uint8Array | null, flags: number,
    uid: number, gid: number, groups: Uint32Array | null, done: MetaDone, name2?: Uint8Array): number;
  metaIntoJob(op: number, fd: number, out: Uint8Array, done: MetaDone): number;
  metaMakeJob(op: number, fd: number, fd2: number, name: Uint8Array, target: Uint8Array | null, mode: number,
    rdevMajor: number, rdevMinor: number, umask: number, openFlags: number,
    uid: number, gid: number, groups: Uint32Array | null, done: MetaDone,
    labelName?: Uint8Array | null, labelValue?: Uint8Array): number;
  metaAttrJob(op: number, fd: number, fd2: number, a: number, b: number, c: number, d: number,
    uid: number, gid: number, groups: Uint32Array | null, done: MetaDone): number;
  metaXattrJob(op: number, fd: number, name: Uint8Array | null, buf: Uint8Array | null, flags: number,
    uid: number, gid: number, groups: Uint32Array | null, done: MetaDone): number;
  metaLockJob(op: number, fd: number, lock: Float64Array, flags: number, done: MetaDone): number;
}

export const metaJobs: MetaJobsNative = addon as MetaJobsNative;
