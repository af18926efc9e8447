// GETLK, SETLK, SETLKW: POSIX record locks and flock. POSIX locks belong to a lock owner (a process
// on the client side), not to an open file, so each (handle, owner) gets its own open file
// description and the host's OFD locks on it: two owners sharing one handle conflict as they would
// natively, and closing the owner's description releases exactly its locks. flock locks belong to
// the open file, so they go on the handle's own fd.
import { C, sys } from '../native/sys';
import { Errno } from '../protocol/errno';
import type { PassthroughFs } from './passthrough-fs';
import type { FileHandle } from './handles';
import { addLockFd, lockFdsFull } from './lock-fds';

import type { FileLock } from '../server/file-system';
export type { FileLock };

const OFFSET_MAX = 2 ** 63 - 1;
const lockBuf = new Float64Array(4);

/** The owner's lock description on h, opened for its first lock (-ENOLCK past the cap). */
function ownerFd(fs: PassthroughFs, h: FileHandle, owner: string): number {
  const known = h.lockFds?.get(owner);
  if (known !== undefined) return known;
  if (lockFdsFull()) return -Errno.ENOLCK;
  const fd = sys.openat(fs.procSelfFd, fs.procName(h.fd), (h.flags & C.O_ACCMODE) | C.O_CLOEXEC, 0);
  if (fd >= 0) addLockFd(h, owner, fd);
  return fd;
}

function toFlock(l: FileLock): void {
  lockBuf[0] = l.type;
  lockBuf[1] = l.start;
  lockBuf[2] = l.end >= OFFSET_MAX ? 0 : l.end - l.start + 1;
  lockBuf[3] = 0;
}

export function getlk(fs: PassthroughFs, fh: number, owner: string, l: FileLock): FileLock | number {
  if (!fs.config.posixLocks) return -Errno.ENOSYS;
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  if (l.end < l.start) return -Errno.EINVAL;
  // An owner without a description holds no locks on h, so asking on the handle's own fd (which
  // holds no record locks: they all go on owners' descriptions) gives its answer, and a query
  // never costs an fd.
  const fd = h.lockFds?.get(owner) ?? h.fd;
  toFlock(l);
  const r = sys.fcntlLock(fd, C.F_OFD_GETLK, lockBuf);
  if (r < 0) return r;
  const len = lockBuf[2];
  return { type: lockBuf[0], start: lockBuf[1], end: len === 0 ? OFFSET_MAX : lockBuf[1] + len - 1, pid: lockBuf[3] > 0 ? lockBuf[3] : 0 };
}

/** One non-blocking attempt; a SETLKW caller retries on -EAGAIN (see server/blocking-locks). */
export function setlk(fs: PassthroughFs, fh: number, owner: string, l: FileLock, isFlock: boolean): number {
  const h = fs.handles.file(fh);
  if (!h) return -Errno.EBADF;
  if (isFlock) {
    if (!fs.config.flock) return -Errno.ENOSYS;
    const op = l.type === C.F_UNLCK ? C.LOCK_UN : (l.type === C.F_RDLCK ? C.LOCK_SH : C.LOCK_EX) | C.LOCK_NB;
    return sys.flock(h.fd, op); // EWOULDBLOCK is EAGAIN on Linux
  }
  if (!fs.config.posixLocks) return -Errno.ENOSYS;
  if (l.end < l.start) return -Errno.EINVAL;
  if (l.type !== C.F_RDLCK && l.type !== C.F_WRLCK && l.type !== C.F_UNLCK) return -Errno.EINVAL;
  // Nothing to unlock for an owner that never locked here (the kernel sends F_UNLCK on close).
  if (l.type === C.F_UNLCK && h.lockFds?.get(owner) === undefined) return 0;
  const fd = ownerFd(fs, h, owner);
  if (fd < 0) return fd;
  toFlock(l);
  return sys.fcntlLock(fd, C.F_OFD_SETLK, lockBuf);
}
