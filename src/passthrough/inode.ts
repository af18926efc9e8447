// One host object the client holds a reference to. Its identity is (mount id, st_dev, st_ino):
// the mount id keeps two bind mounts of one filesystem apart (the same dev+ino seen through two
// mounts are different places in the tree, with different submounts below them), st_dev+st_ino
// tell objects apart within a mount. The O_PATH fd (or, with file handles, the handle) pins the
// object, so the key cannot be reused by the host while we hold it.
import type { HostStat } from './host-stat';
import type { InoValue } from '../protocol/wire';

export interface InodeKeyParts {
  mntId: number;
  devMajor: number;
  devMinor: number;
  inoHi: number;
  inoLo: number;
}

export const inodeKey = (s: InodeKeyParts) => `${s.mntId}:${s.devMajor}:${s.devMinor}:${s.inoHi}:${s.inoLo}`;

export class Inode {
  /** lookups the client holds; FORGET subtracts, saturating at 0 */
  nlookup = 0;

  constructor(
    readonly nodeid: number,
    readonly key: string,
    /** O_PATH fd, or -1 when the inode is kept as a file handle only */
    public fd: number,
    /** struct file_handle bytes (as a latin1 string: a Buffer costs ~100 bytes of heap more per
     *  inode, and a million inodes is the point of file handles) or null */
    readonly handle: string | null,
    readonly mode: number,
    readonly mntId: number,
    readonly devMajor: number,
    readonly devMinor: number,
    /** the inode number the client sees: the host's, or remapped (multidevs) */
    readonly clientIno: InoValue,
    /** stable id of the host device the object is on (policy/device-id) */
    readonly device: string,
    /** the device of the filesystem the client sees it in: the export root's or the nearest
     *  announced submount's */
    readonly visibleDevice: string,
  ) {}

  static keyOf(s: HostStat): string {
    return inodeKey(s);
  }
}
