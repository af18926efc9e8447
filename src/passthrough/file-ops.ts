// Operations on open files: OPEN, READ, WRITE, FLUSH, RELEASE, FSYNC, FALLOCATE, LSEEK,
// COPY_FILE_RANGE, SYNCFS. READ and WRITE only resolve the handle and choose where they run here:
// the bytes move natively between the file and the transport's buffers (see server/dispatch),
// never through JS. What may block (FSYNC, FSYNCDIR, FALLOCATE, SYNCFS, COPY_FILE_RANGE, FLUSH)
// becomes a FileJob the transport runs on its worker pool (src/native/channel.ts).
import { C, sys } from '../native/sys';
import { DataPath, FileOp } from '../native/channel';
import { Errno } from '../protocol/errno';
import { Fopen } from '../protocol/flags';
import type { PassthroughFs } from './passthrough-fs';
import type { Inode } from './inode';
import { isDir, isReg } from './host-stat';
import { endIoMode, startIoMode } from './io-modes';
import type { FileHandle } from './handles';
import { releaseLockFds, releaseOwnerLocks } from './lock-fds';
import { closeHandleFd, closeInline, fsTypeIn } from './close-waits';

/** The most one read/write/copy syscall moves (INT_MAX rounded down to a page, as in Linux). */
const MAX_RW_COUNT = 0x7ffff000;

/** Offsets and lengths arrive as 64-bit fields; past 2^53 a JS number is no longer exact (and
 *  2^63-1 rounds up to 2^63, outside the native int64 arguments): such values are refused. */
export const exact = (...v: number[]): boolean => v.every((x) => Number.isSafeInteger(x));

import type { FileJob, Later, OpenReply as OpenResult } from '../server/file-system';
import { reopenOnPool } from './pool-ops';
export type { FileJob, OpenResult };

/** Flags the client may not pass through: creation is CREATE's job, and a controlling tty or
 *  following a symlink are never wanted on the host side. O_PATH (never sent by a kernel) would
 *  make a "handle" that cannot do I/O and, on CREATE, open an existing FIFO or device node
 *  without creating anything (O_PATH ignores O_CREAT|O_EXCL); lock-ops later reopens a handle's
 *  fd with real access flags, which would then open that FIFO (blocking the server) or device. */
export const STRIP = C.O_CREAT | C.O_EXCL | C.O_NOCTTY | C.O_NOFOLLOW | C.O_PATH;

/**
 * The flags a client's open (or create) is made with on the host, as virtiofsd adjusts them:
 *  - O_DIRECT only with --allow-direct-io: the host's O_DIRECT wants aligned buffers and
 *    offsets the client's requests need not have (the client's page cache is bypassed anyway);
 *  - under FUSE_WRITEBACK_CACHE the kernel reads pages of files opened write-only (to fill
 *    partial pages) and does O_APPEND itself at the size it caches: the host file is opened
 *    read-write, and without O_APPEND, which would move every write to the host's end of file.
 */
export function hostOpenFlags(fs: PassthroughFs, flags: number): number {
  if (!fs.config.allowDirectIo) flags &= ~C.O_DIRECT;
  if (fs.writeback) {
    if ((flags & C.O_ACCMODE) === C.O_WRONLY) flags = (flags & ~C.O_ACCMODE) | C.O_RDWR;
    flags &= ~C.O_APPEND;
  }
  return flags;
}

export function openFileHandle(fs: PassthroughFs, inode: Inode, fd: number, flags: number): OpenResult {
  const h: FileHandle = {
    kind: 'file', fd, inode, flags, backingId: -1, lockFds: null,
    readPath: DataPath.TryInline, writePath: (flags & SYNC_WRITES) !== 0 ? DataPath.Pool : DataPath.TryInline,
  };
  const fh = fs.handles.add(h);
  let openFlags = 0;
  if (fs.config.cache === 'never' || fs.config.cache === 'metadata') openFlags |= Fopen.DIRECT_IO;
  else if (fs.config.cache === 'always') openFlags |= Fopen.KEEP_CACHE;
  if (fs.backing && startIoMode(fs.backing, h)) {
    // Passthrough allows no other open flag than DIRECT_IO, PARALLEL_DIRECT_WRITES and NOFLUSH
    // (Fopen.PASSTHROUGH_MASK): with --cache always's KEEP_CACHE every open() failed with EIO.
    // There is no page cache of ours to keep: I/O goes to the backing file's. DIRECT_IO goes too,
    // because the kernel lets it override PASSTHROUGH (every READ and WRITE would still come to
    // us). --cache never|metadata loses nothing by it: a passthrough file has no page cache in
    // the client, every read and write goes straight to the host file's.
    openFlags = (openFlags & ~(Fopen.KEEP_CACHE | Fopen.DIRECT_IO)) | Fopen.PASSTHROUGH;
  }
  return { fh, openFlags, backingId: h.backingId };
}

