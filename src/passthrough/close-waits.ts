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
import { mayFreeMuch } from './last-close';

/** statfs f_type of the filesystems without a flush method (f2fs has one: atomic writes). */
const NO_FLUSH_FS = new Set([
  0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */, 0xef53 /* ext2/3/4 */,
  0x58465342 /* xfs */, 0x9123683e /* btrfs */,
]);

const statfsOut = new Float64Array(10);

/** Where a filesystem's f_type is kept once known: an Inode (its place's, inode-columns Places). */
export interface FsTypeSlot {
  fsType: number;
}

/** statfs f_type of the filesystem inode is on, fd being one of its fds; asked of the kernel
 *  once per place (inode-columns Places), -1 if fstatfs fails (asked again next time). */
export function fsTypeOf(inode: FsTypeSlot, fd: number): number {
  if (inode.fsType >= 0) return inode.fsType;
  if (sys.fstatfs(fd, statfsOut) !== 0) return -1;
  inode.fsType = statfsOut[8];
  return statfsOut[8];
}

/** Whether the filesystem of inode (fd one of its fds) is one of `types`; false if unknown. */
export function fsTypeIn(inode: FsTypeSlot, fd: number, types: ReadonlySet<number>): boolean {
  return types.has(fsTypeOf(inode, fd));
}

/** Whether closing a dup of fd (an fd of inode) can never wait (its filesystem is in NO_FLUSH_FS). */
export function closeNeverWaits(inode: FsTypeSlot, fd: number): boolean {
  return fsTypeIn(inode, fd, NO_FLUSH_FS);
}

/** Whether a close of this file handle's fds (FLUSH's dup, RELEASE's) may run inline: by its
 *  filesystem's type (kept per place, see fsTypeOf), never on a mount seen slow. */
export function closeInline(h: Handle, slowMount: boolean): boolean {
  if (h.kind === 'dir') return !slowMount;
  return !slowMount && closeNeverWaits(h.inode, h.fd);
}

/** Whether RELEASE's close of a file handle's fd may be the one that frees an unlinked file
 *  (last-close.ts): only when its inode holds no fd of its own (a file handle, or an fd the
 *  budget took back), which would otherwise outlive it. */
function mayBeLastClose(h: Handle): boolean {
  return h.kind === 'file' && h.inode.fd < 0 && mayFreeMuch(h.fd);
}

/** The engine is done with a handle's fd (RELEASE, RELEASEDIR, DESTROY): closed once no pooled
 *  job uses it any more (native/fd_leases.h), on a worker where the close may wait. */
export function closeHandleFd(h: Handle, slowMount: boolean): number {
  return sys.closeFile(h.fd, !closeInline(h, slowMount) || mayBeLastClose(h));
}
