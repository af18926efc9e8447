// The close that frees an unlinked file. A file unlinked while we hold an fd on it keeps its
// blocks until our last fd goes; that close then evicts the inode and frees them in the closing
// thread: 360 ms for a 2 GiB file written on ext4 here (3 ms fallocated), and tmpfs gives its
// pages back the same way. On the JS thread every other request would wait for it — one guest's
// `rm` of a large file freezing every other client of the share. So a close that may be that one
// runs on a worker. "May be": the fd's own statx says the file has no name left and holds
// FREES_MUCH or more; anything smaller frees in microseconds and closes inline, as before.
import { sys } from '../native/sys';
import { unlinkedBytesOfFd } from './host-stat';

/** Blocks an unlinked file must hold for its last close to go to a worker (~0.2 ms on ext4). */
export const FREES_MUCH = 1 << 20;

/**
 * Whether closing fd (of a regular file) may free FREES_MUCH or more: its file is unlinked.
 * The attributes asked are the kernel's cached ones, never a round trip. Where the answer
 * matters (a local filesystem frees in the closing thread) those are always exact; NFS or a FUSE
 * source would otherwise ask their server, here, on the JS thread (a held or slow one would hold
 * everything up), and their last close frees nothing in our thread anyway.
 */
export function mayFreeMuch(fd: number): boolean {
  return unlinkedBytesOfFd(fd) >= FREES_MUCH;
}

/** Closes an inode's own fd (FORGET, the session ending, the fd budget taking it back): on a
 *  worker when it may free much (native closeFile: a pooled job never holds an inode fd, it
 *  works on a dup). `regular` false (a known directory, symlink...): no statx, inline. */
export function closeInodeFd(fd: number, regular: boolean): void {
  if (regular && mayFreeMuch(fd)) sys.closeFile(fd, true);
  else sys.close(fd);
}
