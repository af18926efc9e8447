// The hook through which multidevs decides, for each host object the client looks up, which inode
// number the client sees, or that it must not see it at all (forbid: -ENODEV). The passthrough
// calls it once per new inode and keeps the answer on the inode (so attrs, READDIRPLUS and STATX
// agree), and once per READDIR entry for its d_ino.
import type { HostStat } from './host-stat';
import type { Inode } from './inode';
import type { InoValue } from '../protocol/wire';
import type { DirentInoRule } from './dir-stream';

export interface Placement {
  clientIno: InoValue;
  device: string;
  visibleDevice: string;
}

export interface InodePolicy {
  /** The export root: its own device is what a /dev/fuse client sees everything in. */
  root(st: HostStat, fd: number): Placement;
  /**
   * A new inode `name` found in `parent` (fd: an O_PATH fd of the object; announced: it is
   * announced to the client as a submount). Returns -errno to refuse it.
   */
  classify(st: HostStat, parent: Inode, fd: number, name: Uint8Array | null, announced: boolean): Placement | number;
  /** The d_ino READDIR shows for an entry of `dir` with host inode number `ino`. */
  direntIno(dir: Inode, ino: InoValue): InoValue;
  /** direntIno as one rule for the whole listing of `dir` (native READDIR encoding), or null. */
  direntRule?(dir: Inode): DirentInoRule | null;
}

/** No multidevs handling: every object keeps its host inode number (tests, and as a baseline). */
export const passThroughPolicy: InodePolicy = {
  root: (st) => ({ clientIno: st.ino, device: '', visibleDevice: '' }),
  classify: (st) => ({ clientIno: st.ino, device: '', visibleDevice: '' }),
  direntIno: (_dir, ino) => ino,
  direntRule: () => ({ prefixHi: 0, inoBits: 64 }),
};
