// The hook through which multidevs (src/policy) decides, for a newly looked-up host object, which
// inode number the client sees, or that it must not see it at all (forbid: -ENODEV).
import type { HostStat } from './host-stat';
import type { Inode } from './inode';
import type { PassthroughFs } from './passthrough-fs';

export interface InodePolicy {
  /** the inode number the client sees (>= 0), or -errno to refuse the object */
  classify(st: HostStat, parent: Inode, fs: PassthroughFs): number;
  /** the d_ino READDIR shows for an entry of `dir` (host inode number `ino`) */
  direntIno(dir: Inode, ino: number, inoHi: number, inoLo: number): number;
}

export const passThroughPolicy: InodePolicy = {
  classify: (st) => st.ino,
  direntIno: (_dir, ino) => ino,
};
