// The open file descriptions that hold a lock owner's POSIX locks (see lock-ops.ts), per handle,
// and closing them: one owner's on FLUSH, all of a handle's on RELEASE. Apart from the lock
// operations so that the handles' owners (passthrough-fs, file-ops) close them without importing
// lock-ops, which imports PassthroughFs.
import { sys } from '../native/sys';
import type { FileHandle } from './handles';
import { InodeMap } from './inode';
import { closeNeverWaits } from './close-waits';

/** Per inode, the handles that hold lock descriptions (see releaseOwnerLocks); an entry goes
 *  with its last handle. */
const lockingHandles = new InodeMap<Set<FileHandle>>();

/**
 * Lock descriptions held at most, all handles together. Each is an fd, and the lock owner is a
 * number the client puts in the request: a hostile guest can name a new one in every SETLK, and
 * would otherwise take every fd the process may open (then lookups and opens fail EMFILE for
 * everyone). Past the cap a new owner's lock is refused ENOLCK, POSIX's "too many locks", as the
 * SETLKW waiters are (server/blocking-locks.ts). A tenth of the open-file limit here (20000).
 */
export const MAX_LOCK_FDS = 2048;
let lockFdCount = 0;
/** New owners' descriptions being opened on the pool (lock-ops.ts openOnPool): counted against
 *  the cap from the post, or a guest could have a ring's worth of opens in flight past it. */
let lockFdsOpening = 0;

/** Whether a new lock owner's description would pass MAX_LOCK_FDS. */
export const lockFdsFull = (): boolean => lockFdCount + lockFdsOpening >= MAX_LOCK_FDS;

/** A new owner's description starts (+1) or ends (-1: recorded by addLockFd, or failed) its
 *  open on the pool. */
export function lockFdOpening(delta: 1 | -1): void {
  lockFdsOpening += delta;
}

/** Records fd as owner's lock description on h (lock-ops opened it). */
export function addLockFd(h: FileHandle, owner: string, fd: number): void {
  lockFdCount++;
  if (!h.lockFds) h.lockFds = new Map();
  h.lockFds.set(owner, fd);
  let set = lockingHandles.get(h.inode);
  if (!set) lockingHandles.set(h.inode, set = new Set());
  set.add(h);
}

/** Closes the lock descriptions of one owner (FLUSH) or of all (RELEASE, owner null). */
export function releaseLockFds(h: FileHandle, owner: string | null): void {
  if (!h.lockFds) return;
  for (const [o, fd] of h.lockFds) {
    if (owner === null || o === owner) {
      // closeFile: a pooled lock call may lease fd (lock-ops.ts); the close is then its, and on a
      // filesystem whose close may wait (close-waits.ts) it runs on a worker.
      sys.closeFile(fd, !closeNeverWaits(h.inode, h.fd));
      h.lockFds.delete(o);
      lockFdCount--;
    }
  }
  if (h.lockFds.size === 0) {
    const set = lockingHandles.get(h.inode);
    if (set && set.delete(h) && set.size === 0) lockingHandles.delete(h.inode);
  }
}

/**
 * FLUSH (the client closed one fd): POSIX says closing ANY fd of a file drops all the process's
 * record locks on that file, also those taken through another open of it. So the owner's lock
 * descriptions go on every handle of the inode, not only on the one being flushed.
 */
export function releaseOwnerLocks(h: FileHandle, owner: string): void {
  const set = lockingHandles.get(h.inode);
  if (!set) return;
  for (const other of [...set]) releaseLockFds(other, owner);
}
