// GETLK, SETLK, SETLKW: POSIX record locks and flock. POSIX locks belong to a lock owner (a process
// on the client side), not to an open file, so each (handle, owner) gets its own open file
// description and the host's OFD locks on it: two owners sharing one handle conflict as they would
// natively, and closing the owner's description releases exactly its locks. flock locks belong to
// the open file, so they go on the handle's own fd.
//
// On a mount whose syscalls are slow (off-loop.ts: a network filesystem, where every lock call
// is a round trip to its server) the lock calls run on the worker pool, on a lease of the fd
// (native/meta_jobs.cc metaLockJob), and so does the open of an owner's description (as the
// caller, as inline). What may happen meanwhile:
//  - Two requests of one owner on one handle, its description not open yet: the second waits for
//    the first's open (`opening`), so an owner never gets two descriptions, whose locks would
//    conflict with each other.
//  - The handle is released (RELEASE, the session ending) while its description opens: the new
//    fd is closed and the request answers EBADF. While a lock call runs: the lease keeps the fd
//    (and so the open file) until the call returns; a lock it took goes with the open file's
//    last close, as a lock taken on an fd being closed does natively.
//  - Many new owners at once (a hostile guest): each description being opened counts against
//    lock-fds.ts MAX_LOCK_FDS from its post, so the opens in flight cannot pass the cap.
//  - A SETLKW interrupted while an attempt runs: server/blocking-locks.ts.
import { C, sys } from '../native/sys';
import { metaJobs, MetaOp } from '../native/meta-jobs';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import type { FileHandle } from './handles';
import { addLockFd, lockFdOpening, lockFdsFull } from './lock-fds';
import { onPool, reopenOnPool } from './pool-ops';

import type { FileLock, Later } from '../server/file-system';
export type { FileLock };

const OFFSET_MAX = 2 ** 63 - 1;
const lockBuf = new Float64Array(4);

/** Per handle, the owners whose description opens on the pool now: what that open settles to. */
const opening = new WeakMap<FileHandle, Map<string, Promise<number>>>();

/** The owner's lock description on h, opened for its first lock (-ENOLCK past the cap); on a slow
 *  mount a Promise of it. */
function ownerFd(fs: PassthroughFs, fh: number, h: FileHandle, owner: string): Later<number> {
  const known = h.lockFds?.get(owner);
  if (known !== undefined) return known;
  const pending = opening.get(h)?.get(owner);
  if (pending) return pending;
  if (lockFdsFull()) return -Errno.ENOLCK;
  const flags = (h.flags & C.O_ACCMODE) | C.O_CLOEXEC;
  const later = fs.offLoop.wants(h.inode.mntId) ? openOnPool(fs, fh, h, owner, flags) : null;
  if (later) return later;
  const fd = fs.offLoop.timed(h.inode.mntId, () => sys.openat(fs.procSelfFd, fs.procName(h.fd), flags, 0));
  if (fd >= 0) addLockFd(h, owner, fd);
  return fd;
}

function openOnPool(fs: PassthroughFs, fh: number, h: FileHandle, owner: string, flags: number): Promise<number> | null {
  const p = reopenOnPool(fs, h.inode, flags, false, (_inode, fd) => {
    if (fd < 0) return fd;
    if (fs.handles.file(fh) !== h) {
      sys.closeFile(fd, true);
      return -Errno.EBADF;
    }
    addLockFd(h, owner, fd);
    return fd;
  });
  if (!p) return null;
  let mine = opening.get(h);
  if (!mine) opening.set(h, mine = new Map());
  mine.set(owner, p);
  lockFdOpening(1);
  const done = (): void => {
    lockFdOpening(-1);
    mine.delete(owner);
    if (mine.size === 0) opening.delete(h);
  };
  p.then(done, done);
  return p;
}

/** fd's lock call on the pool when h's mount is slow, else null. The job reads (GetLk: writes)
 *  `lock` on the worker: the shared lockBuf is copied for it. */