/** OPEN. On a mount whose syscalls are slow (off-loop.ts) the reopen runs on the pool. */
export function open(fs: PassthroughFs, nodeid: number, flags: number): Later<OpenResult | number> {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  // Never open special files on the host (CVE-2020-35517): a FIFO would block the server, a device
  // node would hand the guest a host device. The kernel client never asks; a hostile one might.
  if (isDir(inode.mode)) return -Errno.EISDIR;
  if (!isReg(inode.mode)) return -Errno.EACCES;
  // O_NOATIME is refused (EPERM) to anyone but the file's owner: stripped unless
  // --preserve-noatime, as virtiofsd does, so an open never fails for a flag about atimes.
  const strip = fs.config.preserveNoatime ? STRIP : STRIP | C.O_NOATIME;
  const hostFlags = (hostOpenFlags(fs, flags) & ~strip) | C.O_CLOEXEC;
  const opened = (now: Inode, fd: number) => openedAs(fs, now, flags, hostFlags, fd);
  const mnt = inode.mntId;
  if (fs.offLoop.wants(mnt)) {
    const later = reopenOnPool(fs, inode, hostFlags, false, opened);
    if (later) return later;
  }
  return opened(inode, fs.offLoop.timed(mnt, () => fs.reopen(inode, hostFlags)));
}

/** OPEN after the reopen as the caller gave fd (or -errno). */
function openedAs(fs: PassthroughFs, inode: Inode, flags: number, hostFlags: number, fd: number): OpenResult | number {
  if (fd === -Errno.EACCES && isExecOpen(flags) && mayExec(fs, inode)) {
    // execve() of a file its caller may execute but not read (0711): natively the kernel opens it
    // for exec with the execute right alone. Here the kernel (default_permissions) has checked
    // that right and asks us to open for reading: we do, with our rights. The fd serves only the
    // kernel's exec; no user gets a descriptor of it.
    fd = fs.creds.privileged(() => fs.reopen(inode, hostFlags));
  }
  if (fd < 0) return fd;
  return openFileHandle(fs, inode, fd, flags);
}

/** __FMODE_EXEC: the kernel's open for execve (f_flags, passed on in OPEN), read-only. */
const FMODE_EXEC = 0x20;
const X_OK = 1;
const isExecOpen = (flags: number) => (flags & FMODE_EXEC) !== 0 && (flags & C.O_ACCMODE) === C.O_RDONLY && !(flags & C.O_TRUNC);

function mayExec(fs: PassthroughFs, inode: Inode): boolean {
  return fs.withFd(inode, (fd) => sys.faccessat(fs.procSelfFd, fs.procName(fd), X_OK, C.AT_EACCESS)) === 0;
}

/** The fd to read from or write to for a handle, or -EBADF for an unknown one. */
export function ioFd(fs: PassthroughFs, fh: number): number {
  const h = fs.handles.file(fh);
  return h ? h.fd : -Errno.EBADF;
}

/** Writes this large go to the worker pool whatever the file: a page-cache copy of 64 KiB and
 *  more (and the dirty-page throttling a stream of them meets) is long enough to stall every
 *  other client, and a thread hand-off (5-85 µs here) is small beside it. Smaller writes stay
 *  on the loop when the file cannot say whether they would block (ext4 has no RWF_NOWAIT for
 *  buffered writes): a 4 KiB page-cache copy costs less than the hand-off. */
export const POOL_WRITE_MIN = 64 * 1024;
/** Handles whose every write waits for the device. */
const SYNC_WRITES = C.O_SYNC | C.O_DSYNC | C.O_DIRECT;
/** Filesystems in memory: a read never waits for a device (statfs f_type). */
const MEMORY_FS = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */]);

export function writePath(h: FileHandle, size: number): number {
  return size >= POOL_WRITE_MIN ? DataPath.Pool : h.writePath;
}

/** The transport answered NoWaitUnsupported: the file has no RWF_NOWAIT. Reads from memory
 *  stay inline; other reads go to the pool (a network or FUSE file may take long). Small
 *  writes stay inline (see POOL_WRITE_MIN). */
export function noNoWait(h: FileHandle, write: boolean): void {
  if (write) {
    h.writePath = DataPath.Inline;
    return;
  }
  h.readPath = fsTypeIn(h.inode, h.fd, MEMORY_FS) ? DataPath.Inline : DataPath.Pool;
}


const job = (op: number, fd: number, a = 0, b = 0, c = 0, fd2 = -1, owned = false): FileJob => ({ op, fd, fd2, a, b, c, owned });

