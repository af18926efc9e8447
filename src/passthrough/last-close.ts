// The close that frees an unlinked file. A file unlinked while we hold an fd on it keeps its
// blocks until our last fd goes; that close then evicts the inode and frees them in the closing
// thread: 360 ms for a 2 GiB file written on ext4 here (3 ms fallocated), and tmpfs gives its
// pages back the same way. On the JS thread every other request would wait for it — one guest's
// `rm` of a large file freezing every other client of the share. So a close that may be that one
// runs on a worker. "May be": the fd's own statx says the file has no name left and holds
// FREES_MUCH or more; anything smaller frees in microseconds and closes inline, as before.
import { sys } from '../native/sys';
import { statFd } from './host-stat';

/** Blocks an unlinked file must hold for its last close to go to a worker (~0.2 ms on ext4). */
export const FREES_MUCH = 1 << 20;

/** Whether closing fd (of a regular file) may free FREES_MUCH or more: its file is unlinked. */
export function mayFreeMuch(fd: number): boolean {
  const st = statFd(fd);
  return typeof st !== 'number' && st.nlink === 0 && st.blocks * 512 >= FREES_MUCH;
}

/** Closes an inode's own fd (FORGET, the session ending): on a worker when it may free much
 *  (native closeFile: a pooled job never holds an inode fd, it works on a dup). */
export function closeInodeFd(fd: number, regular: boolean): void {
  if (regular && mayFreeMuch(fd)) sys.closeFile(fd, true);
  else sys.close(fd);
}
