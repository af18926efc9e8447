// Whether closing an fd may wait, and closing a handle's fd accordingly.
//
// Every close() of an fd is a flush of its file (f_op->flush), even of one fd among several:
// NFS writes back the file's dirty pages and waits, CIFS and Ceph do the like, a FUSE source
// gets a FLUSH round trip, overlayfs passes it on to whatever is below. Filesystems without a
// flush method only drop the fd, its dnotify marks and its POSIX locks, which never waits: there
// a close (FLUSH's close(dup), RELEASE's) runs inline, cheaper than the hop to a worker; anywhere
// else it runs on the pool, so one client's close never holds up another's request.
import { sys } from '../native/sys';
import type { Handle } from './handles';

/** statfs f_type of the filesystems without a flush method (f2fs has one: atomic writes). */
const NO_FLUSH_FS = new Set([
  0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */, 0xef53 /* ext2/3/4 */,
  0x58465342 /* xfs */, 0x9123683e /* btrfs */,
]);

/** Whether fd's filesystem (statfs f_type) is one of `types`; false if fstatfs fails. */
export function fsTypeIn(fd: number, types: ReadonlySet<number>): boolean {
  const v = new Float64Array(10);
  return sys.fstatfs(fd, v) === 0 && types.has(v[8]);
}

/** Whether closing a dup of fd can never wait (its filesystem is in NO_FLUSH_FS). */
export function closeNeverWaits(fd: number): boolean {
  return fsTypeIn(fd, NO_FLUSH_FS);
}

/** Whether a close of this file handle's fds (FLUSH's dup, RELEASE's) may run inline: asked
 *  once per handle (a handle never changes filesystem), never on a mount seen slow. */
export function closeInline(h: Handle, slowMount: boolean): boolean {
  if (h.kind === 'dir') return !slowMount;
  h.flushInline ??= closeNeverWaits(h.fd);
  return h.flushInline && !slowMount;
}

/** The engine is done with a handle's fd (RELEASE, RELEASEDIR, DESTROY): closed once no pooled
 *  job uses it any more (native/fd_leases.h), on a worker where the close may wait. */
export function closeHandleFd(h: Handle, slowMount: boolean): number {
  return sys.closeFile(h.fd, !closeInline(h, slowMount));
}