/** The job is posted (or refused): the engine's own fd, if opened for it, is no longer needed. */
export function jobPosted(j: FileJob): void {
  // The job leases it (native/fd_leases.h): closed when the job is done, on its worker.
  if (j.owned) sys.closeFile(j.fd, true);
}

export function flush(fs: PassthroughFs, fh: number, lockOwner: string | null): FileJob | number {
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  // close(dup(fd)) is what a close() on the client's side would do to the host file: it reports
  // deferred write errors (NFS-style, and may wait for them: so it is a job) and drops classic
  // POSIX locks.
  if (lockOwner !== null) releaseOwnerLocks(h, lockOwner);
  // Where a close never waits, it has nothing to report either (no flush method, no deferred
  // write errors) and drops nothing of ours (our POSIX locks are OFD locks, released above):
  // the close(dup) would be two syscalls for nothing.
  if (closeInline(h, fs.offLoop.wants(h.inode.mntId))) return 0;
  return job(FileOp.Flush, h.fd);
}

export function release(fs: PassthroughFs, fh: number): number {
  // Only a file's fh: a directory's fh sent to RELEASE must stay in the table (removing it
  // without closing its fd would leak the fd).
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  fs.handles.remove(fh);
  releaseLockFds(h, null);
  endIoMode(h);
  return closeHandleFd(h, fs.offLoop.wants(h.inode.mntId));
}

export function fsync(fs: PassthroughFs, nodeid: number, fh: number, datasync: boolean): FileJob | number {
  const h = fs.handles.file(fh);
  if (h) return job(FileOp.Fsync, h.fd, datasync ? 1 : 0);
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const fd = fs.reopen(inode, C.O_RDONLY | C.O_CLOEXEC);
  if (fd < 0) return fd;
  return job(FileOp.Fsync, fd, datasync ? 1 : 0, 0, 0, -1, true);
}

export function fsyncdir(fs: PassthroughFs, fh: number, datasync: boolean): FileJob | number {
  const h = fs.handles.dir(fh);
  return h ? job(FileOp.Fsync, h.fd, datasync ? 1 : 0) : -Errno.EBADF;
}

export function fallocate(fs: PassthroughFs, fh: number, mode: number, offset: number, length: number): FileJob | number {
  const fd = ioFd(fs, fh);
  if (fd < 0) return fd;
  return exact(offset, length) ? job(FileOp.Fallocate, fd, mode, offset, length) : -Errno.EINVAL;
}

/** LSEEK (the kernel sends only SEEK_DATA and SEEK_HOLE): on a slow mount a job (NFS asks its
 *  server), else inline, timed. */
export function lseek(fs: PassthroughFs, fh: number, offset: number, whence: number): FileJob | number {
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  const fd = h.fd;
  if (whence !== C.SEEK_DATA && whence !== C.SEEK_HOLE && whence > C.SEEK_END) return -Errno.EINVAL;
  if (!exact(offset)) return -Errno.EINVAL;
  if (fs.offLoop.wants(h.inode.mntId)) return job(FileOp.Lseek, fd, offset, whence);
  return fs.offLoop.timed(h.inode.mntId, () => sys.lseek(fd, offset, whence));
}

export function copyFileRange(fs: PassthroughFs, fhIn: number, offIn: number, fhOut: number, offOut: number, len: number, flags: number, wide: boolean): FileJob | number {
  const fin = ioFd(fs, fhIn);
  if (fin < 0) return fin;
  const fout = ioFd(fs, fhOut);
  if (fout < 0) return fout;
  if (!exact(offIn, offOut)) return -Errno.EINVAL;
  // The kernel defines no flags (it refuses any with EINVAL): neither does the job.
  if (flags !== 0) return -Errno.EINVAL;
  // len is the caller's size_t: up to 2^64-1, more than the native int64 argument holds. The host
  // kernel copies at most MAX_RW_COUNT per call anyway (a short count, which the client handles).
  return job(wide ? FileOp.CopyRange64 : FileOp.CopyRange, fin, offIn, offOut, Math.min(len, MAX_RW_COUNT), fout);
}

/** SYNCFS: sync the filesystem the inode is on (syncfs needs a real fd, not O_PATH). */
export function syncfs(fs: PassthroughFs, nodeid: number): FileJob | number {
  const inode = fs.known(nodeid);
  if (typeof inode === 'number') return inode;
  const fd = fs.reopen(inode, C.O_RDONLY | C.O_CLOEXEC | (isDir(inode.mode) ? C.O_DIRECTORY : 0));
  if (fd < 0) return fd;
  return job(FileOp.Syncfs, fd, 0, 0, 0, -1, true);
}