function lockOnPool(fs: PassthroughFs, h: FileHandle, op: number, fd: number, lock: Float64Array, flags: number): Promise<number> | null {
  if (!fs.offLoop.wants(h.inode.mntId)) return null;
  const own = lock === lockBuf ? lockBuf.slice() : lock;
  return onPool(fs, h.inode.mntId, (done) => metaJobs.metaLockJob(op, fd, own, flags, done), (r) => r);
}

function toFlock(l: FileLock, into: Float64Array): Float64Array {
  into[0] = l.type;
  into[1] = l.start;
  into[2] = l.end >= OFFSET_MAX ? 0 : l.end - l.start + 1;
  into[3] = 0;
  return into;
}

function fromFlock(b: Float64Array): FileLock {
  const len = b[2];
  return { type: b[0], start: b[1], end: len === 0 ? OFFSET_MAX : b[1] + len - 1, pid: b[3] > 0 ? b[3] : 0 };
}

export function getlk(fs: PassthroughFs, fh: number, owner: string, l: FileLock): Later<FileLock | number> {
  if (!fs.config.posixLocks) return -Errno.ENOSYS;
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  if (l.end < l.start) return -Errno.EINVAL;
  // An owner without a description holds no locks on h, so asking on the handle's own fd (which
  // holds no record locks: they all go on owners' descriptions) gives its answer, and a query
  // never costs an fd.
  const fd = h.lockFds?.get(owner) ?? h.fd;
  if (fs.offLoop.wants(h.inode.mntId)) {
    const own = toFlock(l, new Float64Array(4)); // the job writes the answer into it
    const later = lockOnPool(fs, h, MetaOp.GetLk, fd, own, 0);
    if (later) return later.then((r) => (r < 0 ? r : fromFlock(own)));
  }
  toFlock(l, lockBuf);
  const r = fs.offLoop.timed(h.inode.mntId, () => sys.fcntlLock(fd, C.F_OFD_GETLK, lockBuf));
  return r < 0 ? r : fromFlock(lockBuf);
}

/** One non-blocking attempt; a SETLKW caller retries on -EAGAIN (see server/blocking-locks). */
export function setlk(fs: PassthroughFs, fh: number, owner: string, l: FileLock, isFlock: boolean): Later<number> {
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  if (isFlock) {
    if (!fs.config.flock) return -Errno.ENOSYS;
    const op = l.type === C.F_UNLCK ? C.LOCK_UN : (l.type === C.F_RDLCK ? C.LOCK_SH : C.LOCK_EX) | C.LOCK_NB;
    // EWOULDBLOCK is EAGAIN on Linux
    return lockOnPool(fs, h, MetaOp.Flock, h.fd, lockBuf, op) ?? fs.offLoop.timed(h.inode.mntId, () => sys.flock(h.fd, op));
  }
  if (!fs.config.posixLocks) return -Errno.ENOSYS;
  if (l.end < l.start) return -Errno.EINVAL;
  if (l.type !== C.F_RDLCK && l.type !== C.F_WRLCK && l.type !== C.F_UNLCK) return -Errno.EINVAL;
  // Nothing to unlock for an owner that never locked here (the kernel sends F_UNLCK on close).
  if (l.type === C.F_UNLCK && h.lockFds?.get(owner) === undefined && !opening.get(h)?.has(owner)) return 0;
  const fd = ownerFd(fs, fh, h, owner);
  if (fd instanceof Promise) {
    const own = toFlock(l, new Float64Array(4)); // the request's numbers, kept past this call
    return fd.then((d) => (d < 0 ? d : setlkOn(fs, fh, h, d, own)));
  }
  return fd < 0 ? fd : setlkOn(fs, fh, h, fd, toFlock(l, lockBuf));
}

function setlkOn(fs: PassthroughFs, fh: number, h: FileHandle, fd: number, lock: Float64Array): Later<number> {
  // A handle released while its owner's description opened: its fds are closed (and fd with them).
  if (fs.handles.file(fh) !== h) return -Errno.EBADF;
  const later = lockOnPool(fs, h, MetaOp.SetLk, fd, lock, 0);
  if (later) return later;
  return fs.offLoop.timed(h.inode.mntId, () => sys.fcntlLock(fd, C.F_OFD_SETLK, lock));
}
